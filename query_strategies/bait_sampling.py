"""`bait`: BAIT, Fisher-embedding selection (Ash et al., NeurIPS 2021; PROTOCOL §5).

Point i's Fisher embedding is Vᵢ = Aᵢ ⊗ eᵢᵀ ∈ R^{C×(C·d)} with Aᵢ = diag(√pᵢ)(I − 1pᵢᵀ), so VᵢᵀVᵢ is its
last-layer Fisher. V is never formed: for a (C·d)×(C·d) matrix K with d×d blocks K_ab,
Vᵢ K Vᵢᵀ = Aᵢ Qᵢ Aᵢᵀ with Qᵢ[a,b] = eᵢᵀ K_ab eᵢ, and for a (C·d)×m matrix Z with d-row blocks Z_a,
Vᵢ Z = Aᵢ Tᵢ with Tᵢ[a] = eᵢᵀ Z_a. Every candidate keeps Xᵢ = Ṽᵢ M⁻¹ Ṽᵢᵀ and Yᵢ = Ṽᵢ M⁻¹FM⁻¹ Ṽᵢᵀ (C×C)
current through each rank-C change of M⁻¹, so a greedy step costs O(n·C²·(d + C) + (C·d)²·C) time and the
whole selection O(n·(C² + d) + (C·d)²) memory. On the CPU with a C compiler (CompiledDesign, kernels/bait_step.c)
one pass per change updates every candidate's Xᵢ, Yᵢ and computes its exact gain tr(Yᵢ(I + Xᵢ)⁻¹) while they are
in cache; elsewhere (FisherDesign: PyTorch, also on CUDA) the argmax computes the exact gain only for candidates
whose cheap upper bound can still beat the best. Both give the argmax of the exact gains.

Precision: products over the n points (the d-wide contractions with the embeddings) run in the embeddings'
dtype (float32 from the model: the same picks as float64 in the tests), or in float64 where float32 loses M's
definiteness (bait_select); the C×C and (C·d)×(C·d) algebra, M⁻¹ and the per-candidate Xᵢ, Yᵢ are float64 in both
paths."""
import math
import warnings

import numpy as np
import torch

from kernels import bait as bait_kernel
from model import build_model

from .selection import best_first, check_budget, one_thread, picks, progress
from .strategy import Strategy

CIFAR_LAMBDA = 0.01  # λ when the data name contains "CIFAR" (any case), as in the original; 1 elsewhere
OVERSAMPLE = 2  # forward picks 2B points, backward prunes back to B
SETUP_ELEMENTS = 2**23  # size of the per-chunk temporaries (points × class pairs × d) in the O(n·C²·d²) set-up
UPDATE_ELEMENTS = 2**19  # size of the per-chunk temporaries (points × 2C²) of a greedy step: fits in cache
COMPILED_CHUNK = 512  # candidates per product and kernel call in CompiledDesign
# Relative slack on the bounds that skip candidates whose gain cannot be the largest. Xᵢ and Yᵢ are float64 but
# are updated from products in the embeddings' float32, and drift from exact PSD matrices over hundreds of updates,
# so the bounds, derived for PSD matrices, can miss the computed gain: by up to 5e-5 relatively on letter (26
# classes, 18,000 points).
PRUNE_SLACK = 1e-3
GAIN_BLOCK = 2048  # candidates whose exact gain is computed together (one elimination over all of them)
# BAIT's cost: set-up O(n·C²·d²), 2k forward steps over the n candidates of O(n·C²·(d + C)) each (the backward
# steps work on 2k candidates or fewer), and 3k rank-C updates of the float64 (C·d)×(C·d) M⁻¹ of O((C·d)²·C) each,
# which dominate with many classes or a small pool. Each greedy step has two rates, operations per CPU second:
# streaming over the pool, and the updates of M⁻¹. Fitted (least relative squares) to bench/selection_speed.py's CPU
# seconds (its synthetic inputs, d = 128, one thread, 2-core CPU at load 1.5-5, 2026-12-02; BENCHMARKS.md, "BAIT's
# cost warning"): n = 1,617, C = 10, k = 100 (digits), n = 60,000, C = 10, k = 100 (MNIST) and, compiled, k = 1,000,
# n = 18,000, C = 26, k = 100 (letter); each point within 0.82-1.13 of its median. The PyTorch step prunes with
# bounds, so its cost depends on the probabilities: the synthetic ones prune little (an upper estimate).
STEP_RATES = {"compiled": (9.8e9, 6.45e8), "PyTorch": (2.71e9, 5.16e8)}
EXPENSIVE_QUERY_SECONDS = 10  # a run whose queries are estimated slower than this is warned about


