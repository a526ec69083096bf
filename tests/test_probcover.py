"""ProbCover (query_strategies/probcover.py) against dense brute force, against scikit-activeml's ProbCover on
the same embeddings, and its purity-chosen δ against scikit-activeml's grid search."""
import math

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from skactiveml.pool import ProbCover as SkProbCover
from skactiveml.utils import MISSING_LABEL

import query_strategies.probcover as pc
from query_strategies.probcover import normalised, pair_dots, probcover_select, purity_delta


def unit_rows(n, d, seed):
    return normalised(torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))


def dense_greedy(x, labeled, k, delta):
    """Brute force on the dense n×n distance matrix; (picks, their coverage gains). No ball with an uncovered
    point left -> the pick is left as -1 (random in the algorithm)."""
    x = x.numpy()
    return greedy_on(np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1)) < delta, labeled, k)


def greedy_on(edge, labeled, k):
    """dense_greedy on the boolean n×n ball graph `edge`."""
    covered = edge[labeled].any(0)
    open_, picks, gains = ~labeled.copy(), [], []
    for _ in range(k):
        deg = np.where(open_, (edge & ~covered).sum(1), -1)
        c = int(np.argmax(deg))
        if deg[c] == 0:
            return picks, gains
        picks.append(c), gains.append(int(deg[c]))
        open_[c] = False
        covered |= edge[c]
    return picks, gains


@pytest.mark.parametrize("n,d,k,n_lab,delta,seed", [(120, 3, 8, 5, 0.5, 0), (200, 5, 10, 0, 0.9, 1),
                                                    (90, 2, 12, 20, 0.3, 2)])
def test_picks_equal_dense_brute_force(n, d, k, n_lab, delta, seed, monkeypatch):
    monkeypatch.setattr(pc, "TILE", 37)  # several blocks even on small inputs
    x = unit_rows(n, d, seed)
    labeled = np.zeros(n, dtype=bool)
    labeled[:n_lab] = True
    picks, _ = dense_greedy(x, labeled, k, delta)
    got = probcover_select(x, labeled, k, torch.Generator().manual_seed(0), delta=delta).index.tolist()
    assert got[:len(picks)] == picks and len(set(got)) == k and not labeled[got].any()


def test_with_everything_covered_the_picks_are_seeded_uniform():
    x = unit_rows(50, 3, 3)
    labeled = np.zeros(50, dtype=bool)
    labeled[0] = True

    def picks_of(s):
        return tuple(probcover_select(x, labeled, 3, torch.Generator().manual_seed(s), delta=2.5).index.tolist())

    picks = [picks_of(s) for s in range(8)]
    assert len(set(picks)) > 4 and all(0 not in p for p in picks)
    assert picks[0] == picks_of(0)


@pytest.mark.filterwarnings("ignore:The maximum purity")  # one δ given: scikit-activeml computes no purity
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coverage_gains_match_scikit_activeml(seed):
    """scikit-activeml breaks ties at random, so compare what each step covers: at every step our pick's gain is
    the maximum of scikit-activeml's utilities given the same points so far."""
    x = unit_rows(150, 4, seed)
    labeled = np.zeros(150, dtype=bool)
    labeled[:4] = True
    picks = probcover_select(x, labeled, 6, torch.Generator().manual_seed(0), delta=0.6).index.tolist()
    _, gains = dense_greedy(x, labeled, 6, 0.6)
    for step, c in enumerate(picks):
        y = np.full(150, MISSING_LABEL)
        y[labeled] = 0
        y[picks[:step]] = 0
        _, util = SkProbCover(deltas=[0.6], random_state=seed).query(x.numpy(), y, batch_size=1,
                                                                     return_utilities=True)
        assert util[0, c] == np.nanmax(util[0]) == gains[step]


@pytest.mark.parametrize("seed", [0, 1])
def test_purity_delta_agrees_with_scikit_activeml_grid(seed):
    """On the grid 0.2, 0.4, …, scikit-activeml keeps the largest δ with purity ≥ 0.95; our exact δ lies between
    that grid value and the next one (the same KMeans pseudo-labels, 4 classes)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(4, 6, generator=g, dtype=torch.float64)
    x = normalised(centres.repeat_interleave(60, 0) + 0.25 * torch.randn(240, 6, generator=g, dtype=torch.float64))
    labels = KMeans(n_clusters=4, random_state=seed).fit_predict(x.numpy())
    ours = purity_delta(x, torch.as_tensor(labels))
    model = SkProbCover(n_classes=4, random_state=seed, cluster_algo=KMeans)
    model.query(x.numpy(), np.full(240, MISSING_LABEL), batch_size=1)
    assert model.delta_max_ <= ours < model.delta_max_ + 0.2 + 1e-9


def test_purity_delta_is_the_quantile_of_nearest_other_label_distances():
    x = unit_rows(80, 3, 4)
    labels = torch.arange(80) % 3
    D = torch.cdist(x, x)
    r = torch.where(labels[:, None] != labels[None], D, math.inf).min(1).values
    delta = purity_delta(x, labels)
    assert (r >= delta - 1e-9).double().mean() >= 0.95 and (r >= delta + 1e-9).double().mean() < 0.95


def test_a_pool_smaller_than_the_class_count_is_one_pseudo_label_per_point():
    """8 points and 10 classes (a --trunc pool): k-means makes 8 clusters, each point its own, not a ValueError."""
    x = unit_rows(8, 3, 5)
    assert float(pc.pseudo_label_delta(x, 10, 0)) == float(purity_delta(x, torch.arange(8)))


def dense_reference(x, labels, alpha=0.95):
    """The purity δ and the dots by brute force: every pair's pair_dots, r_i from the largest other-label dot."""
    n = len(x)
    i, j = torch.arange(n).repeat_interleave(n), torch.arange(n).repeat(n)
    dots = pair_dots(x, i, j).reshape(n, n)
    m = torch.where(labels[:, None] != labels[None], dots, -math.inf).max(1).values
    r = (2 - 2 * m).clamp_min(0).sqrt().sort(descending=True).values
    return min(float(r[math.ceil(alpha * n) - 1]), 2.0), dots


