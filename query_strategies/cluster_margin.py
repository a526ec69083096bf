"""`cluster_margin`: Cluster-Margin (Citovsky et al., NeurIPS 2021, "Batch Active Learning at Scale").

At the first query the pool's embeddings are clustered once by hierarchical agglomerative clustering with average
linkage (scikit-learn), cut into as many clusters as points per query. Each round: the k_m = ⌈kmFactor · k⌉
unlabelled points of smallest margin p₍₁₎ − p₍₂₎; their clusters, restricted to them, sorted from smallest to
largest (lowest id among ties); then round-robin: one point from each cluster in that order, again and again,
until k are taken, the point taken from a cluster each time drawn uniformly among those it has left.

Average linkage needs the n(n−1)/2 pairwise distances (float64), so past HAC_LIMIT pool points only a seeded
uniform sample of HAC_LIMIT points is clustered (400 MB of distances) and every other point joins the cluster of
its nearest sampled point; a warning says so. The cluster of every pool point is part of the strategy's state, so
--resume continues with the same clustering."""
import math
import warnings

import numpy as np
import torch
from sklearn.cluster import AgglomerativeClustering

from .selection import TILE, check_budget, picks, power_of_two_scale, progress, top_k
from .margin_sampling import smallest_margin
from .strategy import Strategy

HAC_LIMIT = 10000


def nearest_rows(x, ref):
    """For each row of x, the index of its nearest row of ref (squared Euclidean, lowest index among ties)."""
    ref_sq = ref.square().sum(1)
    return torch.cat([torch.addmm(ref_sq, block, ref.T, alpha=-2).argmin(1) for block in x.split(TILE)])


def hac_clusters(emb, n_clusters, generator):
    """Cluster id of every row of emb: average-linkage HAC into n_clusters clusters, on a seeded sample of
    HAC_LIMIT rows when there are more (the others take the cluster of their nearest sampled row). It clusters
    emb·power_of_two_scale(emb), an exact rescaling that leaves the clusters as they are: float64 rows of about
    10¹⁵⁴ and above gave infinite distances (scikit-learn's ValueError), and of 10⁻¹⁵⁴ and below other clusters."""
    x = emb.detach().cpu().double()
    x = x * power_of_two_scale(x)
    n_clusters = min(n_clusters, len(x))
    progress(f"cluster_margin: clustering {min(len(x), HAC_LIMIT)} points (once)", 0, 1)
    if len(x) <= HAC_LIMIT:
        return AgglomerativeClustering(n_clusters=n_clusters, linkage="average").fit_predict(x.numpy())
    warnings.warn(f"cluster_margin: {len(x)} pool points exceed the {HAC_LIMIT} that average-linkage clustering "
                  f"holds in memory; clustering a random sample of {HAC_LIMIT}, the rest join their nearest "
                  "sampled point's cluster")
    sample = torch.randperm(len(x), generator=generator)[:HAC_LIMIT]
    labels = AgglomerativeClustering(n_clusters=n_clusters, linkage="average").fit_predict(x[sample].numpy())
    return labels[nearest_rows(x, x[sample]).numpy()]


def round_robin(clusters, k, generator):
    """k positions of `clusters` (cluster id per candidate): clusters from smallest to largest (lowest id among
    ties), one position from each per turn, each cluster's positions in a uniformly random order."""
    check_budget(k, len(clusters))
    shuffle = torch.randperm(len(clusters), generator=generator).numpy()
    ids, inverse, sizes = np.unique(np.asarray(clusters)[shuffle], return_inverse=True, return_counts=True)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.lexsort((ids, sizes))] = np.arange(len(ids))
    cl = rank[inverse]  # the size rank of each shuffled candidate's cluster
    by_cluster = np.argsort(cl, kind="stable")
    turn = np.empty(len(cl), dtype=np.int64)  # how many of its cluster come before it in the shuffled order
    turn[by_cluster] = np.arange(len(cl)) - np.searchsorted(cl[by_cluster], cl[by_cluster])
    return shuffle[np.lexsort((cl, turn))[:k]]


def cluster_margin_select(probs, clusters, k, generator, k_m):
    """k rows: the k_m smallest-margin rows of probs, spread by round_robin over their `clusters` ids; each scored
    by its margin score −(p₍₁₎ − p₍₂₎)."""
    candidates = top_k(smallest_margin(probs), min(k_m, len(probs)))
    spread = round_robin(np.asarray(clusters)[candidates.index], k, generator)
    return picks(candidates.index[spread], candidates.score[spread])


class ClusterMargin(Strategy):
    """`cluster_margin`: the kmFactor·nQuery smallest-margin points, round-robin over HAC clusters fixed at the
    first query."""

    on_embedding = True
    name = "cluster_margin"

    def __init__(self, learner, labeled, generator, **params):
        super().__init__(learner, labeled, generator, **params)
        self.clusters = None

    def select(self, n):
        if self.clusters is None:
            self.clusters = hac_clusters(self.learner.embeddings(np.arange(self.n_pool)), n, self.gen)
        idx = self.unlabeled()
        k_m = max(n, math.ceil(min(self.km_factor * n, len(idx))))  # kmFactor·n beyond the pool: every point
        return cluster_margin_select(self.learner.probs(idx), self.clusters[idx], n, self.gen, k_m=k_m).among(idx)

    def state_dict(self):
        state = super().state_dict()
        if self.clusters is not None:
            state["clusters"] = np.asarray(self.clusters, dtype=np.int64)
        return state

    def load_state_dict(self, state):
        super().load_state_dict(state)
        if "clusters" in state:
            self.clusters = np.asarray(state["clusters"], dtype=np.int64)
