"""GALAXY (query_strategies/galaxy.py) against a slow reference that walks each margin-sorted linear graph node by
node, and on a pool whose labels change once along the graph: the picks bisect toward that change."""
import math

import numpy as np
import pytest
import torch

from query_strategies.galaxy import galaxy_select, margin_scores, nearest_to_cut
from query_strategies.selection import seed_from


def reference_pick(order, known, k, rng):
    """One pick by walking the graph: every pair of known nodes with only unknown nodes between them and different
    binary labels is a path; the shortest (leftmost) is bisected; else the unknown node nearest a cut edge;
    else a random unknown row."""
    lab = [None if known[i] < 0 else int(known[i] == k) for i in order]
    paths, last = [], None
    for pos, b in enumerate(lab):
        if b is None:
            continue
        if last is not None and lab[last] != b and pos - last > 1:
            paths.append((pos - last, last + 1, pos - 1))
        last = pos
    if paths:
        length, first, end = min(paths, key=lambda t: t[0])
        return order[(first + end) // 2], float(end - first + 1)
    ends = [p for p in range(len(lab) - 1) if lab[p] is not None and lab[p + 1] is not None and lab[p] != lab[p + 1]
            for p in (p, p + 1)]
    free = [p for p in range(len(lab)) if lab[p] is None]
    if ends and free:
        return order[min(free, key=lambda p: (min(abs(p - e) for e in ends), p))], math.nan
    return int(rng.choice([i for i in range(len(known)) if known[i] < 0])), math.nan


def reference_galaxy(probs, known, y, k, generator):
    p = probs.tolist()
    C = len(p[0])
    s = [[p[i][c] - max(p[i][j] for j in range(C) if j != c) for c in range(C)] for i in range(len(p))]
    orders = [sorted(range(len(p)), key=lambda i: -s[i][c]) for c in range(C)]
    classes = torch.randint(C, (k,), generator=generator).tolist()
    rng = np.random.default_rng(seed_from(generator))
    known, rows, scores = list(known), [], []
    for c in classes:
        row, score = reference_pick(orders[c], known, c, rng)
        known[row] = y[row]
        rows.append(row)
        scores.append(score)
    return rows, scores


@pytest.mark.parametrize("n,C,n_lab,k,seed", [(60, 3, 6, 20, 0), (80, 4, 0, 10, 1), (50, 2, 5, 30, 2),
                                              (120, 5, 10, 40, 3)])
def test_same_picks_as_the_graph_walk(n, C, n_lab, k, seed):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(2 * torch.randn(n, C, generator=g, dtype=torch.float64), 1)
    probs[n // 2:n // 2 + 4] = probs[n // 3]  # ties in every graph
    y = torch.randint(C, (n,), generator=g).numpy()
    known = np.full(n, -1)
    lab = torch.randperm(n, generator=g)[:n_lab].numpy()
    known[lab] = y[lab]
    ours = galaxy_select(probs, known, k, torch.Generator().manual_seed(seed), lambda i: y[i])
    rows, scores = reference_galaxy(probs, known, y, k, torch.Generator().manual_seed(seed))
    assert ours.index.tolist() == rows
    np.testing.assert_array_equal(ours.score, np.array(scores))


def test_margin_scores_are_margins_over_the_best_other_class():
    p = torch.tensor([[0.5, 0.3, 0.2], [0.4, 0.4, 0.2]], dtype=torch.float64)
    want = [[0.2, -0.2, -0.3], [0.0, 0.0, -0.2]]
    assert np.allclose(margin_scores(p), want)


def test_picks_close_in_on_the_label_change():
    """Two classes, p_0 falling along the pool, the label change at row 70; labelled rows 0 and 99: bisection
    probes 49/50, then halves the interval holding the change until the rows next to it are picked."""
    n = 100
    p0 = torch.linspace(0.99, 0.01, n, dtype=torch.float64)
    probs = torch.stack([p0, 1 - p0], 1)
    y = (np.arange(n) >= 70).astype(int)
    known = np.full(n, -1)
    known[[0, 99]] = y[[0, 99]]
    got = galaxy_select(probs, known, 9, torch.Generator().manual_seed(0), lambda i: y[i]).index.tolist()
    assert {69, 70} <= set(got)


def reference_nearest_to_cut(known, known_at, ones_at):
    """The unknown position of least distance to any end of a cut edge, the lowest among ties, from the whole
    unknown × ends table of distances (None when either is empty)."""
    edge = [j for j in range(len(known_at) - 1) if ones_at[j] != ones_at[j + 1] and known_at[j + 1] - known_at[j] == 1]
    ends = np.array([known_at[j + step] for j in edge for step in (0, 1)])
    free = np.flatnonzero(~known)
    if len(ends) == 0 or len(free) == 0:
        return None
    table = np.abs(free[:, None] - ends[None, :])
    return int(free[np.argmin(table.min(1))])


@pytest.mark.parametrize("seed", range(8))
def test_nearest_to_cut_as_the_table_of_all_distances(seed):
    """Random graphs, known densities from sparse to all but a few positions, labels from one-sided to mixed:
    ends shared by two cut edges, unknown positions halfway between two ends (ties: the lower position) and beyond
    the first and the last end."""
    rng = np.random.default_rng(seed)
    for _ in range(50):
        n = int(rng.integers(2, 60))
        known = rng.random(n) < rng.choice([0.2, 0.5, 0.9, 1.0])
        known_at = np.flatnonzero(known)
        ones_at = rng.random(len(known_at)) < rng.choice([0.0, 0.3, 0.5])
        assert nearest_to_cut(known, known_at, ones_at) == reference_nearest_to_cut(known, known_at, ones_at)


def test_nearest_to_cut_takes_the_lower_of_two_positions_at_the_same_distance():
    """Cut edges at positions 3-4 and 9-10, unknown 0-2, 5-8, 11: 2 and 5 are both 1 from an end, 2 first; with
    2 known, 5."""
    known = np.array([0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0], dtype=bool)
    ones = np.array([True, False, True, False])
    assert nearest_to_cut(known, np.flatnonzero(known), ones) == 2
    known[:3] = True
    assert nearest_to_cut(known, np.flatnonzero(known), np.array([True, True, True, True, False, True, False])) == 5