def half_integer_rows(n, seed):
    """Unit rows in 8 dimensions with four entries ±1/2 or one entry ±1 (repeats included): every dot product is
    a multiple of 1/4, exact in any precision and order, so many pairs lie exactly at any radius."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 8))
    for row in x:
        if rng.random() < 0.2:
            row[rng.integers(8)] = rng.choice([-1.0, 1.0])
        else:
            row[rng.choice(8, 4, replace=False)] = rng.choice([-0.5, 0.5], 4)
    return torch.tensor(x[rng.integers(n, size=n)])


def near_duplicate_rows(n, seed):
    """Rows within 1e-6 of one of 5 directions: their dots differ in float64 but not in float32."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(5, 6, generator=g, dtype=torch.float64)
    return normalised(base[torch.randint(5, (n,), generator=g)] + 1e-6 * torch.randn(n, 6, generator=g,
                                                                                       dtype=torch.float64))


ROWS = {"gauss": lambda n, seed: unit_rows(n, 6, seed), "half": half_integer_rows, "near": near_duplicate_rows}


@pytest.mark.parametrize("rows,n,labels,seed", [("gauss", 150, 3, 0), ("gauss", 220, 5, 1), ("half", 120, 3, 2),
                                                 ("half", 200, 4, 3), ("half", 90, 1, 4), ("near", 160, 3, 5)])
def test_purity_delta_and_picks_equal_the_dense_reference(rows, n, labels, seed, monkeypatch):
    """The float32-screened searches (several tiles, labels sorted) against every pair's float64 dot: the same δ
    to the last bit and the same greedy picks, on random rows, on rows with exact ties at the radius, and on rows
    that float32 cannot tell apart."""
    monkeypatch.setattr(pc, "TILE", 16)
    x = ROWS[rows](n, seed)
    y = torch.as_tensor(np.random.default_rng(seed).integers(labels, size=n))
    labeled = np.zeros(n, dtype=bool)
    labeled[::17] = True
    delta, dots = dense_reference(x, y)
    assert purity_delta(x, y) == delta
    for d in (delta, 1.0, math.sqrt(2.0)):  # with half-integer rows the last two are radii of many pairs
        picks, _ = greedy_on((dots > 1 - d**2 / 2).numpy(), labeled, 12)
        for budget in (2**25, 10):  # edge lists, or (past 10 edges) the graph recomputed in tiles
            monkeypatch.setattr(pc, "EDGE_BUDGET", budget)
            got = probcover_select(x, labeled, 12, torch.Generator().manual_seed(0), delta=d).index.tolist()
            assert got[:len(picks)] == picks and len(set(got)) == 12 and not labeled[got].any()


@pytest.mark.parametrize("rows,n,labels,seed", [("gauss", 150, 3, 0), ("half", 120, 3, 2), ("half", 90, 1, 4),
                                                 ("near", 160, 3, 5)])
@pytest.mark.parametrize("pair_budget", [2**22, 5])
def test_graph_from_the_purity_pass_gives_the_dense_picks(rows, n, labels, seed, pair_budget, monkeypatch):
    """probcover_select given purity_delta's radius takes the δ-ball graph's edges from the pairs its pass kept
    (a strip of 7 columns to start the bound, tiles of 16), or searches again past PAIR_BUDGET pairs: the same
    picks as the dense greedy at that δ either way, ties at the radius included."""
    monkeypatch.setattr(pc, "TILE", 16)
    monkeypatch.setattr(pc, "STRIP", 7)
    monkeypatch.setattr(pc, "PAIR_BUDGET", pair_budget)
    x = ROWS[rows](n, seed)
    y = torch.as_tensor(np.random.default_rng(seed).integers(labels, size=n))
    labeled = np.zeros(n, dtype=bool)
    labeled[::17] = True
    delta, dots = dense_reference(x, y)
    radius = purity_delta(x, y)
    known = pc.known_edges(x, 1 - radius**2 / 2, radius)
    assert (known is None) == (pair_budget == 5)  # one label: every pair kept, as none bounds the radius
    if known is not None:
        i, j = known
        assert (i <= j).all() and sorted(zip(i.tolist(), j.tolist())) == sorted(
            (a, b) for a, b in (dots > 1 - delta**2 / 2).nonzero().tolist() if a <= b)
    picks, _ = greedy_on((dots > 1 - delta**2 / 2).numpy(), labeled, 12)
    got = probcover_select(x, labeled, 12, torch.Generator().manual_seed(0), delta=radius).index.tolist()
    assert got[:len(picks)] == picks and len(set(got)) == 12 and not labeled[got].any()
    assert pc.known_edges(x.clone(), 1 - radius**2 / 2, radius) is None  # other rows: searched again
