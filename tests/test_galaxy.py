"""GALAXY (query_strategies/galaxy.py) against a slow reference that walks each margin-sorted linear graph node by
node, and on a pool whose labels change once along the graph: the picks bisect toward that change."""
import math

import numpy as np
import pytest
import torch

from query_strategies.galaxy import galaxy_select, margin_scores
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
