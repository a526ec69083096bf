"""Inputs for BAIT's compiled step (kernels/bait_step.c) and the formulas it must match, written in PyTorch.
test_bait_kernel.py checks the kernel against them; run as a script, this file runs EDGES with the library given
(the suite runs it on a build with AddressSanitizer and UBSan, in a process that preloads the sanitizer's runtime):

    python tests/bait_kernel_cases.py LIBRARY            # every edge case against the formulas; prints "ok N"
    python tests/bait_kernel_cases.py LIBRARY --overrun  # then tells the kernel one candidate more than X holds"""
import ctypes
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernels import bait as bait_kernel  # noqa: E402
from query_strategies.bait_sampling import factor_times  # noqa: E402
from sanitized import run_edge_cases  # noqa: E402


def step_inputs(C, n, seed, t_dtype):
    """Random symmetric X (PSD, small) and Y, probabilities, roots and the change's products T."""
    g = torch.Generator().manual_seed(seed)
    B = torch.randn(n, C, C, generator=g, dtype=torch.float64) / (3 * C)
    X = (B @ B.transpose(1, 2)).permute(1, 2, 0).contiguous()
    Y = (B.transpose(1, 2) @ B).permute(1, 2, 0).contiguous()
    probs = torch.softmax(torch.randn(n, C, generator=g, dtype=torch.float64), 1)
    root = 0.7 * probs.sqrt()
    T = (torch.randn(2 * C * C, n, generator=g, dtype=torch.float64) / (4 * C)).to(t_dtype)
    return X, Y, probs, root, T


def torch_step(X, Y, probs, root, T, sign, shift):
    """The formulas of bait_step.c in PyTorch: G = ÃT, J = ÃT', X − sign·GGᵀ, Y − sign·(JGᵀ + GJᵀ) and
    tr(Y(shift·I + X)⁻¹), with points first."""
    C, n = probs.shape[1], len(probs)
    T = T.double().view(2, C, C, n).permute(0, 3, 1, 2)
    G, J = factor_times(root, probs, T[0]), factor_times(root, probs, T[1])
    Xn = X.permute(2, 0, 1) - sign * G @ G.transpose(1, 2)
    Yn = Y.permute(2, 0, 1) - sign * (J @ G.transpose(1, 2) + G @ J.transpose(1, 2))
    score = torch.linalg.solve(shift * torch.eye(C, dtype=torch.float64) + Xn, Yn).diagonal(dim1=1, dim2=2).sum(1)
    return Xn.permute(1, 2, 0), Yn.permute(1, 2, 0), score


@dataclass(frozen=True)
class Case:
    """C classes, n candidates of which start .. stop are given to the kernel; T of `t_dtype` (None: scores only,
    no update), scores computed when `scores`; the change's sign and the scores' shift."""
    C: int
    n: int
    start: int
    stop: int
    t_dtype: torch.dtype = torch.float32
    scores: bool = True
    sign: float = 1.0
    shift: float = 1.0


EDGES = [Case(2, 1, 0, 1), Case(2, 3, 1, 2, torch.float64, sign=-1.0, shift=-1.0), Case(1, 2, 1, 2),
         Case(3, 513, 0, 513), Case(10, 515, 1, 514, torch.float64), Case(10, 513, 0, 513, sign=-1.0, shift=-1.0),
         Case(26, 6, 0, 1, torch.float64), Case(2, 1, 0, 1, None), Case(10, 513, 0, 513, None, shift=-1.0),
         Case(4, 7, 2, 7, scores=False, sign=-1.0), Case(10, 5, 0, 5, torch.float64, scores=False)]
# C = 2 and 1, a chunk of one candidate (alone, in the middle), of 513 (128 vectors and a remainder of one),
# C = 10 (the specialised build), float and double T, no T (scores only), no scores (the update only)


def run_case(step, case):
    """(X, Y, score) after the kernel ran `case` on copies of its inputs (score NaN where not computed), and the
    expected values from torch_step (on the chunk only; X and Y outside it unchanged)."""
    X, Y, probs, root, T = step_inputs(case.C, case.n, seed=case.C + case.n, t_dtype=case.t_dtype or torch.float64)
    if case.shift == -1.0:
        X = X / (2 * torch.linalg.eigvalsh(X.permute(2, 0, 1)).max())  # below I, so that X − I stays definite
    part = slice(case.start, case.stop)
    Xk, Yk, score = X.clone(), Y.clone(), torch.full((case.n,), math.nan, dtype=torch.float64)
    step.run(Xk, Yk, root.T.contiguous(), probs.T.contiguous(), case.start, case.stop, case.sign, case.shift,
             T=None if case.t_dtype is None else T[:, part].contiguous(), score=score if case.scores else None)
    sign = 0.0 if case.t_dtype is None else case.sign
    Xe, Ye, expected = X.clone(), Y.clone(), torch.full((case.n,), math.nan, dtype=torch.float64)
    Xe[..., part], Ye[..., part], chunk_score = torch_step(X[..., part], Y[..., part], probs[part], root[part],
                                                           T[:, part], sign, case.shift)
    if case.scores:
        expected[part] = chunk_score
    return (Xk, Yk, score), (Xe, Ye, expected)


def check(step, case):
    """AssertionError unless the kernel's X, Y and scores for `case` match the formulas."""
    (Xk, Yk, score), (Xe, Ye, expected) = run_case(step, case)
    assert torch.allclose(Xk, Xe, rtol=1e-12, atol=1e-14), (case, (Xk - Xe).abs().max())
    assert torch.allclose(Yk, Ye, rtol=1e-12, atol=1e-14), (case, (Yk - Ye).abs().max())
    assert torch.allclose(score, expected, rtol=1e-10, equal_nan=True), (case, score, expected)


def overrun(step):
    """Calls the kernel with an argument structure that claims one candidate more than X and Y hold (an
    out-of-bounds read that a sanitized build reports)."""
    X, Y, probs, root, _ = step_inputs(3, 8, seed=0, t_dtype=torch.float64)
    root_t, probs_t = root.T.contiguous(), probs.T.contiguous()
    score = torch.empty(8, dtype=torch.float64)
    args = bait_kernel.Step(T=None, t_stride=0, t_double=0, root=root_t.data_ptr(), probs=probs_t.data_ptr(),
                            n_stride=8, X=X.data_ptr(), Y=Y.data_ptr(), xy_stride=8, score=score.data_ptr(), C=3,
                            m=9, sign=0.0, shift=1.0)
    step.lib.bait_step(ctypes.byref(args))


if __name__ == "__main__":
    run_edge_cases(bait_kernel.load, EDGES, check, overrun, *sys.argv[1:])
