"""What the selection functions share: their result (Picks) and its ranking (top_k), the thread limit, the budget
check, the seed for scikit-learn, the tile sizes, the best-first search over upper bounds, float64 row blocks, the
gradient-embedding factor, and k-means++ seeding over points g_i = a_i ⊗ e_i held as their factors.

The contract: `<name>_select(<arrays>, k, generator, **parameters) -> Picks`, the picks being rows of the arrays
given and `generator` (a CPU torch.Generator) the only source of randomness; a Strategy's `select(n)` returns
`<name>_select(...).among(idx)`, the same picks as pool indices.

k-means++ (kmeanspp) needs ‖g_i − g_c‖² = s_i + s_c − 2(a_i·a_c)(e_i·e_c), s_i = ‖a_i‖²‖e_i‖², for each new
centre c: an n×d pass. A cheap lower bound skips the points whose distance cannot fall below their current D²:
with P an orthonormal d×r basis, f_i = Pᵀe_i and ρ_i the norm of the rest of e_i, e_i·e_c ∈ f_i·f_c ± ρ_iρ_c, so
    ‖g_i − g_c‖² ≥ s_i + s_c − 2(α_i f_i·f_c + |α_i| ρ_iρ_c),  α_i = a_i·a_c.
The points the bound keeps get the exact value in float64, so the picks are those of the plain algorithm."""
import math
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
import torch

DIRECTIONS = 8  # r, the dimension of the projection behind the lower bound
SAMPLE_ROWS = 256  # rows (evenly spaced) whose principal directions make the projection
BLOCK = 4096  # rows per chunk when rows are gathered or upcast
# Tile sizes: rows (and columns) per block of a pass over pairs of points, each set by what one block holds.
TILE = 2048  # float64 pairwise products (core_set, cluster_margin): a TILE×TILE float64 block is 32 MB
ROW_TILE = 4096  # float64 differences of rows to their centres (kmeans): 4096×d float64, a few MB for any embedding
SCREEN_TILE = 1024  # float32 screening products read back at once (probcover): 4 MB, so the reads stay in the cache
EPS32, EPS64 = torch.finfo(torch.float32).eps, torch.finfo(torch.float64).eps


class Picks(NamedTuple):
    """What every selection returns: `index`, the picked rows of the arrays it was given (int64, in pick order),
    and `score`, the value each pick was ranked by when picked (float64, NaN where the strategy ranks by none)."""
    index: np.ndarray
    score: np.ndarray

    def among(self, rows):
        """The same picks with each index i replaced by rows[i] (e.g. positions among the unlabelled points ->
        pool indices)."""
        return Picks(np.asarray(rows)[self.index], self.score)


def picks(index, score=None):
    """Picks from any integer sequence or tensor `index` and optional scores (NaN when None)."""
    index = torch.as_tensor(index).detach().cpu().numpy().astype(np.int64, copy=False).reshape(-1)
    if score is None:
        return Picks(index, np.full(len(index), np.nan))
    return Picks(index, torch.as_tensor(score, dtype=torch.float64).detach().cpu().numpy().reshape(-1))


def top_k(scores, k):
    """Picks of the k highest scores (ties broken by position, lowest first), each with its score; ValueError unless
    1 ≤ k ≤ len(scores). The float64 copy is made on one thread: waking a second one for it costs more than the copy
    (2× the whole on a busy machine)."""
    with thread_limit(1):
        scores = torch.as_tensor(scores).detach().cpu().double().numpy().reshape(-1)
    check_budget(k, len(scores))
    index = highest_first(-scores, k)
    return Picks(index.astype(np.int64), scores[index])


def highest_first(neg, k):
    """np.argsort(neg, kind="stable")[:k]: the positions of the k least values of `neg`, lowest position first among
    equals, by sorting only the values at or below the k-th least (found by a partition; NaN last, as argsort)."""
    if k >= len(neg):
        return np.argsort(neg, kind="stable")[:k]
    kth = np.partition(neg, k - 1)[k - 1]
    if np.isnan(kth):
        return np.argsort(neg, kind="stable")[:k]
    held = np.flatnonzero(neg <= kth)
    return held[np.argsort(neg[held], kind="stable")[:k]]