def factor_times(root, probs, T):
    """Aᵢ Tᵢ for every point, Aᵢ = diag(rootᵢ)(I − 1pᵢᵀ) acting on the second-to-last axis of T:
    row c is root_c·(Tᵢ[c] − Σ_a p_a Tᵢ[a]). `root` and `probs` have shape (..., C) broadcastable to T[..., 0]."""
    return root.unsqueeze(-1) * (T - (probs.unsqueeze(-1) * T).sum(-2, keepdim=True))


def chunks(n, per_point, elements):
    """Consecutive point ranges whose temporaries of `per_point` elements each stay under `elements`."""
    step = max(1, elements // per_point)
    return [slice(s, min(s + step, n)) for s in range(0, n, step)]


def chunk_buffer(like, parts, *shape):
    """A scratch tensor like `like` for the rows of the largest (the first) of `parts`: shape (rows, *shape)."""
    return like.new_empty(parts[0].stop if parts else 0, *shape)


def fisher_sum(probs, emb):
    """Σᵢ VᵢᵀVᵢ as a (C·d)×(C·d) matrix: block (a, b) is Σᵢ (AᵢᵀAᵢ)[a,b] eᵢeᵢᵀ, where AᵢᵀAᵢ = diag(p) − (2 − Σp)ppᵀ
    for Aᵢ = diag(√p)(I − 1pᵀ); blocks a ≤ b are computed and mirrored. Chunks reuse one buffer (no heap growth)."""
    (n, C), d = probs.shape, emb.shape[1]
    a, b = torch.triu_indices(C, C, device=probs.device)
    total = emb.new_zeros(len(a) * d, d)
    parts = chunks(n, len(a) * d, SETUP_ELEMENTS)
    buf = chunk_buffer(emb, parts, len(a), d)
    for part in parts:
        p, e = probs[part], emb[part]
        G = (-(2 - p.sum(1, keepdim=True)) * p[:, a] * p[:, b] + (a == b) * p[:, a]).to(emb.dtype)
        weighted = torch.mul(G.unsqueeze(2), e.unsqueeze(1), out=buf[:len(p)])
        total.addmm_(weighted.view(len(p), -1).T, e)
    out = total.new_empty(C, C, d, d)
    out[a, b] = total.view(-1, d, d)
    out[b, a] = total.view(-1, d, d).transpose(1, 2)
    return out.transpose(1, 2).reshape(C * d, C * d).double()


def block_quadratic_forms(K, emb):
    """Qᵢ[a,b] = eᵢᵀ K_ab eᵢ for every point (n, C, C), K_ab the d×d blocks of a symmetric K (so Qᵢ is
    symmetric: blocks a ≤ b are computed and mirrored); then Vᵢ K Vᵢᵀ = Aᵢ Qᵢ Aᵢᵀ. Chunks reuse one buffer."""
    n, d = emb.shape
    C = K.shape[0] // d
    a, b = torch.triu_indices(C, C, device=K.device)
    blocks = K.to(emb.dtype).reshape(C, d, C, d)[a, :, b, :].permute(1, 0, 2).reshape(d, -1)
    q = emb.new_empty(n, len(a))
    parts = chunks(n, len(a) * d, SETUP_ELEMENTS)
    buf = chunk_buffer(emb, parts, len(a) * d)
    for part in parts:
        e = emb[part]
        forms = torch.matmul(e, blocks, out=buf[:len(e)]).view(len(e), len(a), d).mul_(e.unsqueeze(1))
        torch.sum(forms, 2, out=q[part])
    q = q.double()
    Q = q.new_empty(n, C, C)
    Q[:, a, b] = q
    Q[:, b, a] = q
    return Q


def sandwich(root, probs, Q):
    """Aᵢ Qᵢ Aᵢᵀ for symmetric Qᵢ."""
    return factor_times(root, probs, factor_times(root, probs, Q).transpose(1, 2))


def trace_solve(A, B):
    """tr(Aᵢ⁻¹Bᵢ) for (C, C, r) batches with the point axis last, by Gauss–Jordan elimination of [Aᵢ | Bᵢ] without
    pivoting, vectorised over the points (Aᵢ = ±I + Xᵢ is definite here: no pivoting is needed)."""
    C = A.shape[0]
    aug = torch.cat([A, B], 1)
    for c in range(C):
        pivot = aug[c, c:] / aug[c, c]
        aug[:, c:].sub_(aug[:, c, None] * pivot)
        aug[c, c:] = pivot
    return aug[:, C:].diagonal().sum(-1)


def bound_statistics(X, Y):
    """tr Yᵢ, ⟨Xᵢ, Yᵢ⟩ and an upper bound of λmax(Xᵢ), min(‖Xᵢ‖_F, max row sum of |Xᵢ|), for (C, C, n) batches
    (the point axis last)."""
    n = X.shape[2]
    top = torch.minimum((X * X).reshape(-1, n).sum(0).sqrt(), X.abs().sum(1).max(0).values)
    return Y.diagonal().sum(-1), (X * Y).reshape(-1, n).sum(0), top


def gain_bounds(trace_y, inner, top):
    """Bounds on tr(Y(I + X)⁻¹) for PSD X, Y with λmax(X) ≤ top, from X/(1 + λmax) ≼ X(I + X)⁻¹ ≼ X and
    (I + X)⁻¹ ≽ I/(1 + λmax): lower max(tr Y − ⟨X, Y⟩, tr Y/(1 + top)), upper tr Y − ⟨X, Y⟩/(1 + top)."""
    return torch.maximum(trace_y - inner, trace_y / (1 + top)), trace_y - inner / (1 + top)


class FisherDesign:
    """The inverse P = M⁻¹ of the design matrix and, for each candidate i (Fisher factor Ãᵢ = diag(rootᵢ)(I − 1pᵢᵀ),
    embedding eᵢ), Xᵢ = Ṽᵢ P Ṽᵢᵀ and Yᵢ = Ṽᵢ P F P Ṽᵢᵀ, kept current when a candidate joins or leaves M.
    Per-candidate arrays put the point axis last, (C, C, n), so every step works on long contiguous rows."""

    def __init__(self, P, F, root, probs, emb):
        self.P, self.F = P, F
        self.C, self.d = probs.shape[1], emb.shape[1]
        self.root, self.probs = root, probs
        self.root_t, self.probs_t = root.T.contiguous(), probs.T.contiguous()
        self.emb_t = emb.T.contiguous()
        wide = P.to(emb.dtype)
        self.X = self.initial(block_quadratic_forms(wide, emb))
        self.Y = self.initial(block_quadratic_forms(wide @ F.to(emb.dtype) @ wide, emb))
        self.bounds = torch.stack(bound_statistics(self.X, self.Y))

    def initial(self, Q):
        """Ãᵢ Qᵢ Ãᵢᵀ with the point axis last, (C, C, n)."""
        return sandwich(self.root, self.probs, Q).permute(1, 2, 0).contiguous()

    def restrict(self, rows):
        """Keep only candidates `rows`."""
        for name in ("root", "probs"):
            setattr(self, name, getattr(self, name)[rows])
        for name in ("root_t", "probs_t", "emb_t", "X", "Y", "bounds"):
            setattr(self, name, getattr(self, name)[..., rows])

    def eye(self):
        return torch.eye(self.C, dtype=self.P.dtype, device=self.P.device)

    def matrices(self, rows):
        """(Xᵢ, Yᵢ) of candidates `rows` as (C, C, r) batches."""
        return self.X.index_select(2, rows), self.Y.index_select(2, rows)

    def shifted(self, X, sign):
        """sign·I + Xᵢ for a (C, C, r) batch."""
        return X + sign * self.eye().to(X.dtype).unsqueeze(-1)

    def best_addition(self, available):
        """(i, drop): the `available` candidate whose joining drops tr(M⁻¹F) most, by tr(Yᵢ(I + Xᵢ)⁻¹) (lowest
        position among ties), and that drop. Exact drops are computed by `best_first` over the candidates whose upper
        bound (`gain_bounds`) reaches the largest lower bound."""
        lower, upper = gain_bounds(*self.bounds)
        upper = torch.maximum(upper, lower).masked_fill(~available, -math.inf)  # rounding may cross the two
        floor = float(lower.masked_fill(~available, -math.inf).max())
        rows = torch.nonzero(upper >= floor - PRUNE_SLACK * abs(floor)).squeeze(1)
        return best_first(rows, upper, self.drops, GAIN_BLOCK, lambda best: PRUNE_SLACK * abs(best))

    def drops(self, rows):
        """tr(Yᵢ(I + Xᵢ)⁻¹) of candidates `rows`: how much each one's joining drops tr(M⁻¹F). The rows are gathered
        in increasing order (its C² entries lie in C² rows of the whole pool: in order, the reads stream)."""
        ascending, position = rows.sort()
        X, Y = self.matrices(ascending)
        gains = torch.empty(len(rows), dtype=X.dtype, device=X.device)
        gains[position] = trace_solve(self.shifted(X, 1), Y)
        return gains

    def raises(self):
        """Rise of tr(M⁻¹F) when candidate i leaves M: −tr(Yᵢ(Xᵢ − I)⁻¹)."""
        return -trace_solve(self.shifted(self.X, -1), self.Y)

    def change(self, j, sign):
        """Add (sign = 1) or remove (sign = −1) candidate j: M⁻¹ ← M⁻¹ − U W Uᵀ with U = M⁻¹Ṽⱼᵀ and
        W = (sign·I + ṼⱼM⁻¹Ṽⱼᵀ)⁻¹ = sign·LLᵀ. With U' = UL, S' = U'ᵀFU' and R = M⁻¹FU' − (sign/2)·U'S', every
        candidate's Gᵢ = ṼᵢU' and Jᵢ = ṼᵢR give Xᵢ ← Xᵢ − sign·GᵢGᵢᵀ and Yᵢ ← Yᵢ − sign·(JᵢGᵢᵀ + GᵢJᵢᵀ).
        The (C·d)-long vectors are kept as rows (Uᵀ, Rᵀ): row products are the fast ones. Uᵀ = ṼⱼM⁻¹ has row c
        Σ_a Ãⱼ[c, a]·eⱼᵀ(rows of class block a of M⁻¹)."""
        C, d = self.C, self.d
        A, e = factor_times(self.root[j], self.probs[j], self.eye()), self.emb_t[:, j].double()
        Ut = A @ (e @ self.P.view(C, d, -1))
        X = A @ (Ut.view(C, C, d) @ e).T
        w, Q = torch.linalg.eigh(sign * torch.linalg.inv(sign * self.eye() + X))
        Ut = (Q * w.clamp(min=0).sqrt()).T @ Ut
        FUt = Ut @ self.F
        Rt = FUt @ self.P - (sign / 2) * (FUt @ Ut.T) @ Ut
        self.P.addmm_(Ut.T, Ut, alpha=-sign)
        self.update_candidates(torch.cat([Ut, Rt]), sign)

    def product_rows(self, Zt):
        """The 2C² rows (d wide, the embeddings' dtype) whose products with eᵢ are the entries of the C×C matrices
        [eᵢᵀ U'_a] and [eᵢᵀ R_a] (a = class block, the row index) of a change with Zt = [U'ᵀ; Rᵀ]."""
        C, d = self.C, self.d
        return Zt.to(self.emb_t.dtype).view(2, C, C, d).transpose(1, 2).reshape(2 * C * C, d)

    def update_candidates(self, Zt, sign):
        """Xᵢ, Yᵢ and their bound statistics after the change, in chunks that stay in cache: Ãᵢ applied to the
        products of `product_rows` (in float64) gives Gᵢ and Jᵢ; then GᵢGᵢᵀ and JᵢGᵢᵀ."""
        C, rows = self.C, self.product_rows(Zt)
        for part in chunks(self.X.shape[2], 2 * C * C, UPDATE_ELEMENTS):
            T = (rows @ self.emb_t[:, part]).double().view(2, C, C, -1)
            probs = self.probs_t[:, None, part]
            T = self.root_t[:, None, part] * (T - (probs * T).sum(1, keepdim=True))
            X, Y = self.X[..., part], self.Y[..., part]
            out = T[:, :, :1] * T[None, None, 0, :, 0]
            for k in range(1, C):
                out.addcmul_(T[:, :, k:k + 1], T[None, None, 0, :, k])
            X.sub_(out[0], alpha=sign)
            Y.sub_(out[1] + out[1].transpose(0, 1), alpha=sign)
            for stat, value in zip(self.bounds[:, part], bound_statistics(X, Y)):
                stat.copy_(value)


class CompiledDesign(FisherDesign):
    """FisherDesign whose candidate updates run in kernels/bait_step.c, which reads each candidate's matrices once
    per change and, in the same pass, computes every candidate's exact score tr(Yᵢ(shift·I + Xᵢ)⁻¹) for the next
    step (shift = the change's sign: +1 while adding, the drop of an addition; −1 while removing, minus the rise
    of a removal), so no bounds are needed (`bounds` stay as at the start, unused): the same argmax as
    FisherDesign's best-first search."""

    def __init__(self, kernel, *args):
        super().__init__(*args)
        self.kernel = kernel
        self.scores, self.shift = self.X.new_empty(self.X.shape[2]), None
        self.buffer = self.emb_t.new_empty(2 * self.C * self.C * COMPILED_CHUNK)

    def restrict(self, rows):
        """Keep only candidates `rows` (and their scores), X and Y contiguous for the kernel."""
        super().restrict(rows)
        self.X, self.Y, self.scores = self.X.contiguous(), self.Y.contiguous(), self.scores[rows]

    def scored(self, shift):
        """Every candidate's tr(Yᵢ(shift·I + Xᵢ)⁻¹), computed unless the last change left them current."""
        if self.shift != shift:
            self.kernel.run(self.X, self.Y, self.root_t, self.probs_t, 0, self.X.shape[2], 0.0, shift,
                            score=self.scores)
            self.shift = shift
        return self.scores

    def best_addition(self, available):
        """(i, drop): the `available` candidate of the largest tr(Yᵢ(I + Xᵢ)⁻¹) (lowest position among ties)."""
        drops = self.scored(1.0).masked_fill(~available, -math.inf)
        i = int(drops.argmax())
        return i, float(drops[i])

    def raises(self):
        """Rise of tr(M⁻¹F) when candidate i leaves M: −tr(Yᵢ(Xᵢ − I)⁻¹)."""
        return -self.scored(-1.0)

    def update_candidates(self, Zt, sign):
        """Xᵢ, Yᵢ and the scores for shift = sign after the change, COMPILED_CHUNK candidates per product."""
        n, rows = self.X.shape[2], self.product_rows(Zt)
        for start in range(0, n, COMPILED_CHUNK):
            stop = min(start + COMPILED_CHUNK, n)
            T = self.buffer[:len(rows) * (stop - start)].view(len(rows), -1)
            torch.mm(rows, self.emb_t[:, start:stop], out=T)
            self.kernel.run(self.X, self.Y, self.root_t, self.probs_t, start, stop, sign, sign, T=T,
                            score=self.scores)
        self.shift = sign


def bait_select(probs, emb, labeled_mask, k, generator, lam=1.0):
    """BAIT batch of k unlabelled rows: M = λI + (Σ_L VᵀV + k·Σ_S VᵀV)/(|L| + k), F = mean VᵀV over the pool;
    2k greedy additions each maximising the drop of tr(M⁻¹F), then k removals each raising it least. Each pick's
    score is the drop of tr(M⁻¹F) at its addition. Deterministic: `generator` is not drawn from. Where the sums in
    the embeddings' float32 lose M's definiteness (entries of about 10⁴ and more against λ = 1: M has no Cholesky
    factor, or a gain is not finite), the selection is made again with the embeddings in float64."""
    cand = torch.nonzero(~labeled_mask).squeeze(1)
    check_budget(k, len(cand))
    with one_thread():
        chosen = greedy_picks(probs.double(), emb, labeled_mask, cand, k, lam)
        if chosen is None and emb.dtype != torch.float64:
            chosen = greedy_picks(probs.double(), emb.double(), labeled_mask, cand, k, lam)
    if chosen is None:
        raise ValueError("BAIT's Fisher matrices are not positive definite even in float64: the embeddings are too "
                         "large against λ; scale them down")
    return chosen.among(cand.cpu())


def greedy_picks(p, emb, labeled_mask, cand, k, lam):
    """forward_backward's picks on initial_design, or None where rounding in the embeddings' dtype left M without a
    Cholesky factor or a gain not finite."""
    design = initial_design(p, emb, labeled_mask, cand, k, lam)
    return None if design is None else forward_backward(design, k)


def initial_design(p, emb, labeled_mask, cand, k, lam):
    """FisherDesign for M = λI + Σ_L VᵀV/(|L| + k), F = mean VᵀV over the pool, candidates scaled by √(k/(|L| + k));
    None when M has no Cholesky factor."""
    n_lab = int(labeled_mask.sum())
    F = fisher_sum(p, emb) / len(p)
    M = fisher_sum(p[labeled_mask], emb[labeled_mask]) / (n_lab + k)
    M.diagonal().add_(lam)
    root, info = torch.linalg.cholesky_ex(M)
    if info:
        return None
    P = torch.cholesky_inverse(root)
    args = P, F, math.sqrt(k / (n_lab + k)) * p[cand].sqrt(), p[cand], emb[cand]
    kernel = bait_kernel.library() if emb.device.type == "cpu" else None
    return FisherDesign(*args) if kernel is None else CompiledDesign(kernel, *args)


def forward_backward(design, k):
    """Picks of positions among the design's candidates: min(2k, n) greedy additions, then removals down to k; each
    kept pick scored by the drop of tr(M⁻¹F) at its addition. None when a drop or a rise is not finite (rounding
    left the matrices far from positive definite)."""
    available = torch.ones(design.X.shape[2], dtype=torch.bool, device=design.X.device)
    picked, drops = [], []
    n_forward = min(OVERSAMPLE * k, len(available))
    steps = 2 * n_forward - k
    for step in range(n_forward):
        progress("bait greedy steps", step, steps)
        j, drop = design.best_addition(available)
        if not math.isfinite(drop):
            return None
        picked.append(j)
        drops.append(drop)
        available[j] = False
        design.change(j, 1)
    design.restrict(torch.tensor(picked, device=available.device))
    while len(picked) > k:
        progress("bait greedy steps", steps - len(picked) + k, steps)
        rises = design.raises()
        if not torch.isfinite(rises).all():
            return None
        drop = int(rises.argmin())
        design.change(drop, -1)
        del picked[drop], drops[drop]
        design.restrict(torch.arange(len(picked) + 1, device=available.device) != drop)
    return picks(picked, drops)


def regularisation_for(data_name):
    """BAIT's λ for a data set, as in the original: CIFAR_LAMBDA when the name contains "CIFAR" (any case), else 1."""
    return CIFAR_LAMBDA if "cifar" in data_name.lower() else 1.0


def bait_step_path():
    """The greedy step a CPU query will run: "compiled" where kernels/bait_step.c builds here, else "PyTorch"."""
    return "PyTorch" if bait_kernel.library() is None else "compiled"


def bait_query_seconds(n, n_classes, emb_dim, k, path):
    """Estimated CPU seconds of one BAIT selection of k from n points with C classes and d-wide embeddings by the
    greedy step `path` (STEP_RATES: stream, matrix): (n·C²·d²/2 + 2k·n·C²·(d + C)) / stream + 3k·(C·d)²·C / matrix."""
    C, d = n_classes, emb_dim
    stream, matrix = STEP_RATES[path]
    return (n * C * C * d * d / 2 + 2 * k * n * C * C * (d + C)) / stream + 3 * k * (C * d) ** 2 * C / matrix


class BaitSampling(Strategy):
    """`bait`: BAIT over the whole pool's probabilities and embeddings, regularised by λ (`lam`, from the data's
    name: data_parameters)."""

    takes_gradients = True
    name = "bait"

    def __init__(self, learner, labeled, generator, lam=1.0):
        super().__init__(learner, labeled, generator)
        self.lam = lam

    @classmethod
    def data_parameters(cls, data_name):
        """λ = regularisation_for(data_name)."""
        return {"lam": regularisation_for(data_name)}

    @classmethod
    def warn_if_expensive(cls, ds, model_name, n_emb, k):
        """One warning line when a query of k points on `ds` would take over EXPENSIVE_QUERY_SECONDS
        (bait_query_seconds, with the embedding width of the network `model_name`, for the step this CPU runs)."""
        n, C = len(ds.y_train), ds.n_classes
        d = build_model(model_name, tuple(ds.X_train.shape[1:]), C, n_emb, ds.name).emb_dim
        path = bait_step_path()
        seconds = bait_query_seconds(n, C, d, k, path)
        if seconds > EXPENSIVE_QUERY_SECONDS:
            warnings.warn(f"bait on {n} pool points ({C} classes, {d}-wide embeddings, --nQuery {k}) costs about "
                          f"{seconds:.0f} s per query on a 2-core CPU ({path} greedy step), "
                          f"O(k·n·C²·(d + C) + k·(C·d)²·C); a smaller --nQuery, --nEmb or --trunc is faster",
                          stacklevel=2)

    def select(self, n):
        probs, emb = self.learner.probs_embeddings(np.arange(self.n_pool))
        mask = torch.as_tensor(self.labeled, device=probs.device)
        return bait_select(probs, emb, mask, n, self.gen, lam=self.lam)
