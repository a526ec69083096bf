"""`typiclust`: TypiClust (Hacohen, Dekel & Weinshall, ICML 2022, "Active Learning on a Budget").

The whole pool's embeddings are clustered into |L| + k clusters by k-means (scikit-learn KMeans up to
MINIBATCH_ABOVE clusters, MiniBatchKMeans beyond, as the paper's code does), seeded from the run's generator, with
today's scikit-learn defaults: one start each (the authors' pinned scikit-learn 1.0.2 made 10 and 3), and no
cap of 500 clusters, no dropping of clusters of 5 points or fewer (steps of the authors' code, not of the paper).
Each pick goes to the cluster holding the fewest labelled or already picked points, the largest first (lowest
cluster id among ties): the largest clusters with no labelled point come first. In it the most typical point not
yet labelled is taken, typicality(x) = 1 / mean_{z ∈ kNN(x)} ‖x − z‖ over the K_NN = 20 nearest other members of
its cluster (all of them when fewer), found by blocks of Gram-matrix distances inside one cluster at a time. Memory
is that of k-means and of one such block: no n×n matrix."""
import warnings
from contextlib import contextmanager
from functools import cache

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import ThreadpoolController

from .minibatch_kmeans import minibatch_kmeans_labels
from .selection import check_budget, picks, power_of_two_scale, seed_from
from .strategy import Strategy

K_NN = 20
MINIBATCH_ABOVE = 50  # clusters
GRAM_ENTRIES = 2**21  # squared distances per block of rows in the neighbour search (16 MB)


@cache
def thread_pools():
    """The OpenMP and BLAS thread pools loaded so far (scikit-learn's among them), found once: finding them takes
    0.15 s, and limiting them through this controller then takes under 1 ms instead of 70 ms at each call."""
    return ThreadpoolController()


@contextmanager
def one_thread_kmeans():
    """scikit-learn's KMeans on one OpenMP/BLAS thread, without its ConvergenceWarning: fewer distinct points than
    clusters (duplicates) leaves clusters empty, which the callers allow."""
    with thread_pools().limit(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def kmeans_labels(x, n_clusters, seed):
    """Cluster label of every row of x (numpy), by KMeans (MiniBatchKMeans past MINIBATCH_ABOVE clusters: its labels
    through minibatch_kmeans_labels, compiled where the kernel builds), on one OpenMP/BLAS thread: its many short
    parallel sections lose more to waking threads than they gain (3× slower on a busy 2-core machine), and one thread
    makes the centres' float sums deterministic. The clustering is of x·power_of_two_scale(x), an exact rescaling
    that leaves the labels as they are, so that the compiled step's float32 products cannot overflow (entries of
    about 10¹⁸ and above gave a segmentation fault)."""
    x = x * power_of_two_scale(x)
    with one_thread_kmeans():
        if n_clusters <= MINIBATCH_ABOVE:
            return KMeans(n_clusters=n_clusters, random_state=seed).fit_predict(x)
        return minibatch_kmeans_labels(x, n_clusters, seed)


def nearest_distances(x, k):
    """The distances from each row of x to its k nearest other rows, in increasing order: the k smallest (the
    diagonal left out) of d²_ij = (‖x_i‖² + ‖x_j‖²) − 2x_i·x_j by a partial sort of blocks of rows holding at most
    GRAM_ENTRIES of them (one block: the symmetric product x·xᵀ, half the work). A d² within its rounding error,
    4(d + 2)·ε·‖x_i‖², counts as 0 (duplicates are at 0 exactly); d²_ij = d²_ji, and each row's distances are
    summed in one order, so points placed alike tie exactly."""
    sq = np.einsum("ij,ij->i", x, x)
    out = np.empty((len(x), k))
    step = max(1, GRAM_ENTRIES // len(x))
    for a in range(0, len(x), step):
        rows = np.arange(a, min(a + step, len(x)))
        d2 = x @ x.T if len(rows) == len(x) else x[rows] @ x.T
        d2 *= -2
        d2 += sq[rows, None] + sq
        d2[np.arange(len(rows)), rows] = np.inf
        near = np.partition(d2, k - 1, axis=1)[:, :k]
        near[near <= 4 * (x.shape[1] + 2) * np.finfo(float).eps * sq[rows, None]] = 0
        out[rows] = np.sort(np.sqrt(near), axis=1)
    return out


def typicality(x):
    """1 / (mean distance to the k = min(K_NN, s − 1) nearest other rows) for each of the s rows of x; 1 when
    s = 1; +∞ for a row with k exact duplicates."""
    if len(x) == 1:
        return np.ones(1)
    k = min(K_NN, len(x) - 1)
    with np.errstate(divide="ignore"):
        return k / nearest_distances(x, k).sum(1)


def typical_picks(x, labels, labeled, k):
    """k unlabelled rows of x given cluster `labels` and the `labeled` mask: each time, in the cluster with the
    fewest labelled-or-picked points (then the largest, then the lowest id) that still has an unlabelled row, its
    most typical unlabelled row (lowest index among ties), scored by its typicality; 1 ≤ k ≤ the unlabelled rows
    (typiclust_select checks it)."""
    n_clusters = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=n_clusters)
    taken = np.array(labeled, dtype=bool)
    held = np.bincount(labels[taken], minlength=n_clusters)
    members = np.split(np.argsort(labels, kind="stable"), np.cumsum(sizes)[:-1])  # ascending within each cluster
    typical = {}  # cluster -> typicality of its members, computed at the cluster's first visit
    chosen, scores = [], []
    with thread_pools().limit(limits=1):  # small clusters: threads cost more than they save
        for _ in range(k):
            order = np.lexsort((-sizes, held))
            j = order[(held < sizes)[order]][0]  # held = labelled or picked members: held < size means one is free
            if j not in typical:
                typical[j] = typicality(x[members[j]])
            best = int(np.argmax(np.where(taken[members[j]], -np.inf, typical[j])))
            i = int(members[j][best])
            chosen.append(i)
            scores.append(typical[j][best])
            taken[i] = True
            held[j] += 1
    return picks(chosen, scores)


def typiclust_select(emb, labeled, k, generator):
    """k unlabelled pool rows by TypiClust: `emb` (all pool rows) in |L| + k k-means clusters (seeded by
    seed_from(generator)); each pick the most typical free point, 1 / mean_{z ∈ kNN(x)} ‖x − z‖, of the largest
    cluster with the fewest labelled or picked points. It runs on x·power_of_two_scale(x), an exact rescaling that
    changes no pick, with the scores scaled back: float64 embeddings of about 10¹⁵⁴ and above overflowed the squared
    distances (every typicality NaN), and of 10⁻¹⁵⁴ and below underflowed them."""
    x = emb.detach().cpu().double().numpy() if torch.is_tensor(emb) else np.asarray(emb, dtype=float)
    scale = power_of_two_scale(x)
    x = x * scale
    labeled = np.asarray(labeled, dtype=bool)
    check_budget(k, int((~labeled).sum()))  # before the clustering, whose own error would name its clusters
    chosen = typical_picks(x, kmeans_labels(x, int(labeled.sum()) + k, seed_from(generator)), labeled, k)
    return chosen._replace(score=chosen.score * scale)


class TypiClust(Strategy):
    """`typiclust`: the most typical point of each of the largest k-means clusters holding no labelled point."""

    on_embedding = label_free = True
    name = "typiclust"

    def select(self, n):
        emb = self.learner.embeddings(np.arange(self.n_pool))
        return typiclust_select(emb, self.labeled, n, self.gen)
