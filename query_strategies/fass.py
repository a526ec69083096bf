"""`fass`: FASS, filtered active submodular selection (Wei, Iyer & Bilmes, ICML 2015, "Submodularity in Data Subset
Selection and Active Learning"), as DISTIL runs it by default.

The `--topN`·k (5k) unlabelled points of highest predictive entropy form the filtered set F (all of them when
fewer); greedy maximisation of the facility-location function f(S) = Σ_{i∈F} max(0, max_{j∈S} s_ij) over S ⊆ F,
s_ij the cosine similarity of the embeddings (0 for a zero embedding), then gives the k picks, each the point of
largest gain f(S + j) − f(S) (lowest position in F among ties). Gains only fall as S grows, so the stale gains
bound the fresh ones (lazy greedy: the same picks as the plain greedy, fewer gains computed)."""
import torch

from strategy_params import TOP_N

from .entropy_sampling import entropy
from .selection import best_first, check_budget, normalised, one_thread, picks, top_k
from .strategy import Strategy

DEFAULT_TOP_N = TOP_N.default
GAIN_BLOCK = 64  # candidates whose gains are computed together


def cosine_similarity(x):
    """s_ij = x_i·x_j / (‖x_i‖‖x_j‖) in float64 (rows of norm 0 left at 0)."""
    unit = normalised(x.cpu())
    return unit @ unit.T


@one_thread()
def weighted_facility_location_greedy(columns, weights, covered, upper, k, block=GAIN_BLOCK):
    """(rows, gains): k columns j chosen greedily for f(S) = Σ_i w_i max(m_i, max_{j∈S} s_ij), where columns(cols) gives
    s[:, cols], w = `weights`, m = `covered`, each the largest gain Σ_i w_i max(0, s_ij − m_i) (m the current
    cover; lowest index among ties), and that gain. `upper` (one bound ≥ the first gain per column) is updated;
    gains are computed `block` columns at a time."""
    best = covered.clone()
    free = torch.ones(len(upper), dtype=torch.bool)
    rows, gains = [], []

    def fresh_gains(cols):
        gain = weights @ (columns(cols) - best[:, None]).clamp_min(0)
        upper[cols] = gain
        return gain

    for _ in range(k):
        j, gain = best_first(free.nonzero().squeeze(1), upper, fresh_gains, block, lambda g: 0.0)
        rows.append(j)
        gains.append(gain)
        free[j] = False
        best = torch.maximum(best, columns(torch.tensor([j])).squeeze(1))
    return rows, gains


def facility_location_greedy(sim, k):
    """(rows, gains): k columns j of sim chosen greedily for f(S) = Σ_i max(0, max_{j∈S} sim_ij), each the largest
    gain Σ_i max(0, sim_ij − m_i) (m_i the current max, 0 at first; lowest index among ties), and that gain."""
    zeros = torch.zeros(len(sim), dtype=torch.float64)
    return weighted_facility_location_greedy(lambda cols: sim[:, cols], torch.ones_like(zeros), zeros,
                                             sim.clamp_min(0).sum(0), k)


def fass_select(probs, emb, k, generator, top_n=DEFAULT_TOP_N):
    """k rows: facility-location greedy (cosine similarity of emb) over the top_n·k rows of highest entropy, each
    scored by its gain. Deterministic: `generator` is not drawn from."""
    check_budget(k, len(emb))
    filtered = top_k(entropy(probs.detach().cpu().double()), min(top_n * k, len(emb))).index
    rows, gains = facility_location_greedy(cosine_similarity(emb[torch.as_tensor(filtered, device=emb.device)]), k)
    return picks(filtered[rows], gains)


class FASS(Strategy):
    """`fass`: facility-location greedy on the embeddings of the topN·nQuery most uncertain points."""

    name = "fass"

    def select(self, n):
        idx = self.unlabeled()
        probs, emb = self.learner.probs_embeddings(idx)
        return fass_select(probs, emb, n, self.gen, top_n=self.top_n).among(idx)
