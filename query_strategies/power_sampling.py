"""`powerbald`, `powermargin`: stochastic batch acquisition (Kirsch et al., TMLR 2023, "Stochastic Batch
Acquisition: A Simple Baseline for Deep Active Learning").

Instead of the k highest scores s_i, k points are drawn without replacement, each next one with probability
∝ s_i^β among those not yet drawn. The Gumbel top-k trick draws such a sample at once: with G_i i.i.d. Gumbel(0, 1),
the k largest keys β log s_i + G_i are a sample of that sequential law (Kool et al. 2019)."""
import numpy as np
import torch

from strategy_params import BETA

from .bald import bald_scores
from .margin_sampling import smallest_margin
from .selection import check_budget, one_thread, picks
from .strategy import Strategy


def gumbel(n, generator):
    """n i.i.d. Gumbel(0, 1) draws in float64: −log E with E ~ Exp(1), from the CPU generator."""
    e = torch.empty(n, dtype=torch.float64).exponential_(generator=generator)
    return -e.clamp_min_(torch.finfo(torch.float64).tiny).log_()


@one_thread()
def power_select(scores, k, generator, beta=BETA.default):
    """k distinct positions drawn without replacement with probability ∝ score^β (scores ≥ 0; negative rounding
    noise counts as 0), in order of drawing. Positions of score 0 have probability 0 while a positive score is
    left; after those they come in uniformly random order. Each pick's score is its s (clamped at 0), whose β-th
    power it was drawn by. On one thread, like the other selections."""
    s = torch.as_tensor(scores).detach().cpu().double().clamp_min(0)
    check_budget(k, len(s))
    g = gumbel(len(s), generator).numpy()
    positive = (s > 0).numpy()
    keys = np.where(positive, beta * np.log(np.where(positive, s.numpy(), 1.0)) + g, g)
    drawn = np.lexsort((-keys, ~positive))[:k]
    return picks(drawn, s.numpy()[drawn])


def margin_power_score(probs):
    """1 − (p₍₁₎ − p₍₂₎) ∈ [0, 1]: the margin score made positive, highest for the smallest top-2 gap."""
    return 1 + smallest_margin(probs)


class PowerBALD(Strategy):
    """`powerbald`: nQuery points drawn with probability ∝ BALD^β (10 MC-dropout passes), without replacement."""

    name = "powerbald"

    def scores(self, idx):
        return bald_scores(self.learner.mc_probs(idx))

    def select(self, n):
        idx = self.unlabeled()
        return power_select(self.scores(idx), n, self.gen, beta=self.beta).among(idx)


class PowerMargin(PowerBALD):
    """`powermargin`: nQuery points drawn with probability ∝ (1 − margin)^β, without replacement."""

    name = "powermargin"

    def scores(self, idx):
        return margin_power_score(self.learner.probs(idx))
