"""`noise_stability`: NoiseStability (Li, Yang, Gu, Zhan, Wang, Xu & Xu, AAAI 2024, "Deep Active Learning with
Noise Stability").

K = `noise_draws` copies of the trained network each get Gaussian noise on every layer's weights, scaled per layer
to `noise_scale` times the weights' norm (Predictor.noisy_probs). Point i's feature is the concatenation over the
copies of its output change, (p̃_k,i − p_i)/‖p_i‖ (softmax outputs), a vector of K·C numbers whose norm is the
method's uncertainty. The k picks cover these features by greedy k-center, started from the origin (a virtual
centre): first the largest change, then each time the point farthest from the origin and the picks so far
(core_set.coreset_select with the origin as a labelled row)."""
import torch

from .core_set import coreset_select
from .selection import check_budget
from .strategy import Strategy



def deviation_features(probs, noisy, extra_rows=0):
    """(p̃_k,i − p_i)/‖p_i‖ for the K noisy outputs `noisy` (K, n, C), concatenated per point: (n, K·C), float64,
    written draw by draw into one matrix (followed by `extra_rows` rows of zeros)."""
    p = probs.double()
    scale = p.norm(dim=1, keepdim=True)
    K, n, C = noisy.shape
    out = torch.zeros(n + extra_rows, K * C, dtype=torch.float64, device=p.device)
    for k in range(K):
        torch.div(noisy[k].double() - p, scale, out=out[:n, k * C:(k + 1) * C])
    return out


def noise_stability_select(probs, noisy, k, generator):
    """k rows by greedy k-center on the deviation features, from the origin (core_set.coreset_select with the
    origin as the one labelled row; score: each pick's squared distance to the origin and the picks before it).
    Deterministic: `generator` is not drawn from."""
    n = len(probs)
    check_budget(k, n)
    with_origin = deviation_features(probs, noisy, extra_rows=1)  # row n: the origin
    origin = torch.zeros(n + 1, dtype=torch.bool, device=with_origin.device)
    origin[-1] = True
    return coreset_select(with_origin, origin, k, generator)


class NoiseStability(Strategy):
    """`noise_stability`: points whose outputs move most under small weight noise, spread by k-center."""

    name = "noise_stability"

    def select(self, n):
        idx = self.unlabeled()
        probs = self.learner.probs(idx)
        noisy = self.learner.noisy_probs(idx, self.noise_scale, self.noise_draws)
        return noise_stability_select(probs, noisy, n, self.gen).among(idx)
