"""`uherding`: Uncertainty Herding (Bae et al. 2025, "Uncertainty Herding: One Active Learning Method for All Label
Budgets"), with the authors' two parameter adaptations (docs/FIDELITY.md).

Embeddings are scaled to unit norm x̂ and compared by the Gaussian kernel k(x, x') = exp(−‖x̂ − x̂'‖² / (2σ²)).
Each unlabelled point i carries the margin uncertainty u_i = 1 − (p₍₁₎ − p₍₂₎) of p = softmax(logits / T). Greedy
maximisation of the uncertainty coverage UC(S) = Σ_i u_i max_{j ∈ L ∪ S} k_ij (L the labelled points, which are
covered by themselves and so add nothing) picks, k times, the unlabelled point of largest gain
Σ_i u_i max(0, k_ij − m_i), m_i = max_{j ∈ L ∪ S} k_ij (0 when L ∪ S is empty; lowest index among ties). The gains
only fall as S grows, so stale gains bound fresh ones (lazy greedy: the plain greedy's picks). The first bounds come
from float32 TILE × TILE tiles of the kernel, its exponent raised by the worst case of its rounding
(initial_gain_bounds): each is provably at least the float64 gain, so the picks stay the plain greedy's while only
the columns whose bound reaches the best float64 gain found get their float64 gain, RECHECK_BLOCK at a time (not
all n at the first pick). No n×n matrix is held.

The adaptations, each replaced by a fixed value through its flag: σ = `--kernelSigma` (auto: the smallest distance
between two distinct labelled embeddings over √2, so that 2σ² is its square, `kernel_radius`; it shrinks as labels
fill the space) and T = `--uherdingTemperature` (auto: a random 30% of the labelled points held out, a fresh
network trained on the rest, and the T in 1, 1.1, ..., 19.9 of least expected calibration error on the held-out
points, `least_ece_temperature`)."""
import math

import torch

from model import child_generator
from strategy_params import AUTO, SIGMA_FLOOR

from .fass import GAIN_BLOCK, weighted_facility_location_greedy
from .power_sampling import margin_power_score
from .selection import EPS64, TILE, check_budget, normalised, one_thread, picks
from .strategy import Strategy

TEMPERATURES = torch.arange(10, 200, dtype=torch.float64) / 10  # 1.0, 1.1, ..., 19.9: the authors' grid
VALIDATION_FRACTION = 0.3  # ⌊0.3·|L|⌋ labelled points held out for the temperature (the authors' share)
FALLBACK_SIGMA = 1 / math.sqrt(2)  # σ while fewer than two distinct labelled points: the authors' δ = 1
RADIUS_BLOCK = 256  # labelled rows whose distances to the others are computed together
SAME_POINT = 1e-9  # unit-norm rows this close are one point (a positive multiple of a row lands ~1e-16 from it)
RECHECK_BLOCK = 16  # candidates whose float64 gains the lazy greedy computes together
EXPONENT_FLOOR = -50.0  # float32 kernel exponents are raised to this (a bound only grows), so exp stays normal
U32 = 2.0 ** -24  # float32 unit roundoff


def distance_factors(a):
    """(−2a_i, ‖a_i‖², 1) per row: with (b_j, 1, ‖b_j‖²) their product is ‖a_i‖² + ‖b_j‖² − 2a_i·b_j = ‖a_i − b_j‖²
    (2 − 2a_i·b_j for unit rows), torch.cdist's own product, made once for the n rows instead of at every call."""
    return torch.cat([a.mul(-2), a.pow(2).sum(1, keepdim=True), torch.ones(len(a), 1, dtype=a.dtype)], 1)


def gaussian_kernel(a_factors, b, sigma):
    """K_ij = exp(−‖a_i − b_j‖² / (2σ²)), the distances as torch.cdist's (clamped at 10⁻³⁰ before the root) from
    a's distance_factors."""
    b_factors = torch.cat([b, torch.ones(len(b), 1, dtype=b.dtype), b.pow(2).sum(1, keepdim=True)], 1)
    return torch.exp(-(a_factors @ b_factors.T).clamp_min_(1e-30).sqrt_().square() / (2 * sigma ** 2))


def kernel_noise(d, sigma):
    """noise(k): a bound, per entry, on the difference of two float64 computations of k_ij = exp(−D/(2σ²)) of unit rows
    of d entries, given one of them: D's product of d + 2 terms of absolute sum ≤ 4 is within 4γ ≈ 4(d + 2)u of the
    exact D (u = EPS64/2), the root and square add a few ulps of D ≤ 4, so each exponent is within
    δ = 4(d + 6)u/(2σ²) of the exact one and the two k within a factor exp(2δ) of each other; exp adds a few ulps
    of k, and an underflow 2⁻¹⁰⁷⁴: |Δk| ≤ k·(expm1(2δ) + 4ε₆₄) + 2⁻¹⁰⁷⁰. Relative, so that points far apart
    (k ≈ 0) add nothing to a gain's noise at a small σ; once 2δ ≥ 1 any entry may be off by all of it (1)."""
    exponent = 2 * (d + 6) * EPS64 / sigma ** 2  # 2δ
    if exponent >= 1:
        return lambda k: 1.0
    spread = math.expm1(exponent) + 4 * EPS64
    return lambda k: k * spread + 2.0 ** -1070


