"""scikit-learn's MiniBatchKMeans labels (default parameters: k-means++ on 3·batch rows, one init, batches of 1024,
early stop after 10 steps without a lower smoothed inertia, reassignment of centres below 1 % of the largest
count), computed with one compiled call per step (kernels/kmeans_step.c) and checked to be scikit-learn's own.

The same NumPy RandomState draws the same numbers in the same order, so every random choice is scikit-learn's
given the same earlier decisions. The float decisions (a k-means++ candidate from a cumulative sum, the best of the
candidates, each point's nearest centre, the smoothed inertia's comparisons) are taken on values that can differ
from scikit-learn's only by rounding, by at most the bound each function states; a decision closer than that bound
to going the other way is a near tie, and `minibatch_kmeans_labels` then runs scikit-learn itself. All else (the
centres' running means, the reassignments) repeats scikit-learn's operations in its order, so the centres, and
hence the labels, are bitwise those of scikit-learn."""
import numpy as np
from sklearn.cluster import MiniBatchKMeans

from kernels import kmeans as kmeans_kernel

BATCH = 1024  # scikit-learn's default batch_size
MAX_ITER = 100  # its default max_iter (passes over the data, in batches)
PATIENCE = 10  # its default max_no_improvement
REASSIGN = 0.01  # its default reassignment_ratio
EPS = np.finfo(np.float64).eps
LABEL_ROWS = 4096  # rows per product in the final labels


class NearTie(Exception):
    """A decision within rounding error of going the other way: only scikit-learn's own run can tell."""


def kmeans_plus_plus(kern, x, sq, k, rs):
    """scikit-learn's k-means++ on the rows of x: the first centre uniform, then each time the best of
    2 + ⌊ln k⌋ candidates drawn ∝ D² (least Σ min(D², d²)). Each D² is a float64 evaluation, within
    err = 2(d + 3)ε(‖x‖ + R)² of scikit-learn's (R the largest norm); the candidates' d² are screened in float32,
    within (d + 8)ε₃₂(‖x‖ + R)² of the exact value."""
    n, d = x.shape
    trials = 2 + int(np.log(k))
    cand = np.array([rs.choice(n, p=np.ones(n) / n)])
    draws = rs.uniform(size=(k - 1, trials))
    reach2 = (np.sqrt(sq) + np.sqrt(sq.max())) ** 2
    err, x32 = 2 * (d + 3) * EPS * reach2, x.astype(np.float32)
    slack = (d + 8) * np.finfo(np.float32).eps * reach2 + err
    closest, pot = np.full(n, np.inf), np.full(1, np.inf)
    chosen = []
    for r in range(k):
        step = kern.kpp(x, sq, x32[cand] @ x32.T, slack, cand, closest, pot, draws[r] if r < k - 1 else None,
                        float(err.sum()))
        if step is None:
            raise NearTie
        chosen.append(cand[step[0]])
        cand = step[1]
    return x[chosen]


def reassign(centres, counts, x, rows, rs):
    """scikit-learn's reassignment: centres counting under REASSIGN × the largest count (at most half a batch, the
    lowest counts) move to as many distinct rows of the batch x[rows] drawn at random, and get the least remaining
    count."""
    low = counts < REASSIGN * counts.max()
    if low.sum() > 0.5 * len(rows):
        low[np.argsort(counts)[int(0.5 * len(rows)):]] = False
    if low.sum():
        centres[low] = x[rows[rs.choice(len(rows), replace=False, size=low.sum())]]
    counts[low] = np.min(counts[~low])


