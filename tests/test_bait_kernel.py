"""BAIT's compiled step (kernels/bait_step.c through kernels/bait.py) and its PyTorch fallback: the kernel's update
and scores against the formulas written in PyTorch, its edge cases (also in a build with AddressSanitizer and
UBSan), the checks at its C boundary, and both paths of bait_select picking the direct-inversion reference's
points, at the issue's size class too (n = 60,000 pool points, C = 10, 1,000 labelled) against a greedy that
recomputes every candidate's matrices from M⁻¹ at every step."""
import functools
import math

import pytest
import torch

import bait_kernel_cases
from bait_kernel_cases import step_inputs, torch_step
from cli import ROOT
from kernels import bait as bait_kernel
from query_strategies import bait_sampling
from query_strategies.bait_sampling import (CompiledDesign, FisherDesign, bait_select, block_quadratic_forms,
                                            fisher_sum, initial_design, sandwich)
from query_strategies.selection import one_thread
from sanitized import assert_clean_then_overrun, built_or_skip, sanitized_build
from test_bait import random_problem, reference_bait


@pytest.fixture
def compiled():
    """The compiled step, built into the session's cache when first needed; skips where it cannot be."""
    return built_or_skip(bait_kernel.state, "bait step")


@pytest.fixture(params=["compiled", "torch"])
def path(request, monkeypatch):
    """bait_select with the compiled step, or on a machine without a working C compiler ($CC=false): PyTorch's."""
    if request.param == "compiled":
        request.getfixturevalue("compiled")
    else:
        monkeypatch.setenv("CC", "false")
    bait_kernel.state.cache_clear()
    yield request.param
    bait_kernel.state.cache_clear()


def design_class(probs, emb, labeled):
    cand = torch.nonzero(~labeled).squeeze(1)
    return type(initial_design(probs, emb, labeled, cand, 3, 1.0))


def test_the_path_fixture_selects_the_design(path):
    probs, emb, labeled = random_problem(30, 3, 4, 5, seed=0)
    assert design_class(probs, emb, labeled) is (CompiledDesign if path == "compiled" else FisherDesign)
    assert (bait_kernel.library() is None) == (path == "torch")


@pytest.mark.parametrize("C, n, t_dtype", [(10, 23, torch.float32), (10, 8, torch.float64), (3, 5, torch.float32),
                                          (26, 6, torch.float64), (1, 3, torch.float32)])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_kernel_step_matches_the_formulas_in_pytorch(compiled, C, n, t_dtype, sign):
    """Whole vectors of 4 candidates and a remainder; C = 10 (the specialised build) and other class counts; the
    update on a chunk in the middle leaves the rest alone; scores alone, for both shifts."""
    X, Y, probs, root, T = step_inputs(C, n, seed=C + n, t_dtype=t_dtype)
    start, stop = 1, n - 1
    Xk, Yk, score = X.clone(), Y.clone(), torch.full((n,), math.nan, dtype=torch.float64)
    compiled.run(Xk, Yk, root.T.contiguous(), probs.T.contiguous(), start, stop, sign, sign,
                 T=T[:, start:stop].contiguous(), score=score)
    part = slice(start, stop)
    Xe, Ye, se = torch_step(X[..., part], Y[..., part], probs[part], root[part], T[:, part], sign, sign)
    assert torch.allclose(Xk[..., part], Xe, rtol=1e-12, atol=1e-14)
    assert torch.allclose(Yk[..., part], Ye, rtol=1e-12, atol=1e-14)
    assert torch.allclose(score[part], se, rtol=1e-10)
    assert torch.equal(Xk[..., [0, -1]], X[..., [0, -1]]) and score[[0, -1]].isnan().all()
    for shift in (1.0, -1.0):
        Xs = Xk if shift == 1.0 else Xk / (2 * torch.linalg.eigvalsh(Xk.permute(2, 0, 1)).max())  # below I
        compiled.run(Xs, Yk, root.T.contiguous(), probs.T.contiguous(), 0, n, 0.0, shift, score=score)
        _, _, expected = torch_step(Xs, Yk, probs, root, torch.zeros_like(T), 0.0, shift)
        assert torch.allclose(score, expected, rtol=1e-10)


