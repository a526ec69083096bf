"""`alfamix`: ALFA-Mix, active learning by feature mixing (Parvaneh, Abbasnejad, Teney, Haffari, van den Hengel &
Shi, CVPR 2022), with the closed-form interpolation of the paper (the authors' `--alpha_opt
--alpha_closed_form_approx`).

Each class c has an anchor z*_c, the mean embedding of the labelled points of class c (of all labelled points when
c has none). An unlabelled point's embedding u (prediction ŷ) is mixed with each anchor as (1 − α)⊙u + α⊙z*_c with
the closed-form α = (ε‖z*_c − u‖ / ‖∇‖) · ∇ ⊘ (z*_c − u + 1e-8), ∇ = Wᵀ(p − onehot(ŷ)) the gradient of the
cross-entropy at ŷ with respect to u (the last layer logits = uWᵀ + b; its ŷ entry 1 − p_ŷ taken as Σ_{j≠ŷ} p_j, so
that a confident point keeps its gradient's direction), ε = cap/√d; the point is a candidate when
the last layer predicts the mix of some anchor as another class than ŷ (never when ∇ = 0). The cap grows by
`alpha_cap` (cap = alpha_cap, 2·alpha_cap, ... while below 1), the candidates of every cap so far pooled, until
there are more than k. The candidates' L2-normalised embeddings are clustered into min(k, candidates) clusters by
k-means (kmeans_sampling.kmeans_select: scikit-learn, 10 starts, seeded from the generator); each cluster gives
the member nearest its centre (score: that squared distance), in cluster order. Picks still missing are drawn
uniformly from the other unlabelled points (score NaN)."""
import math

import torch

from strategy_params import ALPHA_CAP

from .kmeans_sampling import kmeans_select
from .selection import bias_or_zeros, check_budget, fill_uniformly, normalised
from .strategy import Strategy

Z_EPS = 1e-8  # keeps z*_c − u away from 0 in α's denominator, as the authors' code does


def class_anchors(lab_emb, lab_y, n_classes):
    """Row c: the mean labelled embedding of class c, or of all labelled points when class c has none."""
    lab_emb = lab_emb.double()
    anchors = lab_emb.mean(0).repeat(n_classes, 1)
    for c in range(n_classes):
        members = lab_y == c
        if members.any():
            anchors[c] = lab_emb[members].mean(0)
    return anchors


def flips(u, pred, grad, anchors, W, b, cap):
    """Whether the closed-form mix of each row of u with some anchor is predicted as another class than `pred`."""
    eps = cap / math.sqrt(u.shape[1])
    gnorm = grad.norm(dim=1, keepdim=True)
    step = torch.where(gnorm > 0, eps / gnorm, torch.zeros_like(gnorm)) * grad
    changed = torch.zeros(len(u), dtype=torch.bool, device=u.device)
    for anchor in anchors:
        z = anchor - u
        alpha = z.norm(dim=1, keepdim=True) * step / (z + Z_EPS)
        mix = (1 - alpha) * u + alpha * anchor
        changed |= torch.addmm(b, mix, W.T).argmax(1) != pred
    return changed


def cross_entropy_factor(probs):
    """p − onehot(ŷ) in float64 (ŷ = argmax p), its ŷ entry written −Σ_{j≠ŷ} p_j: the same number as p_ŷ − 1, which
    cancels to 0 once a float32 p_ŷ rounds to 1 (logit gaps past about 17) and would turn ∇ = Wᵀ(p − onehot(ŷ))."""
    a = probs.double().clone()
    rows, pred = torch.arange(len(a), device=a.device), probs.argmax(1)
    a[rows, pred] = 0
    a[rows, pred] = -a.sum(1)
    return a


def candidates(probs, emb, anchors, W, b, k, alpha_cap):
    """The candidate mask: flips pooled over caps alpha_cap, 2·alpha_cap, ... (< 1 before each step) until more
    than k."""
    u, W, b = emb.double(), W.double(), bias_or_zeros(W, b).double()
    pred = probs.argmax(1)
    grad = cross_entropy_factor(probs) @ W  # ∇_u CE(uWᵀ + b, ŷ) = Wᵀ(p − onehot(ŷ)) per row
    chosen, cap = torch.zeros(len(u), dtype=torch.bool, device=u.device), 0.0
    while cap < 1.0:
        cap += alpha_cap
        chosen |= flips(u, pred, grad, anchors, W, b, cap)
        if int(chosen.sum()) > k:
            break
    return chosen


def alfamix_select(probs, emb, lab_emb, lab_y, W, b, k, generator, alpha_cap=ALPHA_CAP.default):
    """k rows of emb by ALFA-Mix: u is a candidate when argmax W((1 − α)⊙u + α⊙z*_c) + b ≠ ŷ(u) for some class
    anchor z*_c, α = (ε‖z*_c − u‖/‖∇‖)·∇ ⊘ (z*_c − u), ∇ = Wᵀ(p − onehot(ŷ)); the candidates' k-means centres' nearest
    members, then uniform draws (module docstring)."""
    n = len(emb)
    check_budget(k, n)
    anchors = class_anchors(lab_emb, torch.as_tensor(lab_y, device=lab_emb.device), W.shape[0])
    mask = candidates(probs, emb, anchors, W, b, k, alpha_cap)
    cand = mask.nonzero().squeeze(1)
    chosen, scores = [], []
    if len(cand):
        x = normalised(emb[cand])
        clustered = kmeans_select(x.cpu(), min(k, len(cand)), generator)
        chosen, scores = cand.cpu()[clustered.index].tolist(), clustered.score.tolist()
    return fill_uniformly(chosen, scores, n, k, generator)


class AlfaMix(Strategy):
    """`alfamix`: points whose prediction flips when their embedding is mixed toward a labelled class anchor,
    spread by k-means."""

    name = "alfamix"

    def select(self, n):
        idx, lab = self.unlabeled(), self.labeled_idx()
        probs, emb = self.learner.probs_embeddings(idx)
        W, b = self.learner.last_layer()
        lab_y = self.learner.labels(lab)
        return alfamix_select(probs, emb, self.learner.network_embeddings(lab), lab_y, W, b, n, self.gen,
                              self.alpha_cap).among(idx)