class Smoothed:
    """scikit-learn's early stop: an exponentially weighted mean of the batch inertia per point (weight α =
    min(2·batch / (n + 1), 1), the first batch left out), stopping after PATIENCE steps without a new minimum;
    each value carries its error bound, and a comparison closer than both bounds is a near tie."""

    def __init__(self, n, batch):
        self.alpha = min(batch * 2.0 / (n + 1), 1)
        self.value = self.low = None
        self.stale = 0

    def stop(self, inertia, err):
        """Fold in one batch's inertia per point (± err); True when it is time to stop."""
        if self.value is None:
            self.value, self.err = inertia, err
        else:
            self.value = self.value * (1 - self.alpha) + inertia * self.alpha
            self.err = self.err * (1 - self.alpha) + err * self.alpha + 4 * EPS * self.value
        if self.low is not None and abs(self.value - self.low) <= self.err + self.low_err:
            raise NearTie
        if self.low is None or self.value < self.low:
            self.stale, self.low, self.low_err = 0, self.value, self.err
        else:
            self.stale += 1
        return self.stale >= PATIENCE


def minibatch_steps(kern, x, sq, centres, rs):
    """scikit-learn's minibatch loop from the initial `centres` (updated in place). Its batch draw,
    RandomState.choice(n, b, p=1/n), is numpy's search of b uniform draws in the normalised cumulative p."""
    (n, d), b, k = x.shape, min(BATCH, len(x)), len(centres)
    counts, labels, batch = np.zeros(k), np.empty(b, dtype=np.int64), np.arange(b)
    xb, xb32, sqb = np.empty((b, d)), np.empty((b, d), dtype=np.float32), np.empty(b)
    cdf = (np.ones(n) / n).cumsum()
    cdf /= cdf[-1]
    smoothed, since, empty = Smoothed(n, b), 0, k
    for step in range(MAX_ITER * n // b):
        rows = kern.draw_rows(cdf, rs.random_sample(b))
        kern.gather(x, sq, rows, xb, xb32, sqb)
        since += b
        due = bool(empty or since >= 10 * k)
        since = 0 if due else since
        if not kern.nearest(xb, sqb, batch, xb32 @ centres.astype(np.float32).T, centres, labels):
            raise NearTie
        inertia, err, low, empty = kern.update(xb, batch, labels, centres, counts, REASSIGN) / [b, b, 1, 1]
        if due and low:
            reassign(centres, counts, x, rows, rs)
            empty = (counts == 0).sum()
        if step and smoothed.stop(inertia, err):
            break


def nearest_centres(kern, x, sq, centres):
    """The label of every row of x: its nearest centre, by products of LABEL_ROWS rows at a time."""
    labels, c32, index = np.empty(len(x), dtype=np.int64), centres.astype(np.float32).T, np.arange(len(x))
    for a in range(0, len(x), LABEL_ROWS):
        block = slice(a, a + LABEL_ROWS)
        if not kern.nearest(x, sq, index[block], x[block].astype(np.float32) @ c32, centres, labels[block]):
            raise NearTie
    return labels.astype(np.int32)


def compiled_labels(kern, x, k, seed):
    """MiniBatchKMeans(k, random_state=seed).fit_predict(x) for float64 rows x, or NearTie."""
    n, b = len(x), min(BATCH, len(x))
    sq = np.einsum("ij,ij->i", x, x)
    rs = np.random.RandomState(seed)
    init = min(3 * b if 3 * b >= k else 3 * k, n)
    rs.randint(0, n, init)  # the validation rows, which one init leaves unused
    rows = rs.randint(0, n, init) if init < n else np.arange(n)
    centres = kmeans_plus_plus(kern, np.ascontiguousarray(x[rows]), sq[rows], k, rs)
    minibatch_steps(kern, x, sq, centres, rs)
    return nearest_centres(kern, x, sq, centres)


def minibatch_kmeans_labels(x, k, seed):
    """The label of each row of x by scikit-learn's MiniBatchKMeans(k, random_state=seed): compiled_labels' for
    finite float64 rows where the kernel builds, scikit-learn itself otherwise or on a near tie."""
    kern = kmeans_kernel.library()
    if kern is not None and x.dtype == np.float64 and x.ndim == 2 and 1 <= k <= len(x) and np.isfinite(x).all():
        try:
            return compiled_labels(kern, np.ascontiguousarray(x), k, seed)
        except NearTie:
            pass
    return MiniBatchKMeans(n_clusters=k, random_state=seed).fit_predict(x)
