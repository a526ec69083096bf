import torch

from .selection import check_budget, picks
from .strategy import Strategy


def random_select(n, k, generator):
    """k of n rows uniformly at random without replacement (the first k of a random permutation); no score."""
    check_budget(k, n)
    return picks(torch.randperm(n, generator=generator)[:k])


class RandomSampling(Strategy):
    """`rand`: n unlabelled points uniformly at random, without replacement."""

    label_free = uniform_draw = True
    name = "rand"

    def select(self, n):
        idx = self.unlabeled()
        return random_select(len(idx), n, self.gen).among(idx)
