"""`vessal`: VeSSAL, volume sampling for streaming active learning (Saran, Yousefi, Krishnamurthy, Langford & Ash,
ICML 2023, "Streaming Active Learning with Deep Neural Networks").

The unlabelled points come as a stream, in pool order, each with BADGE's gradient embedding g_t = a_t ⊗ e_t,
a_t = onehot(ŷ_t) − p_t (D = C·d). With A = λI + Σ_{picked} g gᵀ (A⁻¹ starts as I/λ = cov_inv_scaling·I) and the
running covariance Σ̂_t = (1/t) Σ_{s≤t} g_s g_sᵀ (this point included), point t is picked with probability

    p_t = z_t · g_tᵀA⁻¹g_t,   z_t = ((k − picked so far) / (points left, this one included)) / tr(Σ̂_t A⁻¹),

one uniform draw per point, and a pick updates A⁻¹ by Sherman–Morrison. The pass stops at k picks; when the
stream ends with fewer, the rest are drawn uniformly from the points not picked (the authors' `fill_random`).

Cost: A⁻¹ changes only at a pick, so the points are taken in blocks: g formed for a block of rows (b×D, never n×D),
their g_tᵀA⁻¹g_t by one product with A⁻¹, the picks' test vectorised over the block up to its first pick, the rest
of the block carried past each pick by the rank-1 form of the Sherman–Morrison update (b×D, not b×D²), and
M = Σ_s g_s g_sᵀ (D×D) grown by one product per block, so that tr(M A⁻¹) after a pick is tr(M A⁻¹) − vᵀMv/(1 + gᵀv),
v = A⁻¹g. About 4nD² flops in all, in float64."""
import torch

from strategy_params import COV_INV_SCALING

from .selection import check_budget, fill_uniformly, gradient_factor, one_thread, progress
from .strategy import Strategy

MIN_BLOCK, MAX_BLOCK = 256, 2048  # rows per block: about twice the expected gap between picks, within these


def gradient_rows(a, e):
    """g_i = a_i ⊗ e_i of every row, as a (rows, C·d) float64 matrix."""
    return (a[:, :, None] * e.double()[:, None, :]).reshape(len(a), -1)


def first_pick(rate_num, start, n, trace, quad, u):
    """Position j in a block of points start, start+1, ... (g_tᵀA⁻¹g_t in `quad`, uniforms `u`) of the first one
    picked, or None, with `rate_num` picks still wanted and tr(M A⁻¹) = `trace` before the block; also the
    probabilities p of the block."""
    t = torch.arange(start, start + len(quad), dtype=torch.float64, device=quad.device)
    traces = trace + quad.cumsum(0)  # tr(M_t A⁻¹) with point t included
    rate = rate_num / (n - t)
    p = torch.where(quad > 0, rate * (t + 1) * quad / traces, torch.zeros_like(quad))
    hit = (u < p).nonzero()
    return (int(hit[0, 0]) if len(hit) else None), p, traces


def after_pick(G, V, quad, v, denom):
    """The block's later rows under A⁻¹ − vvᵀ/denom (Sherman–Morrison after a pick, v = A⁻¹g): V − (Gv)vᵀ/denom
    and gᵀA⁻¹g − (gᵀv)²/denom, a rank-1 update in place of a new product with A⁻¹."""
    w = G @ v
    return V.sub_(torch.outer(w, v), alpha=1 / denom), quad.sub_(w.square(), alpha=1 / denom)


@one_thread()
def vessal_select(probs, emb, k, generator, cov_inv_scaling=COV_INV_SCALING.default):
    """k rows by one pass over the rows in order, row t picked with probability z_t·g_tᵀA⁻¹g_t, g = (onehot(ŷ) − p)
    ⊗ e, z_t = (picks left / rows left) / tr(Σ̂_t A⁻¹), A = λI + Σ_picked g gᵀ; then uniform draws to fill up."""
    n = len(emb)
    check_budget(k, n)
    a = gradient_factor(probs)
    dim = a.shape[1] * emb.shape[1]
    u = torch.rand(n, generator=generator, dtype=torch.float64).to(a.device)
    a_inv = torch.eye(dim, dtype=torch.float64, device=a.device) * cov_inv_scaling
    M = torch.zeros(dim, dim, dtype=torch.float64, device=a.device)
    trace, chosen, scores, start = 0.0, [], [], 0
    while start < n and len(chosen) < k:
        progress("vessal: points streamed", start, n)
        gap = (n - start) / (k - len(chosen))
        end = min(n, start + int(min(MAX_BLOCK, max(MIN_BLOCK, 2 * gap))))
        G = gradient_rows(a[start:end], emb[start:end])
        V = G @ a_inv
        quad = torch.einsum("ij,ij->i", V, G)
        while start < end and len(chosen) < k:
            j, p, traces = first_pick(k - len(chosen), start, n, trace, quad, u[start:end])
            seen = len(G) if j is None else j + 1
            M.addmm_(G[:seen].T, G[:seen])
            trace = float(traces[seen - 1])
            if j is not None:
                v, denom = V[j], 1 + float(quad[j])
                trace -= float(v @ M @ v) / denom
                a_inv.sub_(torch.outer(v, v), alpha=1 / denom)
                chosen.append(start + j)
                scores.append(float(p[j]))
                G, (V, quad) = G[seen:], after_pick(G[seen:], V[seen:], quad[seen:], v, denom)
            start += seen
    return fill_uniformly(chosen, scores, n, k, generator)


class VeSSAL(Strategy):
    """`vessal`: one streaming pass of volume sampling over the unlabelled points' gradient embeddings."""

    name = "vessal"
    takes_gradients = True

    def select(self, n):
        idx = self.unlabeled()
        probs, emb = self.learner.probs_embeddings(idx)
        return vessal_select(probs, emb, n, self.gen, self.cov_inv_scaling).among(idx)
