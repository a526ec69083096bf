"""`uherding`: Uncertainty Herding (Bae et al. 2025, "Uncertainty Herding: One Active Learning Method for All Label
Budgets"), with a fixed kernel width and no temperature scaling (docs/FIDELITY.md).

Embeddings are scaled to unit norm x̂ and compared by the Gaussian kernel k(x, x') = exp(−‖x̂ − x̂'‖² / (2σ²)),
σ = `--kernelSigma`. Each unlabelled point i carries the margin uncertainty u_i = 1 − (p₍₁₎ − p₍₂₎). Greedy
maximisation of the uncertainty coverage UC(S) = Σ_i u_i max_{j ∈ L ∪ S} k_ij (L the labelled points, which are
covered by themselves and so add nothing) picks, k times, the unlabelled point of largest gain
Σ_i u_i max(0, k_ij − m_i), m_i = max_{j ∈ L ∪ S} k_ij (0 when L ∪ S is empty; lowest index among ties). The gains
only fall as S grows, so stale gains bound fresh ones (lazy greedy: the plain greedy's picks). Kernel columns are
evaluated a block at a time; no n×n matrix is held."""
import torch

from strategy_params import KERNEL_SIGMA

from .fass import GAIN_BLOCK, weighted_facility_location_greedy
from .power_sampling import margin_power_score
from .selection import check_budget, normalised, picks
from .strategy import Strategy

DEFAULT_SIGMA = KERNEL_SIGMA.default


def gaussian_kernel(a, b, sigma):
    """K_ij = exp(−‖a_i − b_j‖² / (2σ²))."""
    return torch.exp(-torch.cdist(a, b).square() / (2 * sigma ** 2))


def labelled_coverage(x, labelled, sigma):
    """m_i = max_{l} k(x_i, x_l) over the labelled rows (0 when there are none), a block of them at a time."""
    m = torch.zeros(len(x), dtype=torch.float64)
    for start in range(0, len(labelled), GAIN_BLOCK):
        m = torch.maximum(m, gaussian_kernel(x, labelled[start:start + GAIN_BLOCK], sigma).max(1).values)
    return m


def uherding_select(probs, emb, labelled_emb, k, generator, sigma=DEFAULT_SIGMA):
    """k rows of emb (the unlabelled points) by uncertainty herding, each scored by its coverage gain; labelled_emb
    (the labelled points, possibly none) are covered from the start. Deterministic: `generator` is not drawn from."""
    check_budget(k, len(emb))
    x = normalised(emb.cpu())
    covered = labelled_coverage(x, normalised(labelled_emb.cpu()), sigma)
    upper = torch.full((len(x),), torch.inf, dtype=torch.float64)
    rows, gains = weighted_facility_location_greedy(lambda cols: gaussian_kernel(x, x[cols], sigma),
                                                    margin_power_score(probs.detach().cpu().double()), covered, upper, k)
    return picks(rows, gains)


class UncertaintyHerding(Strategy):
    """`uherding`: greedy margin-weighted Gaussian-kernel coverage of the unlabelled pool beyond the labelled set."""

    name = "uherding"

    def select(self, n):
        idx = self.unlabeled()
        probs, emb = self.learner.probs_embeddings(idx)
        labelled_emb = self.learner.probs_embeddings(self.labeled_idx())[1]
        return uherding_select(probs, emb, labelled_emb, n, self.gen, sigma=self.kernel_sigma).among(idx)
