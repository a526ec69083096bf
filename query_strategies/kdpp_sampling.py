"""`baseline` (alias `kdpp`): the BADGE paper's k-DPP comparison.

A k-subset S from the k-DPP P(S) ∝ det L_S with the linear kernel L_ij = (a_i·a_j)(e_i·e_j) = g_i·g_j over
gradient embeddings g = a ⊗ e, a = onehot(ŷ) − p (L is never formed), by the MCMC swap chain of Anari et al.
(2016): from a random k-subset, 5·k·ln k times propose swapping a uniform u ∈ S for a uniform v ∉ S and accept
with probability min(1, det L_{S−u+v} / det L_S). The chain keeps L_S⁻¹, so each ratio costs O(k·(k + d + C)).
Its stationary law is the k-DPP, but 5·k·ln k swaps (the paper's and the original's budget) are too few to reach
it: the sample leans toward the random start, and at k = 1 (no step) it is that start.

The chain must start where det L_S > 0: the start is the first k points of a random order of the pool that
are linearly independent in gradient space (the random k-subset itself when it is non-singular). When the pool
has fewer than k independent points no k-subset has positive determinant and the k-DPP does not exist; the
chain then runs on L + εI (ε = 1e-6 · largest diagonal entry, 1 when that is no normal float64), whose k-DPP
favours subsets of maximal rank. A point is independent only if its Schur complement is a normal float64 (a
subnormal one's inverse overflows: gradients of norm near 1e-161, from saturated float64 predictions)."""
import math

import torch

from .selection import check_budget, gradient_factor, one_thread, picks, power_of_two_scale, row_sq_norms
from .strategy import Strategy

INDEPENDENT = 1e-10  # v joins the start if its gradient keeps this share of its squared norm outside span(S)
RATIO_FLOOR = 1e-12  # a computed ratio below this (or NaN: an L_S⁻¹ that overflowed) is rounding noise: rejected
JITTER = 1e-6
TINY = torch.finfo(torch.float64).tiny  # a Schur complement at or below it is 0: its inverse would overflow


def swap_ratio(L_inv, b, l_vv, p):
    """det L_{S−u+v} / det L_S for u at position p of S, from L_S⁻¹, b = L_{S,v} (all k entries) and L_vv:
    (L_vv − bᵀL_S⁻¹b)·(L_S⁻¹)_pp + ((L_S⁻¹b)_p)². Returns (ratio, L_S⁻¹b)."""
    w = L_inv @ b
    return (l_vv - b @ w) * L_inv[p, p] + w[p] ** 2, w


def swapped_inverse(L_inv, w, ratio, p):
    """L_{S'}⁻¹ for S' = S with position p replaced by v, from L_S⁻¹, w = L_S⁻¹b and the swap's ratio:
    remove p (L⁻¹ − q qᵀ/q_p, q = L⁻¹e_p), then add v by the bordered inverse with Schur complement ratio/q_p."""
    q = L_inv[:, p].clone()
    y = w - q * (w[p] / q[p])
    y[p] = -1
    return torch.outer(q, q).div_(-q[p]).add_(L_inv).addr_(y, y, alpha=float(q[p] / ratio))


class Kernel:
    """L_ij = (a_i·a_j)(e_i·e_j) (+ jitter on the diagonal), evaluated a row at a time in float64."""

    def __init__(self, a, e, jitter=0.0):
        self.a, self.e, self.jitter = a, e, jitter
        self.diag = a.square().sum(1) * row_sq_norms(e) + jitter

    def block(self, rows, cols):
        return (self.a[rows] @ self.a[cols].T) * (self.e[rows].double() @ self.e[cols].double().T) + \
            self.jitter * (rows[:, None] == cols[None, :]).double()


