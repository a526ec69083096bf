"""`albl`: Active Learning by Learning (Hsu & Lin, AAAI 2015; PROTOCOL §5), a bandit over sub-strategies.

Each round one sub-strategy s is drawn with probability p_s = (1 − K·pmin)·w_s/Σw + pmin (pmin = 1/(10K)) and
queries the whole batch; its points remember p_s as their query probability (1 for the initial set). After the
retraining, the reward is the importance-weighted training accuracy mean_i(correct_i / q_i) over the labelled set,
and w_s ← w_s·exp(pmin/2·(reward + (1/p_s)·√(ln(K/δ)/K))), δ = 0.1. The weights are kept as logarithms, so
hundreds of rounds cannot overflow them (p only depends on w/Σw)."""
import math

import numpy as np
import torch

from .core_set import CoreSet
from .least_confidence import LeastConfidence
from .strategy import Strategy

DELTA = 0.1


def min_probability(K):
    return 1 / (10 * K)


def choice_probabilities(log_w):
    """p = (1 − K·pmin)·w/Σw + pmin for weights w = exp(log_w)."""
    K = len(log_w)
    return (1 - K * min_probability(K)) * torch.softmax(log_w, 0) + min_probability(K)


def log_weight_step(reward, p_s, K, delta=DELTA):
    """ln of the factor applied to the chosen weight: pmin/2·(reward + (1/p_s)·√(ln(K/δ)/K))."""
    return min_probability(K) / 2 * (reward + math.sqrt(math.log(K / delta) / K) / p_s)


def importance_weighted_accuracy(correct, query_prob):
    """mean_i correct_i / q_i over the labelled points."""
    return float(np.mean(np.asarray(correct, dtype=np.float64) / query_prob))


class ActiveLearningByLearning(Strategy):
    """`albl`: a bandit over [conf, coreset]; `arms` (strategy classes) may be given to bandit over others."""

    name = "albl"
    on_embedding = True  # its core-set arm covers learner.embeddings
    default_arms = (LeastConfidence, CoreSet)

    def __init__(self, learner, labeled, generator, arms=None):
        super().__init__(learner, labeled, generator)
        self.arms = [cls(learner, self.labeled, generator) for cls in (arms or self.default_arms)]
        self.log_w = torch.zeros(len(self.arms), dtype=torch.float64)
        self.query_prob = np.ones(self.n_pool)
        self.last = None  # (arm, its probability) of the last query, until the reward after retraining

    def select(self, n):
        p = choice_probabilities(self.log_w)
        s = int(torch.multinomial(p, 1, generator=self.gen))
        picked = self.arms[s].query(n)
        self.query_prob[picked.index] = float(p[s])
        self.last = (s, float(p[s]))
        return picked

    def update(self, idx):
        super().update(idx)
        for arm in self.arms:
            arm.update(idx)

    def trained(self):
        """Reward the arm that chose the last batch with the importance-weighted accuracy of the new model."""
        if self.last is None:
            return
        s, p_s = self.last
        idx = self.labeled_idx()
        correct = (self.learner.probs(idx).argmax(1) == self.learner.labels(idx)).cpu().numpy()
        reward = importance_weighted_accuracy(correct, self.query_prob[idx])
        self.log_w[s] += log_weight_step(reward, p_s, len(self.arms))
        self.last = None

    def state_dict(self):
        return dict(super().state_dict(), log_w=self.log_w.clone(), query_prob=self.query_prob.copy(), last=self.last,
                    arms=[arm.state_dict() for arm in self.arms])

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.log_w = state["log_w"].clone()
        self.query_prob = np.asarray(state["query_prob"]).astype(np.float64)
        self.last = state["last"]
        for arm, arm_state in zip(self.arms, state["arms"]):
            arm.load_state_dict(arm_state)
