"""`falcun`: FALCUN, fast active learning by contrastive uncertainty (Gilhuber, Beer, Ma & Seidl, ECML PKDD 2024,
"FALCUN: A Simple and Efficient Deep Active Learning Strategy"), as the authors' code defines it.

On the softmax outputs p only: the uncertainty u(x) = 1 − (p₍₁₎ − p₍₂₎), and a diversity d(x) that starts at
u(x) and after each pick s becomes min(d(x), ‖p(x) − p(s)‖₁). Each pick is drawn from the points not yet picked
with probability ∝ (d̃(x) + u(x))^γ, d̃ the min–max normalisation of d over those points (γ = `--gamma`, 10);
when d is 0 on all of them the draw is uniform. One uniform number from the run's generator per pick."""
import torch

from strategy_params import GAMMA

from .power_sampling import margin_power_score
from .selection import check_budget, draw_index, one_thread, picks
from .strategy import Strategy

DEFAULT_GAMMA = GAMMA.default


def min_max(values, free):
    """(v − min) / (max − min) with min and max over the `free` entries (all zeros when they are equal)."""
    lo, hi = values[free].min(), values[free].max()
    return (values - lo) / (hi - lo) if hi > lo else torch.zeros_like(values)


def draw_weights(d, u, free, gamma):
    """(weights, relevance) of one FALCUN draw: relevance min–max(d) + u (over the `free` rows), weights its γ-th
    power on the free rows and 0 elsewhere, taken as (relevance / its largest free value)^γ, the same law without
    overflow at large γ; uniform on the free rows when d is 0 on all of them."""
    relevance = min_max(d, free) + u
    top = relevance[free].max()
    weights = (relevance / top).pow(gamma) if float(d[free].sum()) > 0 and top > 0 else torch.ones_like(d)
    return torch.where(free, weights, 0.0), relevance


@one_thread()
def falcun_select(probs, k, generator, gamma=DEFAULT_GAMMA):
    """k rows drawn one by one with probability ∝ (minmax(d) + 1 − (p₍₁₎ − p₍₂₎))^γ, d ← min(d, ‖p − p(s)‖₁) after
    each draw s (d starts at the uncertainty); each scored by its relevance when drawn."""
    p = probs.detach().cpu().double()
    check_budget(k, len(p))
    u = margin_power_score(p)
    d, free = u.clone(), torch.ones(len(p), dtype=torch.bool)
    uniforms = torch.rand(k, generator=generator, dtype=torch.float64).tolist()
    rows, scores = [], []
    for step in range(k):
        if rows:
            d = torch.minimum(d, (p - p[rows[-1]]).abs().sum(1))
        weights, relevance = draw_weights(d, u, free, gamma)
        i = draw_index(weights, rows, uniforms[step])
        rows.append(i)
        scores.append(float(relevance[i]))
        free[i] = False
    return picks(rows, scores)


class Falcun(Strategy):
    """`falcun`: points drawn with probability ∝ (diversity in probability space + margin uncertainty)^γ."""

    name = "falcun"

    def select(self, n):
        idx = self.unlabeled()
        return falcun_select(self.learner.probs(idx), n, self.gen, gamma=self.gamma).among(idx)