def labelled_coverage(x, labelled, sigma):
    """m_i = max_{l} k(x_i, x_l) over the labelled rows (0 when there are none), a block of them at a time."""
    m, factors = torch.zeros(len(x), dtype=torch.float64), distance_factors(x)
    for start in range(0, len(labelled), GAIN_BLOCK):
        m = torch.maximum(m, gaussian_kernel(factors, labelled[start:start + GAIN_BLOCK], sigma).max(1).values)
    return m


def exponent_slack(d, sigma):
    """s added to the float32 exponent (x_i·x_j − h_i − h_j)/σ², h = ‖x‖²/2, of rows of norm ≤ 1, so that it is never
    below the exact one: the augmented product's error is at most γ(2/σ² + s), γ = (d + 8)u/(1 − (d + 8)u) (the
    rounding of its d + 2 factors and of its sum, u = 2⁻²⁴), and 16u more covers exp's own rounding (≤ 7 ulps):
    s = (2γ/σ² + 16u)/(1 − γ)."""
    gamma = (d + 8) * U32 / (1 - (d + 8) * U32)
    return (2 * gamma / sigma ** 2 + 16 * U32) / (1 - gamma)


def augmented_factors(x, sigma):
    """(A, B) in float32 with A_i·B_j = (x_i·x_j − h_i − h_j)/σ² + s, h = ‖x‖²/2, s = exponent_slack: the kernel's
    exponent, raised by s, as one product: A_i = (x_i/σ², s − h_i/σ², 1), B_j = (x_j, 1, −h_j/σ²)."""
    c, h, ones = 1 / sigma ** 2, x.square().sum(1, keepdim=True) / 2, torch.ones(len(x), 1, dtype=torch.float64)
    s = exponent_slack(x.shape[1], sigma)
    return torch.cat([c * x, s - c * h, ones], 1).float(), torch.cat([x, ones, -c * h], 1).float()


def rounded(v, direction):
    """v in float32, each value rounded toward `direction` (−inf or inf) where the nearest float32 is on the other
    side."""
    v32 = v.float()
    wrong = v32.double() < v if direction > 0 else v32.double() > v
    return torch.where(wrong, torch.nextafter(v32, torch.tensor(direction, dtype=torch.float32)), v32)


@one_thread()
def initial_gain_bounds(x, weights, covered, sigma):
    """b_j ≥ Σ_i w_i max(0, k_ij − m_i) for every row j of x (m = `covered`), from float32 TILE × TILE tiles of the
    raised exponent (augmented_factors; floored at EXPONENT_FLOOR), m rounded down and w up: every term is at least
    the exact one before the tile's sum, whose relative rounding is at most γ = (TILE + 8)u/(1 − (TILE + 8)u), and a
    subnormal product loses at most 2⁻¹⁵⁰, so b = (1 + γ + (n/TILE + 2)ε₆₄)·(Σ tile sums) + n·2⁻¹⁴⁹."""
    A, B = augmented_factors(x, sigma)
    m32, w32 = rounded(covered, -math.inf), rounded(weights, math.inf)
    sums = torch.zeros(len(x), dtype=torch.float64)
    for i in range(0, len(x), TILE):
        rows = slice(i, i + TILE)
        for j in range(0, len(x), TILE):
            tile = (A[rows] @ B[j:j + TILE].T).clamp_min_(EXPONENT_FLOOR).exp_().sub_(m32[rows, None]).clamp_min_(0)
            sums[j:j + TILE] += (w32[rows] @ tile).double()
    gamma = (TILE + 8) * U32 / (1 - (TILE + 8) * U32)
    return sums * (1 + gamma + (len(x) / TILE + 2) * EPS64) + len(x) * 2.0 ** -149


def uherding_select(probs, emb, labelled_emb, k, generator, sigma):
    """k rows of emb (the unlabelled points), each greedily the largest gain Σ_i u_i max(0, k_ij − m_i) in uncertainty
    coverage, u = 1 − margin of `probs`, k_ij = exp(−‖x̂_i − x̂_j‖²/(2σ²)), m_i = max k_i· over labelled_emb (possibly
    none) and the picks; each scored by its gain. Deterministic: `generator` is not drawn from."""
    check_budget(k, len(emb))
    x = normalised(emb.cpu())
    covered = labelled_coverage(x, normalised(labelled_emb.cpu()), sigma)
    weights = margin_power_score(probs.detach().cpu().double())
    upper = initial_gain_bounds(x, weights, covered, sigma)
    factors = distance_factors(x)
    rows, gains = weighted_facility_location_greedy(lambda cols: gaussian_kernel(factors, x[cols], sigma), weights,
                                                    covered, upper, k, kernel_noise(x.shape[1], sigma), RECHECK_BLOCK)
    return picks(rows, gains)