def test_kernel_refuses_what_it_cannot_read(compiled):
    X, Y, probs, root, T = step_inputs(4, 10, seed=0, t_dtype=torch.float32)
    root_t, probs_t = root.T.contiguous(), probs.T.contiguous()
    with pytest.raises(ValueError, match="chunk 5..11 is not within 0..10"):
        compiled.run(X, Y, root_t, probs_t, 5, 11, 1.0, 1.0)
    with pytest.raises(ValueError, match="T must be .* of shape \\(32, 4\\)"):
        compiled.run(X, Y, root_t, probs_t, 0, 4, 1.0, 1.0, T=T)
    with pytest.raises(ValueError, match="X must be a contiguous"):
        compiled.run(X.transpose(0, 1), Y, root_t, probs_t, 0, 10, 1.0, 1.0)
    with pytest.raises(ValueError, match="probs_t must be .*float64"):
        compiled.run(X, Y, root_t, probs_t.float(), 0, 10, 1.0, 1.0)
    with pytest.raises(ValueError, match="score must be"):
        compiled.run(X, Y, root_t, probs_t, 0, 10, 0.0, 1.0, score=torch.empty(9, dtype=torch.float64))
    with pytest.raises(ValueError, match="shift must be 1 or -1"):
        compiled.run(X, Y, root_t, probs_t, 0, 10, 0.0, 0.5, score=torch.empty(10, dtype=torch.float64))



@pytest.mark.parametrize("case", bait_kernel_cases.EDGES, ids=str)
def test_kernel_edge_cases_match_the_formulas_in_pytorch(compiled, case):
    """C = 1 and 2, chunks of 1 and 513 candidates, float and double T, scores only, the update only."""
    bait_kernel_cases.check(compiled, case)


@pytest.fixture(scope="module")
def sanitized(tmp_path_factory):
    """(library, environment) for bait_step.c built with AddressSanitizer and UBSan (sanitized.py) at -O1: at -O3
    the sanitizers' build took 38 CPU-s, 170 s on the loaded machine, over kernels.COMPILE_SECONDS (-O1: 14 CPU-s);
    skips where the step cannot be built at all."""
    if bait_kernel.library() is None:
        pytest.skip(f"the compiled bait step cannot be built here: {bait_kernel.state()[1]}")
    return sanitized_build(tmp_path_factory.mktemp("sanitized"), bait_kernel.SOURCE, "-O1")


def test_the_edge_cases_run_clean_under_address_and_undefined_behaviour_sanitizers(sanitized):
    """Every edge case matches the formulas with no report; then an overrun forced past kernels/bait.py's checks is
    reported (the sanitizer is live)."""
    assert_clean_then_overrun(ROOT / "tests" / "bait_kernel_cases.py", *sanitized, len(bait_kernel_cases.EDGES))

@pytest.mark.parametrize("n,C,d,n_lab,k,lam,seed", [
    (40, 3, 4, 6, 4, 1.0, 0),
    (50, 4, 3, 10, 5, 0.01, 1),
    (25, 3, 3, 12, 6, 1.0, 3),  # 2k = 12 of 13 candidates
    (120, 10, 3, 20, 6, 1.0, 4),  # C = 10: the compiled step's unrolled build
])
def test_both_paths_match_direct_inversion_reference(path, n, C, d, n_lab, k, lam, seed):
    probs, emb, labeled = random_problem(n, C, d, n_lab, seed)
    assert bait_select(probs, emb, labeled, k, torch.Generator(), lam=lam).index.tolist() == \
        reference_bait(probs, emb, labeled, k, lam)