def independent_start(kernel, order, k):
    """The first k points of `order` that keep L_S non-singular (Schur complement > INDEPENDENT · L_vv and > TINY), with
    L_S⁻¹ grown by bordering: [[L⁻¹ + x xᵀ/σ, −x/σ], [−xᵀ/σ, 1/σ]], x = L⁻¹b, σ = L_vv − bᵀx.
    None when fewer than k such points exist."""
    chosen = []
    L_inv = kernel.a.new_zeros(k, k)
    A, E = kernel.a.new_zeros(k, kernel.a.shape[1]), kernel.a.new_zeros(k, kernel.e.shape[1])
    for v in order.tolist():
        m = len(chosen)
        a_v, e_v = kernel.a[v], kernel.e[v].double()
        b = (A[:m] @ a_v) * (E[:m] @ e_v)
        x = L_inv[:m, :m] @ b
        schur = float(kernel.diag[v] - b @ x)
        if not schur > max(INDEPENDENT * float(kernel.diag[v]), TINY):  # NaN too
            continue
        L_inv[:m, :m].addr_(x, x, alpha=1 / schur)
        L_inv[:m, m] = L_inv[m, :m] = -x / schur
        L_inv[m, m] = 1 / schur
        A[m], E[m] = a_v, e_v
        chosen.append(v)
        if len(chosen) == k:
            return order.new_tensor(chosen), L_inv
    return None


def kdpp_chain(kernel, k, generator, steps):
    """The swap chain: a random non-singular start, then `steps` Metropolis swaps; the final k-subset. On gradients
    spanning hundreds of orders of magnitude (saturated float64 predictions) the rank-one update of L_S⁻¹ can
    overflow: L_S⁻¹ is then recomputed (as after an infinite ratio), and a NaN ratio is rejected."""
    n, dev = len(kernel.diag), kernel.a.device
    order = torch.randperm(n, generator=generator).to(dev)
    start = independent_start(kernel, order, k)
    if start is None:
        jitter = JITTER * float(kernel.diag.max())
        kernel = Kernel(kernel.a, kernel.e, jitter if jitter > TINY else 1.0)
        start = independent_start(kernel, order, k)
    S, L_inv = start
    if n == k:
        return S
    outside = order[~torch.isin(order, S)].tolist()
    slots = torch.randint(k, (steps,), generator=generator).tolist()
    others = torch.randint(n - k, (steps,), generator=generator).tolist()
    coins = torch.rand(steps, generator=generator, dtype=torch.float64).tolist()
    A, E = kernel.a[S], kernel.e[S].double()
    accepted = 0
    for p, j, coin in zip(slots, others, coins):
        v = outside[j]
        b = (A @ kernel.a[v]) * (E @ kernel.e[v].double())
        ratio, w = swap_ratio(L_inv, b, kernel.diag[v], p)
        ratio = float(ratio)
        if not ratio > RATIO_FLOOR or coin >= ratio:
            continue
        L_inv = swapped_inverse(L_inv, w, ratio, p) if math.isfinite(ratio) else None
        outside[j], S[p] = int(S[p]), v
        A[p], E[p] = kernel.a[v], kernel.e[v].double()
        accepted += 1
        if L_inv is None or not torch.isfinite(L_inv).all() or accepted % k == 0:  # overflow, or rounding error
            L_inv = torch.linalg.inv(kernel.block(S, S))
    return S


@one_thread()
def kdpp_select(probs, emb, k, generator, steps=None):
    """k rows after `steps` (default 5·k·ln k, the paper's) MCMC swap steps toward the k-DPP with kernel L = G Gᵀ
    over gradient embeddings: the k-DPP's law only for chains long enough to mix; a sample, so no score. The kernel
    is of emb·power_of_two_scale(emb), which leaves the law as it is (L scales by a constant): float64 embeddings
    of 2^300 gave other picks (its products overflowed), of 2^600 a TypeError, and of 2^-600 other picks."""
    check_budget(k, len(emb))
    emb = emb * power_of_two_scale(emb)
    steps = int(5 * k * math.log(k)) if steps is None else steps
    return picks(kdpp_chain(Kernel(gradient_factor(probs), emb), k, generator, steps))


class BaselineSampling(Strategy):
    """`baseline`: a k-DPP sample over gradient embeddings (the BADGE paper's k-DPP baseline)."""

    takes_gradients = True
    name = "baseline"

    def select(self, n):
        idx = self.unlabeled()
        probs, emb = self.learner.probs_embeddings(idx)
        return kdpp_select(probs, emb, n, self.gen).among(idx)