@contextmanager
def thread_limit(n):
    """torch's intra-op threads limited to n within the block, then restored (a decorator too)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def one_thread():
    """thread_limit(1). The selection loops are long chains of small operations that gain nothing from more threads,
    while waking the others for each operation costs many times the operation itself on a busy machine (measured:
    5-10× slower on the shared 2-core box)."""
    return thread_limit(1)


def seed_from(generator):
    """A 31-bit integer seed for NumPy / scikit-learn, drawn from the run's CPU generator."""
    return int(torch.randint(2**31 - 1, (1,), generator=generator))


REPORTERS = []  # the callbacks of the `reporting` blocks being run, innermost last


@contextmanager
def reporting(callback):
    """Within the block, progress(stage, done, total) calls callback(stage, done, total): how a run shows the
    steps of a long selection on its progress bar."""
    REPORTERS.append(callback)
    try:
        yield
    finally:
        REPORTERS.pop()


def progress(stage, done, total):
    """Report `done` of `total` steps of a selection's `stage` to the innermost `reporting` block (nothing outside
    one)."""
    if REPORTERS:
        REPORTERS[-1](stage, done, total)


def check_budget(k, n):
    """ValueError unless 1 ≤ k ≤ n: k picks among n candidates."""
    if not 1 <= k <= n:
        raise ValueError(f"cannot choose {k} of {n} points")


def best_first(candidates, upper, gains, block, slack, tie=lambda g: 0.0):
    """(i*, g_i*): the argmax i* over `candidates` (a 1-D index tensor) of gains(rows) and its gain, where upper[i] ≥
    gain_i; gains within tie(g*) of the largest g* count as ties, taken by lowest index (tie 0: exact ties only).
    Candidates are evaluated `block` at a time in decreasing order of their bound (stable), until the next bound is
    below g* − max(slack(g*), tie(g*)): no candidate left can beat g* by more than that, or tie with it.
    `candidates` must not be empty."""
    order = candidates[upper[candidates].argsort(descending=True, stable=True)]
    best, seen, values = -math.inf, [], []
    for rows in order.split(block):
        if float(upper[rows[0]]) < best - max(slack(best), tie(best)):
            break
        gain = gains(rows)
        seen.append(rows)
        values.append(gain)
        best = max(best, float(gain.max()))
    rows, gain = torch.cat(seen), torch.cat(values)
    near = rows[gain >= best - tie(best)]
    row = int(near.min())
    return row, float(gain[rows == row][0])


def tempered_softmax(z, temperature):
    """softmax(z / T) along rows, as softmax((z − max_c z) / T) in float64 (the shift in z's own dtype): with a
    tiny T, z / T would be ±inf and its softmax NaN; shifted, each row's largest term stays exp(0)."""
    return torch.softmax((z - z.amax(1, keepdim=True)).double() / temperature, dim=1)


def normalised(emb):
    """Rows scaled to unit L2 norm, in float64 (a zero row stays zero). Each row is first brought to a largest
    |entry| in [1/2, 1) by a power of two (exact: the same unit rows), so that its squared norm neither overflows
    (rows of about 10¹⁵⁴ and above became 0) nor underflows."""
    x = emb.detach().double()
    x = torch.ldexp(x, -torch.frexp(x.abs().amax(1, keepdim=True)).exponent)
    return x / x.norm(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)


def gradient_factor(probs, labels=None):
    """a = onehot(y) − p in float64, y = `labels` (argmax p when None), so that g = a ⊗ e."""
    a = -probs.double()
    y = probs.argmax(1) if labels is None else torch.as_tensor(labels).to(a.device).long()
    a[torch.arange(len(a), device=a.device), y] += 1
    return a


def float64_blocks(x, rows=BLOCK):
    """The rows of x as float64 blocks of at most `rows` rows, each copied into the same buffer (a pass over a large
    x then allocates nothing large, and the heap does not fragment)."""
    buffer = torch.empty(min(rows, len(x)), *x.shape[1:], dtype=torch.float64, device=x.device)
    for block in x.split(rows):
        yield buffer[:len(block)].copy_(block)


def row_sq_norms(x):
    """‖x_i‖² of every row, in float64."""
    return torch.cat([torch.einsum("ij,ij->i", b, b) for b in float64_blocks(x)])