def test_both_paths_pick_the_same_float32_batch_at_moderate_size(monkeypatch):
    """2,000 points, 10 classes, float32 embeddings as from a model: 60 greedy additions and 30 removals over chunks
    of the compiled step and of PyTorch's update, the same picks in the same order with the same scores."""
    probs, emb, labeled = random_problem(2000, 10, 12, 200, seed=9, dtype=torch.float32)
    if bait_kernel.library() is None:
        pytest.skip(f"the compiled bait step cannot be built here: {bait_kernel.state()[1]}")
    monkeypatch.setattr(bait_sampling, "COMPILED_CHUNK", 300)
    compiled = bait_select(probs.float(), emb, labeled, 30, torch.Generator())
    monkeypatch.setenv("CC", "false")
    bait_kernel.state.cache_clear()
    try:
        fallback = bait_select(probs.float(), emb, labeled, 30, torch.Generator())
    finally:
        bait_kernel.state.cache_clear()
    assert compiled.index.tolist() == fallback.index.tolist()
    assert torch.allclose(torch.as_tensor(compiled.score), torch.as_tensor(fallback.score), rtol=1e-9)


def direct_greedy(probs, emb, labeled, k, lam):
    """BAIT's greedy with every candidate's Xᵢ = ṼᵢM⁻¹Ṽᵢᵀ and Yᵢ = ṼᵢM⁻¹FM⁻¹Ṽᵢᵀ recomputed from M⁻¹ (inverted
    afresh) at every step, in float64: 2k additions of the largest tr(Yᵢ(I + Xᵢ)⁻¹), then k removals of the
    smallest −tr(Yᵢ(Xᵢ − I)⁻¹) among the picks."""
    p, e = probs.double(), emb.double()
    n_lab, C = int(labeled.sum()), p.shape[1]
    cand = torch.nonzero(~labeled).squeeze(1)
    F = fisher_sum(p, e) / len(p)
    M = fisher_sum(p[labeled], e[labeled]) / (n_lab + k) + lam * torch.eye(F.shape[0], dtype=torch.float64)
    root = math.sqrt(k / (n_lab + k)) * p[cand].sqrt()

    def scores(rows, shift):
        P = torch.linalg.inv(M)
        P = (P + P.T) / 2
        X = sandwich(root[rows], p[cand][rows], block_quadratic_forms(P, e[cand][rows]))
        Y = sandwich(root[rows], p[cand][rows], block_quadratic_forms(P @ F @ P, e[cand][rows]))
        return torch.linalg.solve(shift * torch.eye(C, dtype=torch.float64) + X, Y).diagonal(dim1=1, dim2=2).sum(1)

    def joined(i, sign):
        return sign * k / (n_lab + k) * fisher_sum(p[cand[i:i + 1]], e[cand[i:i + 1]])

    picked = []
    for _ in range(2 * k):
        drops = scores(torch.arange(len(cand)), 1.0)
        drops[picked] = -math.inf
        picked.append(int(drops.argmax()))
        M = M + joined(picked[-1], 1)
    while len(picked) > k:
        worst = picked[int((-scores(torch.tensor(picked), -1.0)).argmin())]
        picked.remove(worst)
        M = M + joined(worst, -1)
    return cand[picked].tolist()


@functools.cache
def issue_size_problem(k=3):
    """n = 60,000 pool points of which 1,000 labelled, C = 10 (selection_speed.py's inputs: e = max(0, N(0, 1)),
    p = softmax(3·N(0, 1)), float32), d = 12 so that the from-scratch greedy runs in seconds; (probs, emb, labeled,
    k, the from-scratch greedy's picks)."""
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(60_000, 12, generator=g).clamp_min_(0)
    probs = torch.softmax(3 * torch.randn(60_000, 10, generator=g), dim=-1)
    labeled = torch.zeros(60_000, dtype=torch.bool)
    labeled[:1000] = True
    with one_thread():
        return probs, emb, labeled, k, direct_greedy(probs, emb, labeled, k, 1.0)


def test_both_paths_match_a_from_scratch_greedy_at_the_issues_size(path):
    """The code of ed9a4c6 (before the compiled step) picks the same points in the same order here."""
    probs, emb, labeled, k, expected = issue_size_problem()
    assert bait_select(probs, emb, labeled, k, torch.Generator()).index.tolist() == expected
