"""`bim`: adversarial margin by the basic iterative method (Kurakin et al. 2017; SPEC §5).

Each unlabelled point is pushed by x ← x + ε·sign(∇ₓ CE(f(x), ŷ)) (ŷ the model's prediction at the start) until
the prediction changes; its score is the squared norm of the total perturbation, and the lowest scores are
labelled. The original loops forever on a point that never flips; here every point stops after MAX_ITER steps
and points that never flipped rank last. All points of a batch are attacked together, gradients w.r.t. the
inputs only, the model in eval mode."""
import math

import torch
import torch.nn.functional as F

from .strategy import Strategy, top_k

EPS = 0.05
MAX_ITER = 100
ATTACK_BATCH = 500  # points attacked together


def bim_perturbations(model, X, eps=EPS, max_iter=MAX_ITER):
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


def perturbation_scores(delta, flipped):
    """‖δ‖² of points whose prediction flipped, +inf for the others."""
    return torch.where(flipped, delta.flatten(1).square().sum(1), torch.full_like(flipped, math.inf, dtype=delta.dtype))


def attack_scores(attack, model, X, rows):
    """perturbation_scores of `attack(model, X[batch])` for the points `rows` of X, ATTACK_BATCH at a time."""
    parts = torch.as_tensor(rows, device=X.device).split(ATTACK_BATCH)
    return torch.cat([perturbation_scores(*attack(model, X[part])) for part in parts])


class AdversarialMargin(Strategy):
    """Label the unlabelled points whose adversarial perturbation is smallest; a subclass gives the attack as
    `attack(model, X) -> (δ, flipped)`."""

    def query(self, n):
        idx = self.unlabeled()
        scores = attack_scores(self.attack, self.learner.model, self.learner.X, idx)
        return idx[top_k(-scores, n)]


class AdversarialBIM(AdversarialMargin):
    """`bim`: the unlabelled points with the smallest BIM perturbation (ε = 0.05, at most 100 steps)."""

    name = "bim"

    @staticmethod
    def attack(model, X):
        return bim_perturbations(model, X)
