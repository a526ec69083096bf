"""Uncertainty herding (query_strategies/uherding.py) against a slow reference written from the paper's definition:
plain greedy maximisation of UC(S) = Σ_i u_i max_{j ∈ L ∪ S} k(x_i, x_j), evaluated from scratch for every candidate."""
import math

import numpy as np
import pytest
import torch

from query_strategies.uherding import uherding_select


def unit(v):
    norm = math.sqrt(sum(a * a for a in v))
    return [a / norm for a in v]


def kernel(a, b, sigma):
    return math.exp(-sum((p - q) ** 2 for p, q in zip(a, b)) / (2 * sigma ** 2))


def coverage(S, x, labelled, u, sigma):
    """UC(S) = Σ_i u_i max(0, max over the labelled points and S of k(x_i, ·))."""
    centres = labelled + [x[j] for j in S]
    return sum(u[i] * max([0.0] + [kernel(x[i], c, sigma) for c in centres]) for i in range(len(x)))


def reference_uherding(probs, emb, labelled_emb, k, sigma):
    u = [1 - (sorted(row)[-1] - sorted(row)[-2]) for row in probs.tolist()]
    x = [unit(row) for row in emb.tolist()]
    labelled = [unit(row) for row in labelled_emb.tolist()]
    S, gains = [], []
    for _ in range(k):
        base = coverage(S, x, labelled, u, sigma)
        gain = {j: coverage(S + [j], x, labelled, u, sigma) - base for j in range(len(x)) if j not in S}
        j = max(gain, key=lambda j: gain[j])
        S.append(j)
        gains.append(gain[j])
    return S, gains


@pytest.mark.parametrize("n,n_lab,d,C,k,sigma,seed", [(40, 0, 5, 3, 6, 0.5, 0), (30, 5, 3, 4, 10, 0.3, 1),
                                                      (50, 10, 8, 2, 8, 1.0, 2), (70, 3, 4, 5, 12, 0.2, 3)])
def test_same_picks_as_plain_greedy(n, n_lab, d, C, k, sigma, seed):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(n, C, generator=g, dtype=torch.float64), 1)
    emb = torch.randn(n, d, generator=g, dtype=torch.float64)
    labelled_emb = torch.randn(n_lab, d, generator=g, dtype=torch.float64)
    got = uherding_select(probs, emb, labelled_emb, k, torch.Generator(), sigma=sigma)
    rows, gains = reference_uherding(probs, emb, labelled_emb, k, sigma)
    assert got.index.tolist() == rows
    np.testing.assert_allclose(got.score, gains, rtol=1e-9)


def groups():
    """Three tight groups of 5 uncertain points (rows 0-14) on the axes, then 45 certain points spread out."""
    g = torch.Generator().manual_seed(0)
    emb = torch.cat([torch.eye(3, dtype=torch.float64).repeat_interleave(5, 0)
                     + 0.01 * torch.randn(15, 3, generator=g, dtype=torch.float64),
                     torch.rand(45, 3, generator=g, dtype=torch.float64) - 0.5])
    probs = torch.cat([torch.full((15, 2), 0.5, dtype=torch.float64),
                       torch.tensor([[0.99, 0.01]], dtype=torch.float64).repeat(45, 1)])
    return probs, emb


def test_one_pick_per_uncertain_group():
    probs, emb = groups()
    got = uherding_select(probs, emb, emb[:0], 3, torch.Generator(), sigma=0.2).index
    assert sorted(got // 5) == [0, 1, 2]


def test_a_group_covered_by_a_labelled_point_is_left_alone():
    probs, emb = groups()
    got = uherding_select(probs, emb, emb[:1], 2, torch.Generator(), sigma=0.2).index
    assert sorted(got // 5) == [1, 2]
