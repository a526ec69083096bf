"""The k-DPP baseline (query_strategies/kdpp_sampling.py): swap ratios and inverse updates against brute-force
determinants and inverses, the chain's stationary distribution (a long chain) against det L_S, the paper's
short default chain, and singular pools."""
import itertools

import numpy as np
import pytest
import torch
from scipy import stats

from query_strategies.selection import gradient_factor
from query_strategies.kdpp_sampling import Kernel, independent_start, kdpp_select, swap_ratio, swapped_inverse


def explicit_kernel(probs, emb):
    """L = G Gᵀ with G the explicit gradient embeddings (onehot(ŷ) − p) ⊗ e."""
    a = gradient_factor(probs)
    G = torch.einsum("nc,nd->ncd", a, emb.double()).reshape(len(a), -1)
    return G @ G.T


def inputs(n, d, C, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(3 * torch.randn(n, C, generator=g), 1), torch.randn(n, d, generator=g).clamp_min(0)


def test_swap_ratio_and_inverse_match_brute_force():
    probs, emb = inputs(40, 6, 4, seed=0)
    L = explicit_kernel(probs, emb)
    S = [1, 4, 7, 9, 12, 30]
    L_inv = torch.linalg.inv(L[S][:, S])
    for v, p in itertools.product([0, 20, 25, 39], range(len(S))):
        ratio, w = swap_ratio(L_inv, L[S, v], L[v, v], p)
        T = S[:p] + [v] + S[p + 1:]
        expected = torch.linalg.det(L[T][:, T]) / torch.linalg.det(L[S][:, S])
        assert float(ratio) == pytest.approx(float(expected), rel=1e-8)
        updated = swapped_inverse(L_inv, w, float(ratio), p)
        truth = torch.linalg.inv(L[T][:, T])
        assert torch.allclose(updated, truth, rtol=1e-6, atol=1e-8 * float(truth.abs().max()))


def test_kernel_blocks_are_the_gradient_inner_products():
    probs, emb = inputs(15, 5, 3, seed=1)
    kernel, L = Kernel(gradient_factor(probs), emb), explicit_kernel(probs, emb)
    rows, cols = torch.tensor([0, 3, 14]), torch.tensor([2, 3, 5, 9])
    assert torch.allclose(kernel.block(rows, cols), L[rows][:, cols])
    assert torch.allclose(kernel.diag, L.diag())


def test_start_is_the_random_order_when_independent_and_skips_dependent_points():
    probs, emb = inputs(30, 8, 4, seed=2)
    emb[5], probs[5] = emb[3], probs[3]  # 5 duplicates 3
    probs[11] = torch.eye(4)[0]  # a one-hot prediction: zero gradient
    order = torch.tensor([3, 5, 11, 0, 1, 2, 4, 6, 7, 8])
    S, L_inv = independent_start(Kernel(gradient_factor(probs), emb), order, 5)
    assert S.tolist() == [3, 0, 1, 2, 4]
    L = explicit_kernel(probs, emb)
    assert torch.allclose(L_inv @ L[S][:, S], torch.eye(5, dtype=torch.float64), atol=1e-8)


def test_chain_samples_the_k_dpp():
    """n = 5, k = 2, 40 steps per chain, 600 chains: subset frequencies against det L_S / Σ det (chi-square)."""
    probs, emb = inputs(5, 3, 3, seed=3)
    L = explicit_kernel(probs, emb).numpy()
    subsets = list(itertools.combinations(range(5), 2))
    dets = np.array([np.linalg.det(L[np.ix_(s, s)]) for s in subsets])
    seen = [tuple(sorted(kdpp_select(probs, emb, 2, torch.Generator().manual_seed(s), steps=40).index.tolist()))
            for s in range(600)]
    counts = np.array([seen.count(s) for s in subsets])
    assert stats.chisquare(counts, 600 * dets / dets.sum()).pvalue > 1e-3


def test_the_default_chain_is_the_paper_s_5_k_ln_k_steps():
    """The paper's short chain: 5·k·ln k swaps (16 at k = 3), none at k = 1 (the random non-singular start)."""
    probs, emb = inputs(40, 4, 3, seed=5)

    def chain(k, seed, steps=None):
        return kdpp_select(probs, emb, k, torch.Generator().manual_seed(seed), steps=steps).index.tolist()
    assert all(chain(3, s) == chain(3, s, steps=16) for s in range(20))
    assert any(chain(3, s) != chain(3, s, steps=15) for s in range(20))
    assert all(chain(1, s) == chain(1, s, steps=0) for s in range(20))


def test_distinct_points_with_nonzero_gradient_and_reproducible():
    probs, emb = inputs(300, 16, 10, seed=4)
    probs[::3] = torch.eye(10)[0]  # a third of the pool has zero gradient: never in a set of positive det
    picks = kdpp_select(probs, emb, 30, torch.Generator().manual_seed(9)).index
    assert len(set(picks.tolist())) == 30 and all(i % 3 for i in picks.tolist())
    assert picks.tolist() == kdpp_select(probs, emb, 30, torch.Generator().manual_seed(9)).index.tolist()


def test_rank_below_k_still_gives_k_distinct_points():
    """Four distinct points repeated: rank(L) ≤ 4 < k, so the chain runs on L + εI."""
    probs, emb = inputs(4, 6, 3, seed=5)
    picks = kdpp_select(probs.repeat(10, 1), emb.repeat(10, 1), 7, torch.Generator().manual_seed(0)).index
    assert len(set(picks.tolist())) == 7
    everything = kdpp_select(probs, emb, 4, torch.Generator().manual_seed(0)).index
    assert sorted(everything.tolist()) == [0, 1, 2, 3]


def test_rank_below_k_with_a_tiny_largest_gradient():
    """Saturated predictions: every gradient 0 but one of squared norm 4e-50, so ε = 4e-56. Kernel.block added ε
    in float32, where it is 0: the chain's periodic L_S⁻¹ met a singular L_S, a LinAlgError (`run.py --alg
    baseline --model lin` on digits' features × 1000)."""
    probs = torch.eye(3, dtype=torch.float64)[torch.arange(30) % 3]
    probs[0, 1] = 1e-25  # a = onehot − p = (0, −1e-25, 0) in float64
    picks = kdpp_select(probs, torch.ones(30, 4), 10, torch.Generator().manual_seed(0)).index
    assert len(set(picks.tolist())) == 10


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_same_picks_on_cuda():
    probs, emb = inputs(2000, 32, 10, seed=6)
    cpu = kdpp_select(probs, emb, 40, torch.Generator().manual_seed(1)).index
    cuda = kdpp_select(probs.cuda(), emb.cuda(), 40, torch.Generator().manual_seed(1)).index
    assert cuda.tolist() == cpu.tolist()


def saturated(seed, eps=(1e-8, 1e-161, 1e-81, 1e-120)):
    """float64 predictions saturated to gradients a = onehot − p = (0, −ε, 0) (p_0 = 1 − ε rounds to 1) on rows 0,
    4, 8, ... for the given ε, zero on the other rows; embeddings N(0, 1) from `seed`. With ε = 1e-161,
    ‖a‖² = 1e-322 is subnormal and 1/L_ii overflows."""
    probs = torch.eye(3, dtype=torch.float64)[torch.zeros(4 * len(eps), dtype=torch.long)]
    for i, e in enumerate(eps):
        probs[4 * i, 1] = e
    return probs, torch.randn(len(probs), 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("seed", range(6))
def test_the_start_takes_no_point_whose_schur_complement_is_not_normal(seed):
    """Row 4's Schur complement 1e-322 put +inf in L_S⁻¹; the next Schur complements came out NaN, which
    `schur <= INDEPENDENT · L_vv` let through: rows of zero gradient joined a start of det L_S = 0."""
    probs, emb = saturated(seed)
    kernel = Kernel(gradient_factor(probs), emb)
    S, L_inv = independent_start(kernel, torch.randperm(16, generator=torch.Generator().manual_seed(seed)), 3)
    assert sorted(S.tolist()) == [0, 8, 12] and torch.isfinite(L_inv).all()


def test_rank_below_k_with_gradients_below_a_normal_jitter():
    """Every gradient (0, −1e-153, 0), ‖a‖² = 1e-306: 1e-6 · max L_ii is subnormal, so no Schur complement on
    L + εI would count as nonzero; the jitter is then 1, and the chain still gives k distinct points."""
    probs = torch.eye(3, dtype=torch.float64)[torch.zeros(8, dtype=torch.long)]
    probs[:, 1] = 1e-153
    picks = kdpp_select(probs, torch.ones(8, 4, dtype=torch.float64), 5, torch.Generator().manual_seed(0)).index
    assert len(set(picks.tolist())) == 5


@pytest.mark.parametrize("seed", range(10))
def test_an_overflowing_inverse_update_is_recomputed_and_nan_ratios_rejected(seed):
    """Gradients with ε = 1e-8, 1e-140, 1e-60 (L_ii from 1e-16 down to 1e-280): a swap's rank-one update of L_S⁻¹
    overflowed to NaN, and `ratio <= floor or coin >= ratio` (False for NaN) accepted the next swaps: rows of zero
    gradient entered S and the periodic L_S⁻¹ met a singular L_S, a LinAlgError (seeds 1 and 7)."""
    probs, emb = saturated(seed, (1e-8, 1e-140, 1e-60))
    picks = kdpp_select(probs, emb, 2, torch.Generator().manual_seed(seed)).index.tolist()
    assert len(set(picks)) == 2 and set(picks) <= {0, 4, 8}
