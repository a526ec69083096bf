"""`kmeans`: as the original, scikit-learn's `KMeans(n_clusters=k)` on the unlabelled embeddings, then in each
cluster the member nearest its centre (PROTOCOL §5).

The original relied on the scikit-learn of its day, whose default was 10 k-means++ starts (`n_init=10`; the default
became one start in scikit-learn 1.4): N_INIT states that number, and `random_state` is drawn from the run's generator
(`seed_from`). Distances to the centres are evaluated in float64; ties go to the lowest index. A cluster left empty
(fewer distinct points than k: the original then fails on the argmin of an empty array) takes the point nearest its
centre that no other cluster took, so k distinct points always come back."""
import warnings

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from .selection import (ROW_TILE, check_budget, picks, power_of_two_scale, progress, seed_from,
                        unscaled_d2)
from .strategy import Strategy

N_INIT = 10  # k-means++ starts: scikit-learn's default before 1.4, which the original and CLUE's authors ran


def sq_dists_to(x, centres):
    """‖x_i − centres_i‖² of every row i (centres given per row), in float64, ROW_TILE rows at a time."""
    return np.concatenate([np.square(x[a:a + ROW_TILE].astype(np.float64) - centres[a:a + ROW_TILE]).sum(1)
                           for a in range(0, len(x), ROW_TILE)])


def nearest_to_centres(x, centres, labels):
    """For each centre j: argmin over the members i of cluster j of ‖x_i − c_j‖² (lowest index among ties); an
    empty cluster takes argmin over the rows not yet taken of ‖x_i − c_j‖². Returns Picks of k distinct rows, each
    scored by its ‖x_i − c_j‖²."""
    centres = np.asarray(centres, dtype=np.float64)
    d2 = sq_dists_to(x, centres[labels])
    order = np.lexsort((np.arange(len(x)), d2, labels))  # by cluster, then distance, then index
    heads = np.ones(len(order), dtype=bool)
    heads[1:] = labels[order[1:]] != labels[order[:-1]]
    chosen, scores = np.full(len(centres), -1, dtype=np.int64), np.empty(len(centres))
    chosen[labels[order[heads]]], scores[labels[order[heads]]] = order[heads], d2[order[heads]]
    taken = np.zeros(len(x), dtype=bool)
    taken[chosen[chosen >= 0]] = True
    for j in np.flatnonzero(chosen < 0):
        dist = sq_dists_to(x, np.broadcast_to(centres[j], (len(x), centres.shape[1])))
        chosen[j] = np.argmin(np.where(taken, np.inf, dist))
        scores[j] = dist[chosen[j]]
        taken[chosen[j]] = True
    return picks(chosen, scores)


def kmeans_select(emb, k, generator):
    """k rows of `emb` (n×d): scikit-learn KMeans(n_clusters=k, n_init=N_INIT, random_state=seed_from(generator)),
    then nearest_to_centres of its centres and its predicted clusters. All of it runs on emb·2^−m =
    emb·power_of_two_scale(emb), an exact rescaling that changes no pick, and the scores are scaled back by 4^m:
    scikit-learn computes in emb's dtype, float32 from the model, whose squared distances overflowed (entries of
    about 10¹⁸ and above) or underflowed (10⁻²⁴ and below), giving other picks."""
    check_budget(k, len(emb))
    seed = seed_from(generator)
    scale = power_of_two_scale(emb)
    x = torch.as_tensor(emb).detach().cpu().numpy() * scale
    progress(f"kmeans: {N_INIT} k-means++ starts of {k} clusters", 0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct points than k: handled below
        km = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit(x)
    progress(f"kmeans: {N_INIT} k-means++ starts of {k} clusters", 1, 1)
    chosen = nearest_to_centres(x, km.cluster_centers_, km.predict(x))
    return chosen._replace(score=unscaled_d2(chosen.score, scale))


class KMeansSampling(Strategy):
    """`kmeans`: one representative (nearest the centre) per k-means cluster of the unlabelled embeddings."""

    on_embedding = label_free = True
    name = "kmeans"

    def select(self, n):
        idx = self.unlabeled()
        return kmeans_select(self.learner.embeddings(idx), n, self.gen).among(idx)
