"""CEAL, cost-effective active learning (Wang et al. 2016), `ceal`: the k unlabelled points of highest predictive
entropy are queried, and the confident rest (entropy below a threshold that decays by round) is trained on with
the network's own predictions as labels in the next round (a training.Extension adding pool points)."""
import numpy as np
import torch

from training import Extension

from .entropy_sampling import entropy
from .selection import top_k
from .strategy import Strategy


def confident_threshold(delta0, decay, t):
    """δ_t = δ₀ − dr·t: the entropy under which a point is pseudo-labelled in query round t (0 = the first)."""
    return delta0 - decay * t


def ceal_select(probs, k, generator, threshold):
    """(Picks of the k highest entropies, rows of the other points with entropy < threshold, their argmax labels);
    `generator` unused: no draws."""
    h = entropy(torch.as_tensor(probs)).double()
    picked = top_k(h, k)
    confident = (h < threshold).cpu().numpy()
    confident[picked.index] = False
    rows = np.flatnonzero(confident)
    return picked, rows, torch.as_tensor(probs)[torch.as_tensor(rows, device=h.device)].argmax(1).cpu()


class PseudoLabels(Extension):
    """Pool points and the labels the network gave them, trained on beside the labelled points (no loss, no
    modules: the compiled epoch still applies)."""
    name = "pseudo_labels"

    def __init__(self):
        self.index, self.labels = np.zeros(0, dtype=np.int64), torch.zeros(0, dtype=torch.int64)

    def set(self, index, labels):
        """Train on pool points `index` with `labels` from the next training on."""
        self.index, self.labels = np.asarray(index, dtype=np.int64), torch.as_tensor(labels, dtype=torch.int64)

    def extra_points(self):
        return (self.index, self.labels) if len(self.index) else None

    def state_dict(self):
        return {"index": self.index.copy(), "labels": self.labels.clone()}

    def load_state_dict(self, state):
        self.set(state["index"], state["labels"])


class CEAL(Strategy):
    """`ceal`: query the k highest-entropy unlabelled points; the other unlabelled points with entropy below
    δ_t = ceal_delta − ceal_decay·t (t: query rounds before this one) are pseudo-labelled with the network's
    prediction and trained on in the next round only."""
    name = "ceal"

    def __init__(self, learner, labeled, generator, **params):
        super().__init__(learner, labeled, generator, **params)
        self.pseudo, self.rounds = PseudoLabels(), 0
        self.extensions = (self.pseudo,)

    def select(self, n):
        idx = self.unlabeled()
        threshold = confident_threshold(self.ceal_delta, self.ceal_decay, self.rounds)
        picked, rows, labels = ceal_select(self.learner.probs(idx), n, self.gen, threshold)
        self.pseudo.set(idx[rows], labels)
        self.rounds += 1
        return picked.among(idx)

    def state_dict(self):
        return {**super().state_dict(), "rounds": self.rounds}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.rounds = state["rounds"]
