"""`bim`: adversarial margin by the basic iterative method (Kurakin et al. 2017; PROTOCOL §5).

As the original: each unlabelled point is pushed by x ← x + ε·sign(∇ₓ CE(f(x), ŷ)) (ŷ the model's prediction at
the start) until the prediction changes; its score is the squared norm of the total perturbation, and the lowest
scores are labelled. The original loops forever on a point that never flips; here every point stops after
BIM_STEPS steps and the points that never flipped rank last, after every point that did (each of them would have
needed more steps than any point that flipped). All points of a batch are attacked together, gradients w.r.t.
the inputs only, the model in eval mode (docs/FIDELITY.md)."""
import math

import torch
import torch.nn.functional as F

from .selection import picks, top_k
from .strategy import Strategy

EPS = 0.05
BIM_STEPS = 100


def walk_until_flipped(model, X, max_steps, step):
    """(r, flipped): from every point, r += step(logits, x, ŷ) at x = X + r (computed for the points still
    walking, with autograd on) while argmax f(x) is the starting prediction ŷ, at most max_steps steps; flipped
    tells which points left ŷ. The model is in eval mode."""
    model.eval()
    r = torch.zeros_like(X)
    flipped = torch.zeros(len(X), dtype=torch.bool, device=X.device)
    rows = torch.arange(len(X), device=X.device)
    label = None
    for n_steps in range(max_steps + 1):
        x = (X[rows] + r[rows]).requires_grad_(True)
        with torch.enable_grad():
            logits = model(x)[0]
            label = logits.argmax(1).detach() if label is None else label
            left = logits.argmax(1) != label
            flipped[rows[left]] = True
            if n_steps == max_steps or bool(left.all()):
                break
            move = step(logits, x, label)[~left]
        rows, label = rows[~left], label[~left]
        r[rows] += move
    return r, flipped


def bim_step(eps):
    """The BIM step at x for labels ŷ: ε·sign(∇ₓ Σ CE(f(x), ŷ))."""
    def step(logits, x, label):
        return eps * torch.autograd.grad(F.cross_entropy(logits, label, reduction="sum"), x)[0].sign()
    return step


def bim_perturbations(model, X, eps=EPS, max_iter=BIM_STEPS):
    """(δ, flipped): δ = Σ steps ε·sign(∇ₓ CE(f(x + δ), ŷ)) taken while argmax f(x + δ) = ŷ, at most max_iter each;
    flipped tells which points left ŷ."""
    return walk_until_flipped(model, X, max_iter, bim_step(eps))


def bim_scores(model, X, eps=EPS, max_iter=BIM_STEPS):
    """‖δ‖² of bim_perturbations for the points whose prediction flipped, +inf for the others."""
    delta, flipped = bim_perturbations(model, X, eps, max_iter)
    return torch.where(flipped, delta.flatten(1).square().sum(1), torch.full_like(flipped, math.inf, dtype=delta.dtype))


def smallest_k(scores, k):
    """Picks of the k lowest scores (ties broken by position, lowest first), each with its score."""
    lowest = top_k(-torch.as_tensor(scores), k)
    return picks(lowest.index, -lowest.score)


class AdversarialMargin(Strategy):
    """Label the unlabelled points whose adversarial perturbation is smallest; a subclass gives the attack's
    per-point score as `score(model, X)`, and each pick's score is its ‖δ‖²."""

    takes_gradients = True

    def select(self, n):
        idx = self.unlabeled()
        return smallest_k(self.learner.attack_scores(idx, self.score), n).among(idx)


class AdversarialBIM(AdversarialMargin):
    """`bim`: the unlabelled points with the smallest BIM perturbation (ε = 0.05, at most 100 steps)."""

    name = "bim"
    score = staticmethod(bim_scores)
