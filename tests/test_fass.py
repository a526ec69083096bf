"""FASS (query_strategies/fass.py) against a slow reference written from DISTIL's definition: the top_n·k most
entropic points, then plain greedy facility location on cosine similarities, f(S) evaluated from scratch."""
import math

import numpy as np
import pytest
import torch

from query_strategies.fass import cosine_noise, fass_select


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


def tied_inputs(n, d, C, seed):
    """Random (probs, emb): rows 1 and 2 copies of row 0, row 4 twice row 3 (the same cosines), row 5 a zero
    embedding."""
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(n, C, generator=g, dtype=torch.float64), 1)
    emb = torch.randn(n, d, generator=g, dtype=torch.float64)
    probs[1:3], emb[1:3] = probs[0], emb[0]
    probs[4], emb[4] = probs[3], 2 * emb[3]
    emb[5] = 0
    return probs, emb


def materialised_fass(probs, emb, k, top_n):
    """FASS as the m × m cosine matrix of F (the top_n·k rows of highest entropy, stable) and the plain greedy on
    it: every free column's gain Σ_i max(0, s_ij − m_i) at every pick (an excess within the cosines' rounding,
    cosine_noise, counted as 0), the first of those within m · noise of the largest taken (ties: both computations
    round, so exact equality would make rounding pick)."""
    p, x = probs.numpy(), emb.numpy()
    F = np.argsort((p * np.log(p)).sum(1), kind="stable")[:top_n * k]
    norm = np.linalg.norm(x[F], axis=1, keepdims=True)
    unit = np.divide(x[F], norm, out=np.zeros_like(x[F]), where=norm > 0)
    sim, noise = unit @ unit.T, cosine_noise(x.shape[1])
    cover, rows, gains = np.zeros(len(F)), [], []
    for _ in range(k):
        excess = sim - cover[:, None]
        gain = np.where(excess > noise, excess, 0).sum(0)
        gain[rows] = -np.inf
        rows.append(int(np.flatnonzero(gain >= gain.max() - len(F) * noise)[0]))
        gains.append(gain[rows[-1]])
        cover = np.maximum(cover, sim[:, rows[-1]])
    return F[rows].tolist(), gains


@pytest.mark.parametrize("n,d,k,top_n,seed", [(30, 2, 12, 5, 0), (30, 4, 8, 5, 1), (40, 3, 6, 4, 2), (25, 2, 20, 2, 3),
                                              (50, 6, 10, 3, 4), (20, 2, 20, 1, 5), (16, 3, 16, 2, 6),
                                              (400, 3, 30, 5, 7), (300, 4, 60, 5, 8)])
def test_same_picks_as_the_materialised_cosine_matrix(n, d, k, top_n, seed):
    """The columns computed block by block against the whole m × m matrix, with duplicate rows, a positive multiple
    of a row and a zero row (ties; with k = n, gains of 0 once every row is covered: the lowest position in F
    first); m above GAIN_BLOCK in the last two, so that the lazy greedy's bounds decide which columns are
    computed."""
    probs, emb = tied_inputs(n, d, 3, seed)
    got = fass_select(probs, emb, k, torch.Generator(), top_n=top_n)
    rows, gains = materialised_fass(probs, emb, k, top_n)
    assert got.index.tolist() == rows
    np.testing.assert_allclose(got.score, gains, rtol=1e-12, atol=1e-12)


def test_copies_of_picked_rows_add_exactly_nothing_and_ties_go_to_the_lowest_index():
    """Rows 4.. copy rows 0-3: once those are picked every gain is exactly 0, so the lowest indices follow with
    scores 0; an exact copy of a pick kept a gain of 5.6e-16 (its column rounded otherwise in another block of the
    product) and won: 8 after 4."""
    base = torch.tensor(np.random.default_rng(1).normal(size=(4, 3)))
    emb = base.repeat(5, 1)
    chosen = fass_select(torch.full((20, 2), 0.5, dtype=torch.float64), emb, 6, torch.Generator().manual_seed(0))
    assert sorted(chosen.index[:4].tolist()) == [0, 1, 2, 3] and chosen.index[4:].tolist() == [4, 5]
    assert (chosen.score[4:] == 0).all()
