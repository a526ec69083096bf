import torch

from .strategy import ScoreStrategy


def entropy(probs):
    """H(p) = −Σ_c p_c log p_c, with 0 · log 0 = 0 (no NaN for zero probabilities)."""
    return -torch.special.xlogy(probs, probs).sum(dim=-1)


class EntropySampling(ScoreStrategy):
    """`entropy`: highest predictive entropy."""

    name = "entropy"
    score = staticmethod(entropy)


class EntropySamplingDropout(EntropySampling):
    """`entropy_dropout`: highest entropy of the mean MC-dropout probabilities."""

    name = "entropy_dropout"
    dropout = True
