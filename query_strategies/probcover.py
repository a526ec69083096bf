"""`probcover`: ProbCover (Yehuda, Dekel, Hacohen & Weinshall, NeurIPS 2022, "Active Learning Through a Covering
Lens").

On the L2-normalised embeddings x, the δ-ball graph has an edge i → j when ‖x_i − x_j‖ < δ (i.e. x_i·x_j > 1 − δ²/2;
each point is in its own ball). Points in the ball of a labelled point are covered. Greedy maximum coverage: each
pick is the unlabelled point whose ball holds the most uncovered points (lowest index among ties), and its ball
becomes covered; when no ball holds an uncovered point, the pick is uniform among the unlabelled points left.

δ, unless given: the largest δ whose balls are pure for a fraction ≥ α = 0.95 of the points under k-means
pseudo-labels (K = number of classes, scikit-learn KMeans on x). The ball of i is pure when it holds no point of
another pseudo-label, i.e. r_i ≥ δ with r_i the distance to the nearest such point; so δ = the ⌈αn⌉-th largest r_i,
exactly (the paper searches a grid). Distances come in TILE×TILE blocks of float64 dot products, and ball counts
are updated only around newly covered points: memory O(n·d + TILE²), no n×n matrix."""
import math

import numpy as np
import torch

from .selection import TILE, check_budget, progress
from .strategy import Strategy
from .typiclust import kmeans_labels, seed_from

ALPHA = 0.95


def normalised(emb):
    """Rows scaled to unit L2 norm, in float64 (a zero row stays zero)."""
    x = emb.detach().double()
    return x / x.norm(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)


def nearest_other_label(x, labels):
    """r_i = min over j with labels_j ≠ labels_i of ‖x_i − x_j‖ (inf when there is none), x unit rows."""
    best = torch.full((len(x),), -math.inf, dtype=x.dtype, device=x.device)
    for rows in torch.arange(len(x), device=x.device).split(TILE):
        for cols in torch.arange(len(x), device=x.device).split(TILE):
            dots = x[rows] @ x[cols].T
            dots.masked_fill_(labels[rows, None] == labels[cols], -math.inf)
            best[rows] = torch.maximum(best[rows], dots.max(1).values)
    return (2 - 2 * best).clamp_min(0).sqrt()


def purity_delta(x, labels, alpha=ALPHA):
    """The largest δ with #{i : r_i ≥ δ} ≥ αn, i.e. the ⌈αn⌉-th largest r_i (at most 2, the sphere's diameter)."""
    r = nearest_other_label(x, labels).sort(descending=True).values
    return min(float(r[math.ceil(alpha * len(r)) - 1]), 2.0)


def ball_counts(x, rows, cols, threshold):
    """For each row index i: #{j in cols : x_i·x_j > threshold}, in TILE×TILE blocks."""
    counts = torch.zeros(len(rows), dtype=torch.long, device=x.device)
    for part in torch.arange(len(rows), device=x.device).split(TILE):
        xr = x[rows[part]]
        for c in cols.split(TILE):
            counts[part] += (xr @ x[c].T > threshold).sum(1)
    return counts


def in_some_ball(x, centres, threshold):
    """Mask of the rows within distance δ of some row in `centres`."""
    hit = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for c in centres.split(TILE):
        for rows in torch.arange(len(x), device=x.device).split(TILE):
            hit[rows] |= (x[rows] @ x[c].T > threshold).any(1)
    return hit


def probcover_select(x, labeled, k, delta, generator):
    """k unlabelled rows of the unit-norm rows x by greedy coverage of δ-balls (see the module docstring)."""
    labeled = torch.as_tensor(np.asarray(labeled), dtype=torch.bool, device=x.device)
    check_budget(k, int((~labeled).sum()))
    threshold = 1 - delta**2 / 2
    all_rows = torch.arange(len(x), device=x.device)
    covered = in_some_ball(x, labeled.nonzero().squeeze(1), threshold)
    degree = ball_counts(x, all_rows, (~covered).nonzero().squeeze(1), threshold)
    open_ = ~labeled
    picks = []
    for step in range(k):
        progress("probcover picks", step, k)
        c = int(torch.where(open_, degree, -1).argmax())
        if int(degree[c]) == 0:
            left = open_.nonzero().squeeze(1)
            c = int(left[int(torch.randint(len(left), (1,), generator=generator))])
        picks.append(c)
        open_[c] = False
        new = ((x @ x[c] > threshold) & ~covered).nonzero().squeeze(1)
        if len(new):
            degree -= ball_counts(x, all_rows, new, threshold)
            covered[new] = True
    return torch.tensor(picks, device=x.device)


class ProbCover(Strategy):
    """`probcover`: greedy maximum coverage of δ-balls around the labelled points (δ by purity or --delta)."""

    name = "probcover"
    params = {"delta": None}  # None: the largest radius whose balls are ALPHA-pure

    def select(self, n):
        x = normalised(self.learner.embeddings(np.arange(self.n_pool)))
        delta = self.delta
        if delta is None:
            labels = kmeans_labels(x.cpu().numpy(), self.learner.ds.n_classes, seed_from(self.gen))
            delta = purity_delta(x, torch.as_tensor(labels, device=x.device))
        return probcover_select(x, self.labeled, n, delta, self.gen).cpu().numpy()
