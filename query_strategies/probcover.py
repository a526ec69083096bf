"""`probcover`: ProbCover (Yehuda, Dekel, Hacohen & Weinshall, NeurIPS 2022, "Active Learning Through a Covering
Lens").

On the L2-normalised embeddings x, the δ-ball graph has an edge i → j when ‖x_i − x_j‖ < δ, i.e. x_i·x_j > 1 − δ²/2
with the float64 dot of `pair_dots` (each point is in its own ball for δ > 0; the graph is symmetric). Points in
the ball of a labelled point are covered. Greedy maximum coverage: each pick is the unlabelled point whose ball
holds the most uncovered points (lowest index among ties), and its ball becomes covered; when no ball holds an
uncovered point, the pick is uniform among the unlabelled points left.

δ, unless given: the largest δ whose balls are pure for a fraction ≥ α = 0.95 of the points under k-means
pseudo-labels (K = number of classes, or of points when they are fewer; scikit-learn KMeans on x). The ball of i
is pure when it holds no point of another pseudo-label, i.e. r_i ≥ δ with r_i the distance to the nearest such
point; so δ = the ⌈αn⌉-th largest r_i, exactly (the paper searches a grid).

Both searches screen with float32 dot products and decide in float64 only what the screen leaves open: a float32
dot of unit rows is within ERR = (d + 4)·ε₃₂ of the float64 one, so a pair whose float32 dot is more than ERR from
the threshold is decided, and the few pairs within it get their float64 dot. The points are sorted by
pseudo-label, so that the products between two labels are whole tiles with no mask, and each TILE×TILE block of
products serves its rows and its columns (the upper triangle of tiles only): the purity radius costs half an n²·d
float32 pass. The same pass keeps the pairs whose float32 dot exceeds a lower bound of the radius's threshold
(the order statistic of the maxima found so far, started from a strip of STRIP columns, less 3·ERR): the δ-ball
graph's edges are among them, so it needs no second pass (one is made when δ is given, or past PAIR_BUDGET pairs).
The graph is kept as sorted edge lists (up to EDGE_BUDGET pairs; beyond, each greedy step recomputes the pairs it
needs in tiles); the greedy picks then cost O(edges). Memory O(n·d + TILE² + edges), at most about 1 GB of edges,
no n×n matrix. Both run on one thread, like the other selections (at two threads on the
busy 2-core machine they took 4× longer)."""
import math

import numpy as np
import torch

from .selection import EPS32, SCREEN_TILE as TILE, check_budget, normalised, one_thread, picks, progress, seed_from
from .strategy import Strategy
from .typiclust import kmeans_labels

ALPHA = 0.95
EDGE_BUDGET = 2**25  # graph edges kept as lists (32 bytes each: 1 GB); past it, the graph is recomputed in tiles
PAIR_BUDGET = 2**22  # pairs the purity pass keeps for the graph (20 bytes each: 80 MB); past it, a second pass
STRIP = 256  # evenly spaced columns whose products start the purity pass's bound


def pair_dots(x, i, j):
    """x_i·x_j in float64 for the index pairs (i, j), summed over the features in one fixed order (so that
    pair_dots(x, i, j) = pair_dots(x, j, i) exactly)."""
    parts = [(x[a] * x[b]).sum(1) for a, b in zip(i.split(4 * TILE), j.split(4 * TILE))]
    return torch.cat(parts) if parts else x.new_zeros(0)


def screen_error(x):
    """ERR: a bound on |float32 dot − float64 dot| of two rows of norm ≤ 1 (twice the rounding analysis's)."""
    return (x.shape[1] + 4) * EPS32


def tile_pairs(n):
    """(rows, cols) of the TILE blocks of an n×n product on or above the diagonal."""
    starts = range(0, n, TILE)
    return [(slice(a, min(a + TILE, n)), slice(b, min(b + TILE, n))) for a in starts for b in starts if b >= a]


class PurityRadius(float):
    """The δ of purity_delta, carrying what its search found on the rows `points`: `pairs`, the (i, j, float32
    dot) with i ≤ j (row indices of `points`) of every pair whose float32 dot exceeds `bound` (None when they were
    more than PAIR_BUDGET). The δ-ball graph's edges are among them when its threshold is at least bound + ERR."""

    def __new__(cls, value, points, pairs, bound):
        radius = super().__new__(cls, value)
        radius.points, radius.version, radius.pairs, radius.bound = points, points._version, pairs, bound
        return radius


