"""The Strategy base class: what every selection algorithm shares.

A strategy owns the labelled mask of the pool. `query(n)` asks the learner for the model outputs it needs on the
unlabelled points and hands arrays to a pure selection function; it returns n distinct unlabelled pool indices."""
import numpy as np
import torch


class Strategy:
    name = None  # the --alg value; set by each subclass

    def __init__(self, learner, labeled, generator, args=None):
        """`labeled`: boolean mask over the pool; `generator`: a CPU torch.Generator for every random draw."""
        self.learner = learner
        self.labeled = np.asarray(labeled, dtype=bool).copy()
        self.gen = generator
        self.args = args

    @property
    def n_pool(self):
        return len(self.labeled)

    def unlabeled(self):
        """Pool indices not yet labelled, ascending."""
        return np.flatnonzero(~self.labeled)

    def labeled_idx(self):
        return np.flatnonzero(self.labeled)

    def query(self, n):
        """n distinct unlabelled pool indices to label next."""
        raise NotImplementedError

    def update(self, idx):
        """Mark pool points `idx` as labelled."""
        self.labeled[idx] = True

    def trained(self):
        """Called after each retraining, before the next query (ALBL learns its reward here)."""

    def state_dict(self):
        """What `load_state_dict` needs to continue this strategy exactly (used by --resume)."""
        return {"labeled": self.labeled.copy()}

    def load_state_dict(self, state):
        self.labeled = np.array(state["labeled"], dtype=bool)


def top_k(scores, k):
    """Positions of the k highest scores, ties broken by position (lowest first)."""
    scores = torch.as_tensor(scores).detach().cpu().double().numpy()
    return np.argsort(-scores, kind="stable")[:k]


class ScoreStrategy(Strategy):
    """Label the k unlabelled points with the highest `score(probs)` — uncertainty sampling.
    With `dropout = True` the probabilities are the mean of MC-dropout passes."""

    dropout = False

    @staticmethod
    def score(probs):
        raise NotImplementedError

    def query(self, n):
        idx = self.unlabeled()
        probs = self.learner.mc_probs(idx).mean(0) if self.dropout else self.learner.probs(idx)
        return idx[top_k(self.score(probs), n)]
