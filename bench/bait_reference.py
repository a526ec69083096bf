"""BAIT's greedy as it ran at commit 47a24dc: every candidate stays in the design and is updated at every greedy step
(query_strategies/bait_sampling.py now leaves out the candidates that cannot win). The reference whose picks the
lazy greedy must reproduce (tests/test_bait.py) and whose time bench/selection_speed.py --reference measures; the
design's arithmetic (set-up, updates, exact drops) is the current module's, unchanged since then."""
import torch

from query_strategies.bait_sampling import OVERSAMPLE, backward, initial_design
from query_strategies.selection import one_thread


def reference_bait_select(probs, emb, labeled_mask, k, lam):
    """bait_select's batch by the eager greedy (`eager_forward_backward`)."""
    cand = torch.nonzero(~labeled_mask).squeeze(1)
    if k > len(cand):
        raise ValueError(f"asked for {k} points but only {len(cand)} are unlabelled")
    with one_thread():
        return cand[eager_forward_backward(initial_design(probs.double(), emb, labeled_mask, cand, k, lam), k)]


def eager_forward_backward(design, k):
    """Positions of the batch: min(2k, n) greedy additions, each followed by the update of every candidate, then
    removals down to k."""
    available = torch.ones(design.X.shape[2], dtype=torch.bool, device=design.X.device)
    picked = []
    for _ in range(min(OVERSAMPLE * k, len(available))):
        j, _ = design.best_addition(available)
        picked.append(j)
        available[j] = False
        design.change(j, 1)
    design.restrict(torch.tensor(picked, device=available.device))
    return backward(design, picked, k)
