"""`epig`: expected predictive information gain (Bickford Smith, Kirsch, Farquhar, Gal, Foster & Rainforth,
AISTATS 2023, "Prediction-oriented Bayesian active learning").

EPIG(x) = E_{x*}[I(y; y* | x, x*)], the information the label of x carries about the label of a target input x*
drawn from the inputs the model will be used on. With K samples θ_k of the weights (MC-dropout passes, each pass
one mask per dropout layer for every input, so that pass k is one network) and M target inputs x*_m,

    p(y, y* | x, x*_m) = (1/K) Σ_k p(y | x, θ_k) p(y* | x*_m, θ_k),
    EPIG(x) = H[p(y | x)] + (1/M) Σ_m H[p(y* | x*_m)] − (1/M) Σ_m H[p(y, y* | x, x*_m)],

the mutual information written with entropies (I(A; B) = H(A) + H(B) − H(A, B)). The targets are M pool points
drawn uniformly without replacement at each query (the pool is a sample of the data the model is tested on); the
batch is the k highest scores, as in the authors' code."""
import numpy as np
import torch

from .entropy_sampling import entropy
from .selection import check_budget, one_thread, top_k
from .strategy import Strategy

CHUNK_ELEMENTS = 1 << 22  # pool rows per block × C × M × C stays below this


def joint_entropies(pool_probs, target_probs):
    """(1/M) Σ_m H[p(y, y* | x_i, x*_m)] for every pool row i, pool_probs (K, n, C) and target_probs (K, M, C),
    in float64: the joint of row i and target m is (1/K) Σ_k p_k(y | x_i) p_k(y* | x*_m)."""
    K, n, C = pool_probs.shape
    M = target_probs.shape[1]
    pool = pool_probs.double().permute(1, 2, 0)  # (n, C, K)
    targets = target_probs.double().reshape(K, M * C)
    rows = max(1, CHUNK_ELEMENTS // (C * M * C))
    out = []
    for block in pool.split(rows):
        joint = (block @ targets) / K  # (rows, C, M·C)
        out.append(-torch.special.xlogy(joint, joint).sum(dim=(1, 2)) / M)
    return torch.cat(out)


@one_thread()
def epig_scores(pool_probs, target_probs):
    """EPIG of every pool row, pool_probs (K, n, C) and target_probs (K, M, C) from the same K weight samples:
    H[mean_k p_k(y | x)] + mean_m H[mean_k p_k(y* | x*_m)] − mean_m H[p(y, y* | x, x*_m)], float64."""
    marginal = entropy(pool_probs.double().mean(0))
    targets = entropy(target_probs.double().mean(0)).mean()
    return marginal + targets - joint_entropies(pool_probs, target_probs)


def epig_select(pool_probs, target_probs, k, generator):
    """The k pool rows of highest EPIG (lowest row among ties), each scored by its EPIG. Deterministic: `generator`
    is not drawn from (the strategy draws the targets)."""
    check_budget(k, pool_probs.shape[1])
    return top_k(epig_scores(pool_probs, target_probs), k)


def draw_targets(n_pool, m, generator):
    """min(m, n_pool) pool indices drawn uniformly without replacement, ascending."""
    return np.sort(torch.randperm(n_pool, generator=generator)[:m].numpy())


class EPIG(Strategy):
    """`epig`: the nQuery points of highest expected predictive information gain about --nTargets random pool
    points, from --nDraws MC-dropout passes (one network per pass)."""

    name = "epig"

    def select(self, n):
        idx = self.unlabeled()
        targets = draw_targets(self.n_pool, self.n_targets, self.gen)
        probs = self.learner.mc_probs(np.concatenate([idx, targets]), draws=self.n_draws, shared=True)
        return epig_select(probs[:, :len(idx)], probs[:, len(idx):], n, self.gen).among(idx)
