"""`deepfool`: adversarial margin by DeepFool (Moosavi-Dezfooli et al., CVPR 2016; PROTOCOL §5).

As the original: from each unlabelled point the perturbation r walks to the nearest boundary of the linearised
classifier, one step at a time while the prediction at x + r is still the starting one, at most DEEPFOOL_STEPS steps;
the score is ‖r‖² where the walk stopped (flipped or not), lowest labelled first. No overshoot, as in the
original. Fixed (docs/FIDELITY.md): the original kept the last class's step instead of the nearest one; and where
every w_k vanishes it fails, while here that point stops moving, and a point that cannot move at all (every w_k
vanishes where it starts) scores +∞, last, as bim ranks the points it never flips."""
import math

import torch

from .adversarial_bim import AdversarialMargin, walk_until_flipped

DEEPFOOL_STEPS = 50


def input_jacobian(logits, x):
    """∂ logits_c / ∂x for every point and class, shape (n, C, *x.shape[1:]) (points are independent)."""
    C = logits.shape[1]
    return torch.stack([torch.autograd.grad(logits[:, c].sum(), x, retain_graph=c < C - 1)[0] for c in range(C)], 1)


def nearest_boundary_step(logits, jac, label):
    """The step to the nearest linearised boundary: with w_k = ∇f_k − ∇f_label and g_k = f_k − f_label,
    l = argmin_{k≠label} |g_k|/‖w_k‖ and the step is |g_l|/‖w_l‖²·w_l (zero where every w_k vanishes)."""
    rows = torch.arange(len(label), device=label.device)
    w = jac - jac[rows, label].unsqueeze(1)
    gap = (logits - logits[rows, label].unsqueeze(1)).abs()
    norm = w.flatten(2).norm(dim=2)
    dist = (gap / norm).masked_fill(norm == 0, math.inf)
    dist[rows, label] = math.inf
    nearest = dist.argmin(1)
    coef = torch.where(dist[rows, nearest].isfinite(), gap[rows, nearest] / norm[rows, nearest] ** 2, 0.0)
    return coef.view(-1, *[1] * (jac.dim() - 2)) * w[rows, nearest]


def deepfool_perturbations(model, X, max_iter=DEEPFOOL_STEPS):
    """(r, flipped): r = Σ nearest_boundary_step at x + r, taken while the prediction there is still the starting
    one, at most max_iter steps; flipped tells which points left it."""
    return walk_until_flipped(model, X, max_iter, deepfool_step)


def deepfool_step(logits, x, label):
    """The step to the nearest boundary of the classifier linearised at x."""
    return nearest_boundary_step(logits.detach(), input_jacobian(logits, x), label)


def immovable(model, X):
    """Which points no step can move: every w_k = ∇f_k − ∇f_ŷ vanishes at x (ŷ = argmax f(x))."""
    model.eval()
    with torch.enable_grad():
        x = X.detach().clone().requires_grad_(True)
        logits = model(x)[0]
        jac = input_jacobian(logits, x)
    label = logits.detach().argmax(1)
    w = jac - jac[torch.arange(len(label), device=label.device), label].unsqueeze(1)
    return (w.flatten(2).norm(dim=2) == 0).all(1)


def deepfool_scores(model, X, max_iter=DEEPFOOL_STEPS):
    """‖r‖² of deepfool_perturbations, for every point (the original's score also for points that never flipped);
    +∞ for a point no step can move (`immovable`). Of the others (max_iter ≥ 1) r = 0 only for a point on a
    boundary, where ŷ ties with a class k of w_k ≠ 0: its distance, 0 (a flipped point has moved)."""
    sq = deepfool_perturbations(model, X, max_iter)[0].flatten(1).square().sum(1)
    still = (sq == 0).nonzero().squeeze(1)
    if len(still):
        sq[still] = sq[still].masked_fill(immovable(model, X[still]), math.inf)
    return sq


class AdversarialDeepFool(AdversarialMargin):
    """`deepfool`: the unlabelled points closest to a decision boundary by DeepFool (at most 50 steps)."""

    name = "deepfool"
    score = staticmethod(deepfool_scores)
