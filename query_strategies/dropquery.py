"""`dropquery`: DropQuery (Gupte, Aklilu, Nirschl & Yeung-Levy, TMLR 2024, "Revisiting Active Learning in the
Era of Vision Foundation Models").

Dropout (rate `--dropRate`, 0.75, inverted: kept units scaled by 1/(1 − rate)) is applied to the embedding, the
input of the last linear layer, `--dropPasses` (3) times, each pass and point with its own mask (the passes are
Predictor.head_dropout's, the masks drawn from the strategy's generator); a point is a candidate when more than
half of the passes predict another class than the network without dropout (when fewer than k points are, the k
with the most such passes, lowest index among ties). The candidates' embeddings are clustered by scikit-learn
KMeans into k clusters (one k-means++ start, seeded from the run's generator), and each centre in turn takes the
candidate nearest it that no earlier centre took (float64 distances, lowest index among ties)."""
import numpy as np
import torch
from sklearn.cluster import KMeans

from .selection import check_budget, picks, power_of_two_scale, seed_from
from .strategy import Strategy
from .typiclust import one_thread_kmeans


def disagreements(logits, dropout_logits):
    """For each row, how many passes t have argmax dropout_logits[t] ≠ argmax logits: logits (n, C) without dropout,
    dropout_logits (passes, n, C)."""
    plain = torch.as_tensor(logits).argmax(1)
    return (torch.as_tensor(dropout_logits).argmax(2) != plain).sum(0).cpu().numpy()


def candidates(count, passes, k):
    """Rows whose count exceeds passes / 2, ascending; when fewer than k, the k of highest count (lowest row among
    ties), ascending."""
    above = np.flatnonzero(2 * np.asarray(count) > passes)
    if len(above) >= k:
        return above
    return np.sort(np.argsort(-np.asarray(count), kind="stable")[:k])


def nearest_free(x, centres, block=256):
    """For each centre in order, the row of x nearest it (float64 Euclidean) not taken by an earlier centre, lowest
    row among ties; returns (rows, their distances). Distances are computed for `block` centres at a time."""
    x, centres = np.asarray(x, dtype=np.float64), np.asarray(centres, dtype=np.float64)
    sq = (x * x).sum(1)
    taken = np.zeros(len(x), dtype=bool)
    rows, dist = [], []
    for a in range(0, len(centres), block):
        c = centres[a:a + block]
        for row in sq[None, :] - 2 * c @ x.T + (c * c).sum(1)[:, None]:
            i = int(np.argmin(np.where(taken, np.inf, row)))
            taken[i] = True
            rows.append(i)
            dist.append(np.sqrt(max(row[i], 0.0)))
    return np.array(rows, dtype=np.int64), np.array(dist)


def kmeans_centres(x, k, seed, weights=None, n_init=1):
    """Centres of scikit-learn KMeans(n_clusters=k, n_init, random_state=seed) on the rows of x (optionally
    weighted), on one OpenMP/BLAS thread (deterministic sums, no thread wake-ups); duplicates may leave fewer
    distinct centres than k (nearest_free still gives k rows)."""
    with one_thread_kmeans():
        return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x, sample_weight=weights).cluster_centers_


def nearest_to_kmeans_centres(x, k, seed, weights=None, n_init=1):
    """(rows, distances): nearest_free of kmeans_centres, both on x·power_of_two_scale(x), an exact rescaling that
    changes neither the clusters nor the rows, with the distances scaled back: float64 rows of about 10¹⁵⁴ and above
    overflowed the squared distances, and of 10⁻¹⁵⁴ and below underflowed them (other picks)."""
    scale = power_of_two_scale(x)
    x = x * scale
    rows, dist = nearest_free(x, kmeans_centres(x, k, seed, weights, n_init))
    with np.errstate(over="ignore"):
        return rows, dist / scale


def dropquery_pick(emb, count, passes, k, seed):
    """k rows of emb from the disagreement counts: the candidates' KMeans centres, each taking its nearest free
    candidate; each pick scored by its distance to its centre."""
    check_budget(k, len(emb))
    pool = candidates(count, passes, k)
    x = np.asarray(emb[pool].detach().cpu().double() if torch.is_tensor(emb) else emb[pool], dtype=np.float64)
    rows, dist = nearest_to_kmeans_centres(x, k, seed)
    return picks(pool[rows], dist)


def dropquery_select(emb, logits, dropout_logits, k, generator):
    """DropQuery's k rows of emb (see the module docstring) from the last layer's logits (n, C) on emb without
    dropout and with it, one pass each (passes, n, C) (Predictor.head_dropout)."""
    count = disagreements(logits, dropout_logits)
    return dropquery_pick(emb, count, len(dropout_logits), k, seed_from(generator))


class DropQuery(Strategy):
    """`dropquery`: k-means centres of the points whose prediction most dropout passes on the embedding change,
    the candidate nearest each."""

    name = "dropquery"

    def select(self, n):
        """The masks come from the strategy's generator, before its k-means seed."""
        idx = self.unlabeled()
        emb, logits, dropout_logits = self.learner.head_dropout(idx, self.drop_rate, self.drop_passes, self.gen)
        return dropquery_select(emb, logits, dropout_logits, n, self.gen).among(idx)
