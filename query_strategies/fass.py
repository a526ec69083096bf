"""`fass`: FASS, filtered active submodular selection (Wei, Iyer & Bilmes, ICML 2015, "Submodularity in Data Subset
Selection and Active Learning"), as DISTIL runs it by default.

The `--topN`·k (5k) unlabelled points of highest predictive entropy form the filtered set F (all of them when
fewer); greedy maximisation of the facility-location function f(S) = Σ_{i∈F} max(0, max_{j∈S} s_ij) over S ⊆ F,
s_ij the cosine similarity of the embeddings (0 for a zero embedding), then gives the k picks, each the point of
largest gain f(S + j) − f(S) (lowest position in F among ties). Gains only fall as S grows, so the stale gains
bound the fresh ones (lazy greedy: the same picks as the plain greedy, fewer gains computed)."""
import math

import torch

from strategy_params import TOP_N

from .entropy_sampling import entropy
from .selection import EPS64, best_first, check_budget, normalised, one_thread, picks, top_k
from .strategy import Strategy

DEFAULT_TOP_N = TOP_N.default
GAIN_BLOCK = 64  # candidates whose gains are computed together


@one_thread()
def weighted_facility_location_greedy(columns, weights, covered, upper, k, noise, block=GAIN_BLOCK):
    """(rows, gains): k columns j chosen greedily for f(S) = Σ_i w_i max(m_i, max_{j∈S} s_ij), where columns(cols) gives
    s[:, cols], w = `weights` (≥ 0), m = `covered`, each the largest gain Σ_i w_i max(0, s_ij − m_i) (m the current
    cover; lowest index among ties), and that gain. noise(s) bounds, per entry of s[:, cols] (or one number for all),
    the difference of two computations of it (their rounding depends on the column's place in a block): an
    s_ij − m_i up to it counts as 0 (a copy of a pick adds exactly 0), and gains within the largest Σ_i w_i noise_ij
    of a column computed so far of the largest tie. `upper` (one bound ≥ the first gain per column) is updated;
    gains are computed `block` columns at a time."""
    best = covered.clone()
    free = torch.ones(len(upper), dtype=torch.bool)
    rows, gains = [], []
    tie = 0.0

    def fresh_gains(cols):
        nonlocal tie
        s = columns(cols)
        bound = torch.as_tensor(noise(s), dtype=s.dtype).expand_as(s)
        excess = s - best[:, None]
        gain = weights @ excess.where(excess > bound, 0.0)
        tie = max(tie, float((weights @ bound).max()))
        upper[cols] = gain
        return gain

    for _ in range(k):
        j, gain = best_first(free.nonzero().squeeze(1), upper, fresh_gains, block, lambda g: 0.0, lambda g: tie)
        rows.append(j)
        gains.append(gain)
        free[j] = False
        best = torch.maximum(best, columns(torch.tensor([j])).squeeze(1))
    return rows, gains


def cosine_columns(x):
    """columns(cols) = s[:, cols], s_ij = cos(x_i, x_j) (0 for a zero row), as x̂ x̂_colsᵀ in float64 over at least
    two columns: a single one would go through a matrix-vector product, whose sums round otherwise than the matrix
    product's. A column's rounding still depends on its place in the product's blocks: cosine_noise bounds it."""
    unit = normalised(x.cpu())

    def columns(cols):
        wide = cols if len(cols) > 1 else cols.repeat(2)
        return (unit @ unit[wide].T)[:, :len(cols)]
    return columns


def cosine_noise(d):
    """A bound on the difference of two float64 computations of one cosine of unit rows of d entries: each is within
    γ_d ≈ d·u of the exact one (u = EPS64/2, Σ|x̂_k ŷ_k| ≤ 1), doubled, with room for the normalisation's rounding."""
    return (d + 4) * EPS64


def cosine_facility_location_greedy(x, k):
    """(rows, gains): k rows j chosen greedily for f(S) = Σ_i max(0, max_{j∈S} s_ij), s_ij = cos(x_i, x_j), each the
    largest gain (lowest index among ties) and that gain. No m × m matrix: the bounds start infinite, so the first
    pick computes every gain Σ_i max(0, s_ij), GAIN_BLOCK columns at a time, and those become the bounds."""
    zeros = torch.zeros(len(x), dtype=torch.float64)
    return weighted_facility_location_greedy(cosine_columns(x), torch.ones_like(zeros), zeros,
                                             torch.full_like(zeros, math.inf), k, lambda s: cosine_noise(x.shape[1]))


def fass_select(probs, emb, k, generator, top_n=DEFAULT_TOP_N):
    """k rows: facility-location greedy (cosine similarity of emb) over the top_n·k rows of highest entropy, each
    scored by its gain. Deterministic: `generator` is not drawn from."""
    check_budget(k, len(emb))
    filtered = top_k(entropy(probs.detach().cpu().double()), min(top_n * k, len(emb))).index
    rows, gains = cosine_facility_location_greedy(emb[torch.as_tensor(filtered, device=emb.device)], k)
    return picks(filtered[rows], gains)


class FASS(Strategy):
    """`fass`: facility-location greedy on the embeddings of the topN·nQuery most uncertain points."""

    name = "fass"

    def select(self, n):
        idx = self.unlabeled()
        probs, emb = self.learner.probs_embeddings(idx)
        return fass_select(probs, emb, n, self.gen, top_n=self.top_n).among(idx)
