"""`galaxy`: GALAXY, graph-based active learning at the extreme (Zhang, Katz-Samuels & Nowak, ICML 2022), as
LabelBench runs it: one label at a time within the batch, the picks' labels read as they are chosen.

For class k, the linear graph orders the pool by the margin score s_k(x) = p_k(x) − max_{j≠k} p_j(x), highest
first (stable), and labels each known point 1 if its class is k, else 0. Each pick draws k uniformly (the run's
generator), then
- bisection: among the runs of unlabelled points between two known points of different binary labels, the
  shortest (the leftmost among ties) gives its middle point (first + last) // 2 (scored by the run's length);
- otherwise the unlabelled point nearest along the graph to a cut edge (two adjacent known points of different
  labels; the leftmost among ties; scored NaN);
- otherwise (no cut edge: class k unseen, or all known points in it) a uniformly random unlabelled point (NaN).
The pick's label becomes known before the next pick."""
import math

import numpy as np
import torch

from .selection import check_budget, picks, seed_from
from .strategy import Strategy


def margin_scores(probs):
    """s[i, k] = p_ik − max_{j≠k} p_ij (n × C, float64): the margin of class k over the best other class."""
    p = probs.detach().cpu().double()
    top2 = p.topk(2, dim=1).values
    best_other = torch.where(p == top2[:, :1], top2[:, 1:], top2[:, :1])
    return (p - best_other).numpy()


def shortest_run(known_at, ones_at):
    """(first, last) positions of the shortest run of unknown positions between two known positions with
    different labels (leftmost among ties), or None; known_at: the known positions ascending, ones_at: their
    binary labels."""
    gaps = known_at[1:] - known_at[:-1] - 1
    cut = (ones_at[1:] != ones_at[:-1]) & (gaps > 0)
    if not cut.any():
        return None
    j = np.flatnonzero(cut)[np.argmin(gaps[cut])]
    return known_at[j] + 1, known_at[j + 1] - 1


def nearest_to_cut(known, known_at, ones_at):
    """The unknown position nearest to an endpoint of a cut edge (adjacent known positions with different labels;
    lowest position among ties), or None when there is no cut edge or no unknown position."""
    edge = np.flatnonzero((ones_at[1:] != ones_at[:-1]) & (known_at[1:] - known_at[:-1] == 1))
    free = np.flatnonzero(~known)
    if len(edge) == 0 or len(free) == 0:
        return None
    ends = np.union1d(known_at[edge], known_at[edge + 1])
    return int(free[np.argmin(distance_to_nearest(free, ends))])


def distance_to_nearest(points, ends):
    """min_e |p − e| over the sorted, non-empty `ends` for each of `points`, by binary search: the nearest end is
    the one just below p or the one at or above it (O(n log |ends|) time, no n × |ends| array)."""
    above = np.searchsorted(ends, points)
    below, at_or_above = ends[np.maximum(above - 1, 0)], ends[np.minimum(above, len(ends) - 1)]
    return np.minimum(np.abs(points - below), np.abs(at_or_above - points))


def galaxy_pick(order, known_label, k, rng):
    """(row, score) of one GALAXY pick on the linear graph `order` of class k (known_label[i] = class of row i,
    −1 when unknown)."""
    graph_labels = known_label[order]
    known = graph_labels >= 0
    known_at = np.flatnonzero(known)
    ones_at = graph_labels[known_at] == k
    run = shortest_run(known_at, ones_at)
    if run is not None:
        return int(order[(run[0] + run[1]) // 2]), float(run[1] - run[0] + 1)
    position = nearest_to_cut(known, known_at, ones_at)
    if position is None:
        return int(rng.choice(np.flatnonzero(known_label < 0))), math.nan
    return int(order[position]), math.nan


def galaxy_select(probs, known_label, k, generator, label_of):
    """k rows by GALAXY (module docstring): known_label[i] the class of row i, −1 when unlabelled; label_of(i) the
    class of row i once it is picked. Each pick scored by the length of the run it bisects (NaN otherwise)."""
    known_label = np.asarray(known_label, dtype=np.int64).copy()
    check_budget(k, int((known_label < 0).sum()))
    scores = margin_scores(probs)
    orders = [np.argsort(-scores[:, c], kind="stable") for c in range(scores.shape[1])]
    classes = torch.randint(scores.shape[1], (k,), generator=generator).tolist()
    rng = np.random.default_rng(seed_from(generator))
    rows, values = [], []
    for c in classes:
        row, value = galaxy_pick(orders[c], known_label, c, rng)
        known_label[row] = label_of(row)
        rows.append(row)
        values.append(value)
    return picks(rows, values)


class Galaxy(Strategy):
    """`galaxy`: bisection of the shortest unlabelled path between differently labelled points on one-vs-rest
    margin-sorted linear graphs, one pick (and its label) at a time."""

    name = "galaxy"

    def select(self, n):
        pool = np.arange(self.n_pool)
        known = np.full(self.n_pool, -1, dtype=np.int64)
        labelled = self.labeled_idx()
        known[labelled] = self.learner.labels(labelled).cpu().numpy()
        return galaxy_select(self.learner.probs(pool), known, n, self.gen,
                             lambda i: int(self.learner.label_picks([i])[0]))
