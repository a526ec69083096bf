"""`coreset_pca`: greedy k-center on PCA-reduced embeddings, DeepAL+'s `KCenterGreedyPCA` (Zhan et al. 2022,
"A Comparative Survey of Deep Active Learning").

Embeddings wider than `--pcaDim` (50) columns are projected onto their first `--pcaDim` principal components
(centred by the pool mean; exact eigendecomposition of the d×d scatter matrix in float64), narrower ones are kept
as they are; core_set.py's greedy k-center then picks on the result, starting from the labelled points."""
import numpy as np
import torch

from strategy_params import PCA_DIM

from .core_set import coreset_select
from .strategy import Strategy

DEFAULT_PCA_DIM = PCA_DIM.default


def pca_reduce(emb, dim):
    """(X − x̄) V_dim in float64, V_dim the eigenvectors of (X − x̄)ᵀ(X − x̄) of the dim largest eigenvalues; X
    itself when it has at most dim columns."""
    x = emb.detach().double()
    if x.shape[1] <= dim:
        return x
    centred = x - x.mean(0)
    _, vectors = torch.linalg.eigh(centred.T @ centred)
    return centred @ vectors[:, -dim:].flip(1)


def coreset_pca_select(emb, labeled_mask, k, generator, pca_dim=DEFAULT_PCA_DIM):
    """k unlabelled rows by greedy k-center (coreset_select) on pca_reduce(emb, pca_dim), each scored by its squared
    distance to the nearest labelled or earlier pick there."""
    return coreset_select(pca_reduce(emb, pca_dim), labeled_mask, k, generator)


class CoreSetPCA(Strategy):
    """`coreset_pca`: greedy k-center cover of the PCA-reduced embedding space, starting from the labelled points."""

    on_embedding = label_free = True
    name = "coreset_pca"

    def select(self, n):
        emb = self.learner.embeddings(np.arange(self.n_pool))
        return coreset_pca_select(emb, torch.as_tensor(self.labeled), n, self.gen, pca_dim=self.pca_dim)
