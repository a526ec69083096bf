import torch

from .strategy import ScoreStrategy


def smallest_margin(probs):
    """score = −(p₍₁₎ − p₍₂₎): the smallest gap between the two most probable classes scores highest (p₍₂₎ = 0
    for a single class)."""
    top2 = torch.nn.functional.pad(probs, (0, 1)).topk(2, dim=1).values
    return top2[:, 1] - top2[:, 0]


class MarginSampling(ScoreStrategy):
    """`marg`: smallest margin between the top two probabilities."""

    name = "marg"
    score = staticmethod(smallest_margin)


class MarginSamplingDropout(MarginSampling):
    """`marg_dropout`: smallest margin of the mean MC-dropout probabilities."""

    name = "marg_dropout"
    dropout = True
