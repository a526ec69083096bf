"""Greedy k-center (query_strategies/core_set.py) against a brute-force reference over the full n×n distance
matrix, and a check that the real implementation never allocates anything of that size."""
import math

import numpy as np
import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from query_strategies import core_set
from query_strategies.core_set import TIE_RTOL, coreset_select


def reference_kcenter(emb, labeled, k, first=None):
    """Every pairwise squared distance up front; each pick the unlabelled, unchosen point farthest from the
    labelled and chosen ones (lowest index among ties); no labelled point: the first pick is `first`."""
    X = emb.double().numpy()
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    near = D[:, labeled].min(1) if labeled.any() else D[:, first]
    near[labeled] = -np.inf
    picks = [] if labeled.any() else [first]
    near[picks] = -np.inf
    for _ in range(k - len(picks)):
        top = near.max()
        c = int(np.flatnonzero(near >= top * (1 - TIE_RTOL))[0])
        picks.append(c)
        near = np.minimum(near, D[:, c])
        near[picks] = -np.inf
    return picks


def problem(n, d, n_lab, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, d, generator=g).clamp_min(0).to(dtype)
    emb[n // 2:n // 2 + 8] = emb[n // 3]  # duplicated rows: exact ties
    labeled = torch.zeros(n, dtype=torch.bool)
    labeled[torch.randperm(n, generator=g)[:n_lab]] = True
    return emb, labeled


@pytest.mark.parametrize("n,d,n_lab,k,dtype", [(300, 8, 0, 60, torch.float32), (500, 16, 25, 120, torch.float64),
                                               (400, 4, 100, 300, torch.float32), (1500, 32, 60, 400, torch.float32),
                                               (2000, 2, 0, 300, torch.float32), (800, 1, 0, 100, torch.float64)])
def test_same_picks_as_brute_force(n, d, n_lab, k, dtype):
    """Low dimensions make many of the points with the largest stale distances lose them to a new centre, so
    the lazy refresh has to widen its set: the certificate matters there."""
    emb, labeled = problem(n, d, n_lab, seed=n + k, dtype=dtype)
    picks = coreset_select(emb, labeled, k, torch.Generator().manual_seed(k)).index.tolist()
    first = int(torch.randint(n, (1,), generator=torch.Generator().manual_seed(k)))  # a cold start's first centre
    assert picks == reference_kcenter(emb, labeled.numpy(), k, first)
    assert len(set(picks)) == k and not labeled[picks].any()


def test_a_cold_start_draws_its_first_centre_from_the_generator():
    """With nothing labelled every distance is +∞: the lowest index among those ties made row 0 the first pick of
    every seed, and so the whole cover the same for every seed. That draw's score is empty (NaN), as every random
    pick's in queries.csv: it was +∞."""
    emb, labeled = problem(200, 4, 0, seed=1)
    covers = [coreset_select(emb, labeled, 10, torch.Generator().manual_seed(s)) for s in range(5)]
    assert len({c.index[0] for c in covers}) > 1 and all(math.isnan(c.score[0]) for c in covers)
    assert all(np.isfinite(c.score[1:]).all() for c in covers)
    for c in covers:
        assert c.index.tolist() == reference_kcenter(emb, labeled.numpy(), 10, int(c.index[0]))


def test_clustered_data_gets_one_point_per_cluster_first():
    """Six tight, far-apart clusters, one of them labelled: the first five picks are in the five others."""
    g = torch.Generator().manual_seed(0)
    centres = 100 * torch.randn(6, 10, generator=g)
    emb = centres.repeat_interleave(50, 0) + torch.randn(300, 10, generator=g)
    labeled = torch.zeros(300, dtype=torch.bool)
    labeled[:50] = True
    picks = coreset_select(emb, labeled, 5, torch.Generator()).index
    assert sorted((picks // 50).tolist()) == [1, 2, 3, 4, 5]


def test_no_allocation_of_an_n_by_n_matrix():
    """n = 6000 with 500 labelled points: no single allocation reaches the 144 MB of an n×n float32 matrix."""
    emb, labeled = problem(6000, 8, 500, seed=1)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        picks = coreset_select(emb, labeled, 50, torch.Generator()).index
    assert len(set(picks.tolist())) == 50
    largest = max(max(e.cpu_memory_usage, 0) for e in prof.events())
    assert 0 < largest < 6000 * 6000 * 4 / 4


def test_budget_larger_than_the_unlabelled_pool_is_an_error():
    emb, labeled = problem(20, 3, 15, seed=0)
    with pytest.raises(ValueError, match="cannot choose 6 of 5"):
        coreset_select(emb, labeled, 6, torch.Generator()).index


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_same_picks_on_cuda():
    emb, labeled = problem(3000, 32, 100, seed=3)
    cpu = coreset_select(emb, labeled, 200, torch.Generator()).index
    cuda = coreset_select(emb.cuda(), labeled.cuda(), 200, torch.Generator()).index
    assert cuda.tolist() == cpu.tolist()


@pytest.mark.parametrize("catch_up", [0.0, 0.05, math.inf])
def test_catch_up_passes_leave_the_picks_unchanged(monkeypatch, catch_up):
    """Bringing every candidate up to date before each pick (0), once the lazy refreshes have cost 0.05 of it (a
    lower threshold than the default 0.1) or never (∞) gives the brute-force picks and scores,
    duplicated and labelled rows included."""
    monkeypatch.setattr(core_set, "CATCH_UP", catch_up)
    emb, labeled = problem(1200, 6, 150, seed=7)
    emb[900:940] = emb[:40]  # 40 more duplicated rows, some of them of labelled rows
    chosen = coreset_select(emb, labeled, 500, torch.Generator())
    assert chosen.index.tolist() == reference_kcenter(emb, labeled.numpy(), 500)
    X = emb.double()
    for i, c in enumerate(chosen.index):
        centres = torch.cat([labeled.nonzero().squeeze(1), torch.as_tensor(chosen.index[:i], dtype=torch.long)])
        assert chosen.score[i] == pytest.approx(float(((X[centres] - X[c]) ** 2).sum(1).min()), rel=1e-9, abs=1e-9)


def test_copies_of_centres_are_at_distance_zero_and_tie_to_the_lowest_index():
    """Rows 2 and 3 copy the labelled rows 0 and 1: both are at D² = 0 exactly, so the pick is row 2 with score 0,
    whatever rounding ‖a‖² + ‖b‖² − 2a·b leaves for large entries."""
    for seed in range(100):
        a, b = np.random.default_rng(seed).normal(size=(2, 9)) * 100
        p = coreset_select(torch.tensor(np.stack([a, b, a, b])), torch.tensor([True, True, False, False]), 1,
                           torch.Generator())
        assert (p.index.tolist(), p.score.tolist()) == ([2], [0.0]), seed


@pytest.mark.parametrize("exponent", [-600, 600])
def test_picks_do_not_depend_on_the_embeddings_scale(exponent):
    """Float64 embeddings × 2^exponent (exact): the picks of the unscaled ones, the scores × 4^exponent where float64
    holds them (2^-1200 is 0, 2^1200 is +∞). The squared distances overflowed at 2^600 (a RuntimeError from an
    empty max: every D was +∞ or NaN) and underflowed at 2^-600 (every D 0: the lowest indices) before the
    embeddings were rescaled."""
    emb, labeled = problem(400, 8, 30, seed=3, dtype=torch.float64)
    plain = coreset_select(emb, labeled, 40, torch.Generator().manual_seed(0))
    scaled = coreset_select(emb * 2.0 ** exponent, labeled, 40, torch.Generator().manual_seed(0))
    assert scaled.index.tolist() == plain.index.tolist()
    assert (scaled.score == (np.inf if exponent > 0 else 0.0)).all()
    assert np.array_equal(coreset_select(emb * 2.0 ** 500, labeled, 40, torch.Generator().manual_seed(0)).score,
                          plain.score * 4.0 ** 500)