def strip_maxima(x32, labels):
    """For each row, the largest float32 dot with the STRIP evenly spaced rows of another label (−inf when none):
    a lower bound of its m_i, known before the full pass."""
    cols = torch.arange(0, len(x32), max(1, len(x32) // STRIP), device=x32.device)
    parts = []
    for rows in torch.arange(len(x32), device=x32.device).split(TILE):
        dots = x32[rows] @ x32[cols].T
        parts.append(dots.masked_fill_(labels[rows, None] == labels[cols], -math.inf).amax(1))
    return torch.cat(parts)


def tile_pairs_above(dots, row_max, rows, cols, bound):
    """(i, j, dot) of the entries of the block `dots` of rows × cols (`row_max`: its row maxima) above `bound`,
    i ≤ j."""
    hit = (row_max > bound).nonzero().squeeze(1)  # the rows with a pair (most have none)
    r, c = (dots[hit] > bound).nonzero().unbind(1)
    r = hit[r]
    i, j = r + rows.start, c + cols.start
    keep = i <= j
    return i[keep], j[keep], dots[r[keep], c[keep]]


def other_label_maxima(x32, labels, position, err):
    """One pass over the TILE blocks of the upper triangle of the float32 products of x32 (sorted by label):
    (m, pairs, bound) with m_i = max over j of another label of x_i·x_j (−inf when none) and pairs as in
    PurityRadius. bound = v − 3·ERR, v the `position`-th smallest (from 0) of the maxima so far (the strip's to
    start), rises at each block row; the final order statistic of the float64 m is at least v − ERR."""
    best = torch.full((len(x32),), -math.inf, device=x32.device)
    lower = strip_maxima(x32, labels)
    bound = float(lower.kthvalue(position + 1).values) - 3 * err
    pairs, found = [], 0
    for rows, cols in tile_pairs(len(x32)):
        if pairs is not None and rows == cols and rows.start:  # a new block row: raise the bound
            bound = max(bound, float(torch.maximum(best, lower).kthvalue(position + 1).values) - 3 * err)
        lr, lc = labels[rows], labels[cols]
        dots = x32[rows] @ x32[cols].T
        row_max = dots.amax(1)
        if pairs is not None:
            pairs.append(tile_pairs_above(dots, row_max, rows, cols, bound))
            found += len(pairs[-1][0])
            pairs = pairs if found <= PAIR_BUDGET else None
        if int(lr[0]) == int(lc[-1]):
            continue  # one label only
        if int(lr[-1]) >= int(lc[0]):  # the label ranges overlap
            row_max = dots.masked_fill_(lr[:, None] == lc, -math.inf).amax(1)
        best[rows] = torch.maximum(best[rows], row_max)
        best[cols] = torch.maximum(best[cols], dots.amax(0))
    if pairs is not None:
        pairs = [torch.cat(part) for part in zip(*pairs)] if pairs else None
    return best, pairs, bound


def exact_max_other_label(x, x32, labels, rows, approx, err):
    """The float64 max of pair_dots over the other-label columns, for `rows` whose float32 max is `approx`: only
    columns whose float32 dot is within 2·ERR of it can hold the float64 max."""
    out = torch.full((len(rows),), -math.inf, dtype=x.dtype, device=x.device)
    for part in torch.arange(len(rows), device=x.device).split(max(1, TILE * TILE // len(x))):
        dots = x32[rows[part]] @ x32.T
        near = (dots >= approx[part, None] - 2 * err) & (labels[rows[part], None] != labels)
        r, c = near.nonzero().unbind(1)
        exact = pair_dots(x, rows[part][r], c)
        out[part] = out[part].scatter_reduce(0, r, exact, "amax")
    return out


def quantile_max_dot(x, x32, labels, approx, position, err):
    """The `position`-th smallest (from 0) of the float64 m_i = max_{labels_j ≠ labels_i} pair_dots(i, j), for x
    sorted by label, from `approx`, the float32 m. The float32 order statistic v is within ERR of it; rows whose
    float32 m is more than 2·ERR below (above) v lie below (above) it, so it is the right order statistic of the
    rows in between, taken in float64."""
    v = float(approx.sort().values[position])
    if v == -math.inf:
        return v  # those rows have no point of another label: exact
    below = int((approx < v - 2 * err).sum())
    band = ((approx >= v - 2 * err) & (approx <= v + 2 * err)).nonzero().squeeze(1)
    exact = exact_max_other_label(x, x32, labels, band, approx[band], err)
    return float(exact.sort().values[position - below])


def pseudo_label_delta(x, n_classes, seed):
    """δ of the purity rule (purity_delta) under pseudo-labels of the unit rows x: `n_classes` k-means clusters (one
    per row when the rows are fewer), k-means seeded by `seed`."""
    labels = kmeans_labels(x.cpu().numpy(), min(n_classes, len(x)), seed)
    return purity_delta(x, torch.as_tensor(labels, device=x.device))


@one_thread()
def purity_delta(x, labels, alpha=ALPHA):
    """The largest δ with #{i : r_i ≥ δ} ≥ αn, i.e. the ⌈αn⌉-th largest r_i = sqrt(2 − 2m_i) (at most 2, the
    sphere's diameter): r falls as m rises, so it is r of the ⌈αn⌉-th smallest m_i. Returned as a PurityRadius
    holding the pairs its pass found above a bound close to the δ-ball threshold."""
    order = labels.argsort(stable=True)
    xs, ls, err = x[order], labels[order], screen_error(x)
    x32, position = xs.float(), math.ceil(alpha * len(x)) - 1
    approx, pairs, bound = other_label_maxima(x32, ls, position, err)
    m = quantile_max_dot(xs, x32, ls, approx, position, err)
    if pairs is not None:
        i, j, dots = pairs
        i, j = order[i], order[j]
        pairs = (torch.minimum(i, j), torch.maximum(i, j), dots)
    return PurityRadius(min(math.sqrt(max(2 - 2 * m, 0.0)), 2.0), x, pairs, bound)


def screened_pairs(x, x32, rows, cols, threshold, drop=None):
    """The pairs (rows[r], cols[c]) with pair_dots > threshold (`drop`: a mask of block entries to leave out): decided
    by the float32 block product where it is more than ERR from the threshold, by pair_dots where it is not."""
    err = screen_error(x)
    dots = x32[rows] @ x32[cols].T
    if drop is not None:
        dots.masked_fill_(drop, -math.inf)
    hit = (dots.amax(1) > threshold - err).nonzero().squeeze(1)  # the rows with a pair (most have none)
    r, c = (dots[hit] > threshold - err).nonzero().unbind(1)
    r = hit[r]
    i, j, near = rows[r], cols[c], dots[r, c] <= threshold + err
    keep = torch.ones_like(near)
    keep[near] = pair_dots(x, i[near], j[near]) > threshold
    return i[keep], j[keep]


def graph_edges(x, threshold, budget):
    """The pairs (i, j), i ≤ j, with pair_dots(i, j) > threshold, from the tiles of the upper triangle; None once
    there are more than `budget`."""
    x32, index = x.float(), torch.arange(len(x), device=x.device)
    found, total = [], 0
    for rows, cols in tile_pairs(len(x)):
        drop = torch.ones(rows.stop - rows.start, cols.stop - cols.start, dtype=torch.bool,
                          device=x.device).tril_(-1) if rows == cols else None  # each pair once: i ≤ j
        found.append(torch.stack(screened_pairs(x, x32, index[rows], index[cols], threshold, drop)))
        total += found[-1].shape[1]
        if total > budget:
            return None
    return torch.cat(found, 1)


class BallGraph:
    """The δ-ball graph as sorted adjacency lists (CSR): the neighbours of i are cols[start[i]:start[i + 1]]."""

    def __init__(self, n, edges):
        i, j = edges
        off = i != j
        rows, cols = torch.cat([i, j[off]]), torch.cat([j, i[off]])
        order = rows.argsort(stable=True)
        self.rows, self.cols = rows[order], cols[order]
        counts = torch.bincount(self.rows, minlength=n)
        self.start = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        self.bounds = self.start.tolist()

    def ball(self, node):
        """The neighbours of one node (an int)."""
        return self.cols[self.bounds[node]:self.bounds[node + 1]]

    def neighbours(self, nodes):
        """The neighbours of each of `nodes`, concatenated (with repeats)."""
        first, sizes = self.start[nodes], self.start[nodes + 1] - self.start[nodes]
        ends = sizes.cumsum(0)
        offsets = torch.arange(int(ends[-1]) if len(ends) else 0, device=first.device)
        return self.cols[offsets + torch.repeat_interleave(first - (ends - sizes), sizes)]

    def neighbour_counts(self, nodes):
        """For every node, how many of `nodes` it neighbours."""
        return torch.bincount(self.neighbours(nodes), minlength=len(self.start) - 1)

    def degrees(self, counted):
        """For every node, its neighbours j with counted[j]."""
        return torch.zeros(len(self.start) - 1, dtype=torch.long, device=counted.device).index_add_(
            0, self.rows, counted[self.cols].long())


class TiledGraph:
    """The same graph when its edges would not fit EDGE_BUDGET: each query recomputes the pairs it needs in
    TILE-row blocks (memory O(n·d + TILE²), time O(n·d) per queried node)."""

    def __init__(self, x, threshold):
        self.x, self.x32, self.threshold = x, x.float(), threshold
        self.index = torch.arange(len(x), device=x.device)

    def pairs(self, nodes, others):
        """The edges (node, other) between the two index sets, block by block."""
        for a in nodes.split(TILE):
            for b in others.split(TILE):
                yield screened_pairs(self.x, self.x32, a, b, self.threshold)

    def neighbours(self, nodes):
        """The neighbours of each of `nodes`, concatenated (with repeats)."""
        return torch.cat([j for _, j in self.pairs(nodes, self.index)] or [self.index[:0]])

    def ball(self, node):
        """The neighbours of one node (an int)."""
        return self.neighbours(self.index[node:node + 1])

    def neighbour_counts(self, nodes):
        """For every node, how many of `nodes` it neighbours."""
        counts = torch.zeros(len(self.x), dtype=torch.long, device=self.x.device)
        for _, j in self.pairs(nodes, self.index):
            counts += torch.bincount(j, minlength=len(self.x))
        return counts

    def degrees(self, counted):
        """For every node, its neighbours j with counted[j]."""
        return self.neighbour_counts(counted.nonzero().squeeze(1))


def known_edges(x, threshold, radius):
    """The pairs (i, j), i ≤ j, with pair_dots(i, j) > threshold, from the pairs a PurityRadius found on these
    same rows x: decided by their float32 dot where it is more than ERR from the threshold, by pair_dots where it
    is not. None when the radius holds no such pairs, was found on other rows, or its bound is too high."""
    err = screen_error(x)
    if (not isinstance(radius, PurityRadius) or radius.pairs is None or radius.points is not x
            or radius.version != x._version or radius.bound > threshold - err):
        return None
    i, j, dots = radius.pairs
    hit = dots > threshold - err
    i, j, dots = i[hit], j[hit], dots[hit]
    near = dots <= threshold + err
    keep = torch.ones_like(near)
    keep[near] = pair_dots(x, i[near], j[near]) > threshold
    return torch.stack((i[keep], j[keep]))


def ball_graph(x, threshold, radius=None):
    """The δ-ball graph of the rows x (edges: pair_dots > threshold), as edge lists when they fit EDGE_BUDGET;
    the edges come from `radius`'s pairs when it holds them (see known_edges), else from a search of the tiles."""
    edges = known_edges(x, threshold, radius)
    if edges is None:
        edges = graph_edges(x, threshold, EDGE_BUDGET)
    elif edges.shape[1] > EDGE_BUDGET:
        edges = None
    return TiledGraph(x, threshold) if edges is None else BallGraph(len(x), edges)


@one_thread()
def probcover_select(x, labeled, k, generator, delta):
    """k unlabelled rows of the unit-norm rows x, each the one whose ball {j : ‖x_i − x_j‖ < δ} holds the most points
    not in a labelled or picked ball (uniform when none does), scored by that count (0 for a uniform pick)."""
    labeled = torch.as_tensor(np.asarray(labeled), dtype=torch.bool, device=x.device)
    check_budget(k, int((~labeled).sum()))
    graph = ball_graph(x, 1 - delta**2 / 2, delta)
    covered = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    covered[graph.neighbours(labeled.nonzero().squeeze(1))] = True
    gain = graph.degrees(~covered)  # the uncovered points in each open ball; −(n + 1) or less once closed
    gain[labeled] = -1 - len(x)
    chosen, gains = [], []
    for step in range(k):
        progress("probcover picks", step, k)
        c = int(gain.argmax())
        if int(gain[c]) == 0:
            left = (gain >= 0).nonzero().squeeze(1)
            c = int(left[int(torch.randint(len(left), (1,), generator=generator))])
        chosen.append(c)
        gains.append(int(gain[c]))
        gain[c] = -1 - len(x)
        new = graph.ball(c)
        new = new[~covered[new]]
        if len(new):
            gain -= graph.neighbour_counts(new)
            covered[new] = True
    return picks(chosen, gains)


class ProbCover(Strategy):
    """`probcover`: greedy maximum coverage of δ-balls around the labelled points (δ by purity or --delta)."""

    on_embedding = label_free = True
    name = "probcover"

    def select(self, n):
        x = normalised(self.learner.embeddings(np.arange(self.n_pool)))
        delta = self.delta
        if delta is None:
            delta = pseudo_label_delta(x, self.learner.n_classes, seed_from(self.gen))
        return probcover_select(x, self.labeled, n, self.gen, delta=delta)
