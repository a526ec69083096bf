"""`coreset` (alias `kcenter`): greedy k-center (Sener & Savarese 2018) on the model's embeddings.

Every point keeps D_i, its squared distance to the centres it has been compared with (the labelled points, then
the picks, in order), and how many of them that was. D_i only falls as centres are added, so a stale D_i is an
upper bound. Each pick refreshes only the points with the largest stale values, widening that set until the
largest refreshed value beats every stale value left: the picks equal those of the eager algorithm, while most
point–centre distances are never computed and the rest come as small matrix products. As picks accumulate, the
top points have ever more centres to catch up on; once those small products have cost a set fraction of bringing
every point up to date (and enough picks remain to repay it), every point is, in one pass of TILE-row products
against the recent centres. No n×n matrix is built."""
import math

import numpy as np
import torch

from .selection import (EPS64, TILE, check_budget, one_thread, picks, power_of_two_scale, row_sq_norms,
                        unscaled_d2)
from .strategy import Strategy

TOP = 32  # how many points with the largest stale distances are refreshed first
CATCH_UP = 0.1  # all candidates are brought up to date once the refreshes since the last time evaluated more
# row–centre pairs than CATCH_UP × candidates × picks since then, and at least twice as many picks remain: one pass
# of large products then beats the small ones it saves
TIE_RTOL = 1e-9  # squared distances this close (relatively) to the largest count as ties -> lowest index


class LazyNearestCentre:
    """D_i = min over centres[:seen_i] of ‖x_i − x_c‖², evaluated in float64 as ‖x_i‖² + ‖x_c‖² − 2x_i·x_c, and 0
    where that is within its rounding error (a duplicate of a centre is at 0, not at noise)."""

    def __init__(self, x, centres, capacity):
        self.x, self.sq = x, row_sq_norms(x)
        self.centres = torch.empty(capacity, dtype=torch.long, device=x.device)
        self.centres[:len(centres)] = centres
        self.count = len(centres)
        self.D = torch.full((len(x),), math.inf, dtype=torch.float64, device=x.device)
        self.seen = torch.zeros(len(x), dtype=torch.long, device=x.device)

    def add(self, c):
        self.centres[self.count] = c
        self.count += 1

    def refresh(self, rows):
        """Bring D of `rows` up to date with every centre; returns the number of row–centre pairs evaluated."""
        rows = rows[self.seen[rows] < self.count]
        if len(rows) == 0:
            return 0
        first = int(self.seen[rows].min())
        best = torch.full((len(rows),), math.inf, dtype=torch.float64, device=self.x.device)
        for start in range(first, self.count, TILE):
            cols = self.centres[start:min(start + TILE, self.count)]
            xc = self.x[cols].double()
            order = torch.arange(start, start + len(cols), device=self.x.device)
            for part in torch.arange(len(rows), device=self.x.device).split(TILE):
                r = rows[part]
                scale = self.sq[r, None] + self.sq[cols]
                d2 = scale - 2 * self.x[r].double() @ xc.T
                d2.masked_fill_(d2 <= 4 * (self.x.shape[1] + 2) * EPS64 * scale, 0)
                d2.masked_fill_(order < self.seen[r, None], math.inf)
                best[part] = torch.minimum(best[part], d2.min(1).values)
        self.D[rows] = torch.minimum(self.D[rows], best)
        self.seen[rows] = self.count
        return len(rows) * (self.count - first)

    def farthest(self, candidates):
        """(the candidate with the largest D (lowest index among ties), the row–centre pairs evaluated to find it);
        D of the others may stay stale."""
        stale = torch.where(candidates, self.D, -math.inf)
        top, work = TOP, 0
        while True:
            bar = stale.topk(min(top, len(stale))).values[-1]
            rows = ((stale >= bar) & candidates).nonzero().squeeze(1)
            work += self.refresh(rows)
            fresh = self.D[rows]
            low = fresh.max() * (1 - TIE_RTOL)
            if low >= bar or top >= len(stale):
                return int(rows[(fresh >= low).nonzero()[0, 0]]), work
            top *= 4


@one_thread()
def coreset_select(emb, labeled_mask, k, generator):
    """k unlabelled rows by greedy k-center: each time the one whose squared distance D² to the nearest labelled or
    chosen row is largest (its score: that D²). Deterministic given labelled rows; in a cold start (none) every D is
    +∞ and the first centre is a uniform draw from `generator` (lowest index would pick row 0 for every seed),
    scored NaN (a random pick).
    It runs on emb·power_of_two_scale(emb), an exact rescaling that changes no pick, with the scores scaled back:
    float64 embeddings of about 10¹⁵⁴ and above overflowed D² (a traceback), and of 10⁻¹⁵⁴ and below underflowed it."""
    scale = power_of_two_scale(emb)
    emb = emb * scale
    labeled = torch.as_tensor(labeled_mask, dtype=torch.bool, device=emb.device)
    candidates = ~labeled
    n_candidates = int(candidates.sum())
    check_budget(k, n_candidates)
    dist = LazyNearestCentre(emb, labeled.nonzero().squeeze(1), int(labeled.sum()) + k)
    dist.refresh(candidates.nonzero().squeeze(1))
    chosen, scores = [], []
    if k and not labeled.any():
        c = int(torch.randint(n_candidates, (1,), generator=generator))
        chosen.append(c)
        scores.append(math.nan)  # a random pick: no score, as queries.csv's other random picks
        candidates[c] = False
        dist.add(c)
    work = since = 0
    for _ in range(k - len(chosen)):
        if work > CATCH_UP * since * (n_candidates - len(chosen)) and k - len(chosen) >= 2 * since:
            dist.refresh(candidates.nonzero().squeeze(1))
            work = since = 0
        c, pairs = dist.farthest(candidates)
        work, since = work + pairs, since + 1
        chosen.append(c)
        scores.append(float(dist.D[c]))
        candidates[c] = False
        dist.add(c)
    return picks(chosen, unscaled_d2(scores, scale))


class CoreSet(Strategy):
    """`coreset`: greedy k-center cover of the embedding space, starting from the labelled points."""

    on_embedding = label_free = True
    name = "coreset"

    def select(self, n):
        emb = self.learner.embeddings(np.arange(self.n_pool))
        return coreset_select(emb, torch.as_tensor(self.labeled), n, self.gen)
