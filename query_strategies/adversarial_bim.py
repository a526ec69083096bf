"""`bim`: adversarial margin by the basic iterative method (Kurakin et al. 2017; SPEC §5).

As the original: each unlabelled point is pushed by x ← x + ε·sign(∇ₓ CE(f(x), ŷ)) (ŷ the model's prediction at
the start) until the prediction changes; its score is the squared norm of the total perturbation, and the lowest
scores are labelled. The original loops forever on a point that never flips; here every point stops after
BIM_STEPS steps and the points that never flipped rank last, after every point that did (each of them would have
needed more steps than any point that flipped). All points of a batch are attacked together, gradients w.r.t.
the inputs only, the model in eval mode (docs/FIDELITY.md)."""
import math

import torch
import torch.nn.functional as F

from .strategy import Strategy, top_k

EPS = 0.05
BIM_STEPS = 100


def bim_perturbations(model, X, eps=EPS, max_iter=BIM_STEPS):
    """(δ, flipped): δ = Σ steps ε·sign(∇ₓ CE(f(x + δ), ŷ)) taken while argmax f(x + δ) = ŷ, at most max_iter each;
    flipped tells which points left ŷ."""
    model.eval()
    delta = torch.zeros_like(X)
    flipped = torch.zeros(len(X), dtype=torch.bool, device=X.device)
    rows = torch.arange(len(X), device=X.device)
    target = None
    for step in range(max_iter + 1):
        x = (X[rows] + delta[rows]).requires_grad_(True)
        with torch.enable_grad():
            logits = model(x)[0]
            target = logits.argmax(1).detach() if target is None else target
            loss = F.cross_entropy(logits, target, reduction="sum")
        left = logits.argmax(1) != target
        flipped[rows[left]] = True
        rows, target = rows[~left], target[~left]
        if step == max_iter or len(rows) == 0:
            break
        grad = torch.autograd.grad(loss, x)[0][~left]
        delta[rows] += eps * grad.sign()
    return delta, flipped


def bim_scores(model, X, eps=EPS, max_iter=BIM_STEPS):
    """‖δ‖² of bim_perturbations for the points whose prediction flipped, +inf for the others."""
    delta, flipped = bim_perturbations(model, X, eps, max_iter)
    return torch.where(flipped, delta.flatten(1).square().sum(1), torch.full_like(flipped, math.inf, dtype=delta.dtype))


class AdversarialMargin(Strategy):
    """Label the unlabelled points whose adversarial perturbation is smallest; a subclass gives the attack's
    per-point score as `score(model, X)`."""

    def select(self, n):
        idx = self.unlabeled()
        scores = self.learner.attack_scores(idx, self.score)
        return idx[top_k(-scores, n)]


class AdversarialBIM(AdversarialMargin):
    """`bim`: the unlabelled points with the smallest BIM perturbation (ε = 0.05, at most 100 steps)."""

    name = "bim"
    score = staticmethod(bim_scores)