def top_directions(x, r):
    """An orthonormal d×r' basis (r' = min(r, d, rows)) of the leading right singular vectors of up to
    SAMPLE_ROWS evenly spaced rows of x. Any orthonormal basis makes a valid bound; a good one makes it tight."""
    rows = x[:: max(1, len(x) // SAMPLE_ROWS)][:SAMPLE_ROWS].double()
    return torch.linalg.svd(rows, full_matrices=False).Vh[:r].T


def power_of_two_scale(x):
    """2^−m, m the binary exponent of max |x| (so that max |x|·2^−m lies in [1/2, 1)), or 1 when x is all zeros: a
    factor whose products are exact in floating point (short of underflow), so it changes no ratio of distances."""
    return math.ldexp(1.0, -math.frexp(float(abs(x).max()))[1])


def unscaled_d2(d2, scale):
    """Squared distances between points × `scale` (a power_of_two_scale) in the units of the points themselves:
    d2 / scale², exactly, as a float64 array; +∞ past float64's range, 0 below it."""
    with np.errstate(over="ignore"):
        return np.asarray(d2, dtype=np.float64) / scale / scale


class FactoredPoints:
    """Points g_i = a_i ⊗ e_i held as their factors a (n×C) and e (n×d), with s_i = ‖g_i‖² and what the distance
    bound needs: f_i = Pᵀe_i and ρ_i ≥ ‖e_i − P f_i‖ (raised by more than its rounding error), in float32 copies
    laid out feature-major, so that each product with a centre streams over the points.

    e is first scaled by power_of_two_scale(e), so that the float32 bound neither overflows (entries of e about 10¹⁹
    and above: a traceback) nor underflows (about 10⁻²³ and below: points wrongly skipped, wrong picks), whatever
    the embeddings' scale; unscaled_d2(d2, scale) of a squared distance here is that of the points given."""

    def __init__(self, a, e, r=DIRECTIONS):
        scale = power_of_two_scale(e)
        self.a, self.e, self.scale = a.double(), e if scale == 1 else e * scale, scale
        e = self.e
        d, C = e.shape[1], a.shape[1]
        basis = top_directions(e, r)
        sq_e, f = [], []
        for block in float64_blocks(e):
            sq_e.append(torch.einsum("ij,ij->i", block, block))
            f.append(block @ basis)
        sq_e, f = torch.cat(sq_e), torch.cat(f)
        self.s = self.a.square().sum(1) * sq_e
        rho = ((sq_e - f.square().sum(1)).clamp_min(0) + 4 * (d + basis.shape[1]) * EPS64 * sq_e).sqrt()
        self.a32, self.f32, self.rho = self.a.float(), f.float(), rho.float()
        self.s_list, self.rho_list = self.s.tolist(), rho.tolist()  # per-centre scalars without a tensor op
        self.aT, self.fT = self.a32.T.contiguous(), self.f32.T.contiguous()
        self.slack = 4 * (C + basis.shape[1] + 8) * EPS32  # relative error bound of the float32 bound test
        self.err_fast = 4 * d * torch.finfo(e.dtype).eps  # ... of a distance with ⟨e_i, e_c⟩ in e's dtype
        self.err_exact = 4 * (d + C) * EPS64  # ... of a float64 distance: anything below it is 0
        self.rows = e.new_empty(min(BLOCK, len(e)), d)  # reused for every gather, so that a long loop of
        self.rows64 = torch.empty_like(self.rows, dtype=torch.float64)  # gathers does not fragment the heap

    def __len__(self):
        return len(self.e)

    def dots(self, idx, v):
        """e[idx] @ v, evaluated in v's dtype, gathering at most BLOCK rows at a time into the reused buffers."""
        parts = []
        for i in idx.split(BLOCK):
            rows = torch.index_select(self.e, 0, i, out=self.rows[:len(i)])
            if v.dtype != rows.dtype:
                rows = self.rows64[:len(i)].copy_(rows)
            parts.append(rows @ v)
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def bound_excess(self, c):
        """t_i = α_i f_i·f_c + |α_i| ρ_iρ_c (α_i = a_i·a_c), so that ‖g_i − g_c‖² ≥ s_i + s_c − 2t_i."""
        alpha = self.a32[c] @ self.aT
        along = alpha * (self.f32[c] @ self.fT)
        return along.addcmul_(alpha.abs_(), self.rho, value=self.rho_list[c])


class NearestCentre:
    """D²_i, the squared distance of point i to its nearest centre so far, updated centre by centre.

    Point i is skipped when the bound shows ‖g_i − g_c‖² ≥ D²_i (with a slack above float32 rounding), tested
    as t_i − h_i ≤ s_c(1 − slack)/2 with h_i = (s_i(1 − slack) − D²_i(1 + slack))/2 kept in float32. The other
    points get their float64 distance, after a screen with ⟨e_i, e_c⟩ in e's dtype (when that is not float64)
    has dropped those that clearly stay above D²_i."""

    def __init__(self, points):
        self.points = points
        self.D2 = torch.full((len(points),), math.inf, dtype=torch.float64, device=points.e.device)
        self.h = torch.full((len(points),), -math.inf, device=points.e.device)

    def add(self, c):
        """Take centre c into account: D² ← min(D², ‖g − g_c‖²), and D²_c = 0."""
        pts, keep = self.points, 1 - self.points.slack
        s_c, e_c = pts.s_list[c], pts.e[c]
        idx = (pts.bound_excess(c).sub_(self.h) > s_c * keep / 2).nonzero().squeeze(1)
        alpha = pts.a.index_select(0, idx) @ pts.a[c]
        scale, old = pts.s.index_select(0, idx) + s_c, self.D2.index_select(0, idx)
        if e_c.dtype != torch.float64:
            fast = scale - 2 * alpha * pts.dots(idx, e_c)
            maybe = (fast - pts.err_fast * scale < old).nonzero().squeeze(1)
            idx, alpha, scale, old = (v.index_select(0, maybe) for v in (idx, alpha, scale, old))
        exact = scale - 2 * alpha * pts.dots(idx, e_c.double())
        new = torch.where(exact <= pts.err_exact * scale, 0.0, exact).minimum(old)
        self.D2[idx] = new
        self.h[idx] = ((scale - s_c) * keep - new * (2 - keep)).float().div_(2)
        self.D2[c], self.h[c] = 0, s_c * keep / 2


def draw_index(weights, chosen, u):
    """Inverse CDF: the first i with w_0 + … + w_i > u·Σw, for u in [0, 1) (so u·Σw < Σw, also in floating point);
    when every weight is 0, the weights are 1 off the `chosen` indices. An index of weight 0 is never drawn."""
    cum = weights.cumsum(0)
    if float(cum[-1]) == 0:
        weights = torch.ones_like(weights)
        weights[chosen] = 0
        cum = weights.cumsum(0)
    return int(torch.searchsorted(cum, u * float(cum[-1]), right=True))


def kmeanspp(points, k, generator, first):
    """k-means++ seeding: centre `first`, then k − 1 centres each drawn with probability ∝ D² (D = distance to the
    nearest centre so far), one uniform number from the CPU generator per draw. Once every point not yet chosen
    has D = 0 (duplicates), the draw is uniform over the points not yet chosen, so no index comes twice.
    Each pick's score is its D² when drawn; the first's, its ‖g‖² (its D² to the origin), both in the units of the
    points given (unscaled_d2)."""
    n = len(points)
    check_budget(k, n)
    uniforms = torch.rand(k - 1, generator=generator, dtype=torch.float64).tolist()
    dist = NearestCentre(points)
    chosen, scores = [first], [points.s_list[first]]
    for t in range(k - 1):
        dist.add(chosen[-1])
        chosen.append(draw_index(dist.D2, chosen, uniforms[t]))
        scores.append(float(dist.D2[chosen[-1]]))
    return picks(chosen, unscaled_d2(scores, points.scale))


def fill_uniformly(chosen, scores, n, k, generator):
    """Picks `chosen` (with their `scores`) followed by k − len(chosen) rows drawn uniformly without replacement
    from the others (score NaN)."""
    missing = k - len(chosen)
    if missing:
        rest = torch.ones(n, dtype=torch.bool)
        rest[chosen] = False
        others = rest.nonzero().squeeze(1)
        chosen = chosen + others[torch.randperm(len(others), generator=generator)[:missing]].tolist()
        scores = scores + [math.nan] * missing
    return picks(chosen, scores)


def bias_or_zeros(W, b):
    """The last layer's bias b, or zeros (one per row of W) when it has none (Predictor.last_layer gives None)."""
    return torch.zeros(len(W), dtype=W.dtype, device=W.device) if b is None else b
