"""`clue`: CLUE, clustering uncertainty-weighted embeddings (Prabhu, Chandrasekaran, Saenko & Hoffman, ICCV 2021,
"Active Domain Adaptation via Clustering Uncertainty-weighted Embeddings").

Each unlabelled point weighs its entropy H(softmax(z / T)) of the logits z at temperature T (`--temperature`, 1),
i.e. of p^(1/T) renormalised; scikit-learn KMeans clusters the embeddings into k clusters with these sample
weights (10 k-means++ starts, the authors' scikit-learn default, seeded from the run's generator; every weight 0,
i.e. every prediction certain: equal weights), and each centre in turn takes the point nearest it that no earlier
centre took."""

from strategy_params import TEMPERATURE

from .dropquery import nearest_to_kmeans_centres
from .entropy_sampling import entropy
from .kmeans_sampling import N_INIT
from .selection import check_budget, picks, seed_from, tempered_softmax
from .strategy import Strategy

DEFAULT_TEMPERATURE = TEMPERATURE.default


def tempered_entropy(probs, temperature):
    """H(softmax(z / T)) from p = softmax(z): softmax(z / T) = softmax(log p / T), by tempered_softmax in float64
    (p^(1/T) / Σ_c p_c^(1/T) would underflow to 0 / 0 for a small T)."""
    p = probs.detach().cpu().double()
    if temperature != 1:
        p = tempered_softmax(p.log(), temperature)
    return entropy(p)


def clue_select(probs, emb, k, generator, temperature=DEFAULT_TEMPERATURE):
    """k rows: the centres of entropy-weighted KMeans on emb, each taking its nearest free row; each pick scored
    by its distance to its centre."""
    check_budget(k, len(emb))
    weights = tempered_entropy(probs, temperature).numpy()
    if not weights.any():
        weights[:] = 1
    x = emb.detach().cpu().double().numpy()
    rows, dist = nearest_to_kmeans_centres(x, k, seed_from(generator), weights, N_INIT)
    return picks(rows, dist)


class CLUE(Strategy):
    """`clue`: the point nearest each centre of k-means on the embeddings weighted by predictive entropy."""

    name = "clue"

    def select(self, n):
        idx = self.unlabeled()
        probs, emb = self.learner.probs_embeddings(idx)
        return clue_select(probs, emb, n, self.gen, temperature=self.temperature).among(idx)