def kernel_radius(labelled_emb):
    """σ = min ‖x̂_l − x̂_l'‖ / √2 over pairs of distinct unit-norm labelled embeddings (distances of at most
    SAME_POINT count as one point's; exact differences, not the Gram expansion, whose rounding is far larger);
    None when no two rows are distinct."""
    x = normalised(labelled_emb.cpu())
    nearest = math.inf
    for start in range(0, len(x), RADIUS_BLOCK):
        d = torch.cdist(x[start:start + RADIUS_BLOCK], x, compute_mode="donot_use_mm_for_euclid_dist")
        nearest = min(nearest, float(d.masked_fill(d <= SAME_POINT, math.inf).min()))
    return None if nearest == math.inf else nearest / math.sqrt(2)


def adaptive_sigma(labelled_emb):
    """The kernel width of `--kernelSigma auto`: kernel_radius of the labelled embeddings, FALLBACK_SIGMA when it
    has none, and SIGMA_FLOOR, the narrowest width float64 resolves, when it is below it (two labelled points all
    but equal)."""
    radius = kernel_radius(labelled_emb)
    return FALLBACK_SIGMA if radius is None else max(radius, SIGMA_FLOOR)


def expected_calibration_errors(logits, labels, temperatures, n_bins):
    """ECE(T) = Σ_b |Σ_{i ∈ B_b} (1[ŷ_i = y_i] − c_i)| / n for each T, c_i = max_c softmax(logits_i / T)_c, ŷ_i its
    class, B_b the points with c_i in ((b − 1)/n_bins, b/n_bins]: the gap between accuracy and confidence per bin,
    weighted by the bin's share."""
    probs = torch.softmax(logits.double().cpu()[None] / temperatures[:, None, None], dim=2)
    conf, predicted = probs.max(2)
    edges = torch.arange(n_bins + 1, dtype=torch.float64) / n_bins
    bins = torch.searchsorted(edges, conf) - 1
    gap = (predicted == labels.cpu()[None]).double() - conf
    per_bin = torch.zeros(len(temperatures), n_bins, dtype=torch.float64).scatter_add_(1, bins, gap)
    return per_bin.abs().sum(1) / logits.shape[0]


def least_ece_temperature(logits, labels, temperatures=TEMPERATURES, n_bins=None):
    """The first T of `temperatures` of least expected calibration error of softmax(logits / T) on `labels`, with
    n_bins bins (default: one per class, as the authors' ECE)."""
    errors = expected_calibration_errors(logits, labels, temperatures, n_bins or logits.shape[1])
    return float(temperatures[int(errors.argmin())])


def validation_split(n, generator, fraction=VALIDATION_FRACTION):
    """(fit, held out): positions 0..n−1 in a random order drawn from `generator`, its first ⌊fraction·n⌋ held out."""
    order = torch.randperm(n, generator=generator).numpy()
    n_out = math.floor(fraction * n)
    return order[n_out:], order[:n_out]


class UncertaintyHerding(Strategy):
    """`uherding`: greedy margin-weighted Gaussian-kernel coverage of the unlabelled pool beyond the labelled set."""

    name = "uherding"

    def select(self, n):
        idx, labelled = self.unlabeled(), self.labeled_idx()
        temperature = self.temperature(labelled)
        probs, emb = self.learner.probs_embeddings(idx, temperature)
        labelled_emb = self.learner.network_embeddings(labelled)
        return uherding_select(probs, emb, labelled_emb, n, self.gen, sigma=self.sigma(labelled_emb)).among(idx)

    def sigma(self, labelled_emb):
        """--kernelSigma, or for auto adaptive_sigma of the labelled points."""
        return adaptive_sigma(labelled_emb) if self.kernel_sigma == AUTO else self.kernel_sigma

    def temperature(self, labelled):
        """--uherdingTemperature, or for auto the least-ECE temperature of a network trained on a random 70% of the
        labelled points (pool indices `labelled`) on the other 30% (1 when either part is empty); the split and the
        network's draws come from the strategy's generator."""
        if self.uherding_temperature != AUTO:
            return self.uherding_temperature
        fit, held_out = validation_split(len(labelled), self.gen)
        network_generator = child_generator(self.gen)
        if len(fit) == 0 or len(held_out) == 0:
            return 1.0
        logits = self.learner.held_out_logits(labelled[fit], labelled[held_out], network_generator)
        return least_ece_temperature(logits, self.learner.labels(labelled[held_out]))
