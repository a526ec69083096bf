import torch

from .strategy import Strategy


class RandomSampling(Strategy):
    """`rand`: n unlabelled points uniformly at random, without replacement."""

    label_free = True
    name = "rand"

    def select(self, n):
        idx = self.unlabeled()
        return idx[torch.randperm(len(idx), generator=self.gen)[:n].numpy()]
