"""`glister`: GLISTER-Active (Killamsetty, Sivasubramanian, Ramakrishnan & Iyer, AAAI 2021, "GLISTER:
Generalization based Data Subset Selection for Efficient and Robust Learning"), as DISTIL runs it by default
(no regulariser, no validation set).

On the last layer only, with g(x, y) = ((p − onehot(y)), (p − onehot(y)) ⊗ e) the loss gradient with respect to
its bias and weights: the "validation" set V is the whole pool, the unlabelled points with their predicted class
and the labelled ones with their own. Its logits start one SGD step (rate η = `--glisterLr`, 10⁻⁴) past the
model's along the labelled points' summed gradient. Each pick is the unlabelled x maximising the one-step Taylor
gain g(x, ŷ)·ḡ_V, ḡ_V the mean gradient over V at the current logits; the logits of V then take the step −η g(x, ŷ).
Gradients stay factored (a_i, e_i): no n × C(d + 1) matrix."""
import numpy as np
import torch

from strategy_params import GLISTER_LR

from .selection import check_budget, one_thread, picks
from .strategy import Strategy

DEFAULT_LR = GLISTER_LR.default


def step_logits(logits, emb, a, e, lr):
    """The logits after one SGD step of rate η on the last-layer gradient (a ⊗ e, a): z_i − η a (e_i·e + 1)."""
    return logits - lr * (emb @ e + 1)[:, None] * a[None, :]


def mean_gradient(logits, emb, labels):
    """(ḡ_b, ḡ_W): the mean over rows of softmax(z_i) − onehot(y_i) and of its outer product with e_i."""
    a = torch.softmax(logits, 1)
    a[torch.arange(len(a)), labels] -= 1
    return a.mean(0), a.T @ emb / len(a)


@one_thread()
def glister_select(probs, emb, known_label, k, generator, lr=DEFAULT_LR):
    """k unlabelled rows (known_label −1) greedily by the Taylor gain g(x, ŷ)·ḡ_V (module docstring), each scored by
    its gain. Deterministic: `generator` is not drawn from."""
    p, e = probs.detach().cpu().double(), emb.detach().cpu().double()
    known = torch.as_tensor(np.asarray(known_label), dtype=torch.long)
    free = known < 0
    check_budget(k, int(free.sum()))
    labels = torch.where(free, p.argmax(1), known)
    a = p.clone()
    a[torch.arange(len(a)), labels] -= 1
    logits = p.clamp_min(torch.finfo(torch.float64).tiny).log()
    labelled = ~free
    logits = logits - lr * (e @ (a[labelled].T @ e[labelled]).T + a[labelled].sum(0))
    rows, gains = [], []
    for _ in range(k):
        g_b, g_w = mean_gradient(logits, e, labels)
        gain = (a * (g_b + e @ g_w.T)).sum(1).masked_fill(~free, -np.inf)
        j = int(gain.argmax())
        rows.append(j)
        gains.append(float(gain[j]))
        free[j] = False
        logits = step_logits(logits, e, a[j], e[j], lr)
    return picks(rows, gains)


class Glister(Strategy):
    """`glister`: greedy one-step Taylor reduction of the pool's (pseudo-labelled) loss on the last layer."""

    name = "glister"
    takes_gradients = True

    def select(self, n):
        pool, labelled = np.arange(self.n_pool), self.labeled_idx()
        known = np.full(self.n_pool, -1, dtype=np.int64)
        known[labelled] = self.learner.labels(labelled).cpu().numpy()
        probs, emb = self.learner.probs_embeddings(pool)
        return glister_select(probs, emb, known, n, self.gen, lr=self.glister_lr)
