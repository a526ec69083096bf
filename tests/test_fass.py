"""FASS (query_strategies/fass.py) against a slow reference written from DISTIL's definition: the top_n·k most
entropic points, then plain greedy facility location on cosine similarities, f(S) evaluated from scratch."""
import math

import numpy as np
import pytest
import torch

from query_strategies.fass import fass_select


def facility_location(S, sim, F):
    """f(S) = Σ_{i∈F} max(0, max_{j∈S} sim[i][j])."""
    return sum(max([0.0] + [sim[i][j] for j in S]) for i in F)


def reference_fass(probs, emb, k, top_n):
    p, x = probs.tolist(), emb.tolist()
    H = [-sum(q * math.log(q) for q in row if q > 0) for row in p]
    F = sorted(range(len(p)), key=lambda i: -H[i])[:top_n * k]
    norm = [math.sqrt(sum(v * v for v in row)) for row in x]
    sim = {i: {j: sum(a * b for a, b in zip(x[i], x[j])) / (norm[i] * norm[j]) for j in F} for i in F}
    S, gains = [], []
    for _ in range(k):
        base = facility_location(S, sim, F)
        gain = {j: facility_location(S + [j], sim, F) - base for j in F if j not in S}
        j = max(gain, key=lambda j: gain[j])
        S.append(j)
        gains.append(gain[j])
    return S, gains


@pytest.mark.parametrize("n,d,C,k,top_n,seed", [(60, 5, 3, 6, 5, 0), (40, 3, 4, 10, 2, 1), (30, 8, 2, 8, 5, 2),
                                                (80, 4, 5, 12, 3, 3)])
def test_same_picks_as_plain_greedy(n, d, C, k, top_n, seed):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(n, C, generator=g, dtype=torch.float64), 1)
    emb = torch.randn(n, d, generator=g, dtype=torch.float64)
    got = fass_select(probs, emb, k, torch.Generator(), top_n=top_n)
    rows, gains = reference_fass(probs, emb, k, top_n)
    assert got.index.tolist() == rows
    np.testing.assert_allclose(got.score, gains, rtol=1e-9)


def test_only_uncertain_points_are_picked_and_spread_out():
    """Three tight groups of uncertain points and many certain ones: one pick per uncertain group."""
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(3, dtype=torch.float64)
    emb = torch.cat([centres.repeat_interleave(5, 0) + 0.01 * torch.randn(15, 3, generator=g, dtype=torch.float64),
                     torch.rand(45, 3, generator=g, dtype=torch.float64)])
    probs = torch.cat([torch.full((15, 2), 0.5, dtype=torch.float64),
                       torch.tensor([[0.99, 0.01]], dtype=torch.float64).repeat(45, 1)])
    got = fass_select(probs, emb, 3, torch.Generator(), top_n=5).index
    assert sorted(got // 5) == [0, 1, 2]
