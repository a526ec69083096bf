"""`ldm`: LDM-S, least-disagree-metric seeding (Cho, Kim, Kim, Lee & Kim, ICLR 2024, "Querying Easily
Flip-flopped Samples for Deep Active Learning").

The LDM of point x is the smallest disagreement ρ(h, g) = P_S[h(s) ≠ g(s)] (measured on a random reference set S
of `ldm_ref` training points) of a hypothesis h that predicts x differently from the trained network g. Hypotheses
are g with its last layer's weights and bias (the weights alone when it has none, as the mlp's) perturbed by
N(0, σ²) noise, for σ = 10^-5, 10^-4.9, ..., 10^0 in turn; at each σ, hypotheses are drawn until `stop` draws in
a row have lowered no point's LDM (LDM starts at 1).

Selection (k points), in the points' order by LDM (ascending, ties by position): L_q the (k+1)-th smallest LDM
(the smallest positive one when it is 0), γ = exp(−max(L − L_q, 0)/L_q), the γ of the points past the first k
rescaled to sum to k, then capped at 1. The first pick is the point of smallest LDM; each next one is drawn with
probability ∝ (γ_x · D_x)², D_x the cosine distance of x's embedding to the nearest pick (distances under 1e-5
count as 0). The seeding keeps D as a vector (k passes over n×d), not the n×n matrix of the authors' code.

As in the authors' code, the candidates are a random subset of `ldm_pool` unlabelled points (at least k) drawn
afresh at each query (0 = every unlabelled point): the stopping rule at each σ waits for `stop` hypotheses in a row
that lower no candidate's LDM, which comes later and later as the candidates grow in number (over 19 minutes for
one query of 20,000 candidates on the shared 2-core CPU, BENCHMARKS.md)."""
import math

import numpy as np
import torch

from strategy_params import LDM_STOP

from .selection import bias_or_zeros, check_budget, draw_index, one_thread, picks, progress
from .strategy import Strategy

SIGMAS = 10.0 ** (torch.arange(51, dtype=torch.float64) / 10 - 5)  # 1e-5 ... 1e0 in steps of 10^0.1
ZERO_DISTANCE = 1e-5


class Hypotheses:
    """Logits of the points under perturbed last layers, uWᵀ + b + σ(uNᵀ + ν), for a chunk of noise draws (N, ν)
    at once: one product of the embeddings with the chunk's stacked N, in float64; without a bias, b = ν = 0."""

    def __init__(self, emb, W, b):
        self.u = emb.double()
        self.base = torch.addmm(bias_or_zeros(W, b).double(), self.u, W.double().T)
        self.y0 = self.base.argmax(1)

    def flips(self, noise_w, noise_b, sigma):
        """(chunk, n) mask: whether each hypothesis of the chunk predicts each point differently from g (noise_b
        None: a last layer without a bias)."""
        h, (C, d) = len(noise_w), noise_w.shape[1:]
        stacked = noise_w.reshape(h * C, d).T
        shift = (self.u @ stacked if noise_b is None else torch.addmm(noise_b.reshape(1, -1), self.u, stacked))
        shift = shift.view(-1, h, C)
        return (shift.mul_(sigma).add_(self.base[:, None, :]).argmax(2) != self.y0[:, None]).T


def chunk_minima(ldm, flipped, rho):
    """LDM after each hypothesis of a chunk, (chunk, n): the running minimum of ρ over the hypotheses that flip
    each point, starting from `ldm`."""
    offers = torch.where(flipped, rho[:, None], torch.ones_like(rho)[:, None])
    return torch.minimum(ldm, offers.cummin(0).values)


@one_thread()
def ldm_estimates(emb, ref, W, b, generator, stop=LDM_STOP.default):
    """LDM of every row of emb (float64): min over drawn hypotheses that flip the row of their disagreement ρ on
    the reference embeddings `ref` (1 when none flips it). Noise comes in chunks of `stop` hypotheses (their N,
    then their ν when the layer has a bias b, from the CPU generator); the hypotheses of a chunk after σ's
    stopping point are not used."""
    pool, refs = Hypotheses(emb, W, b), Hypotheses(ref, W, b)
    ldm = torch.ones(len(emb), dtype=torch.float64, device=emb.device)
    for step, sigma in enumerate(SIGMAS.tolist()):
        progress("ldm: noise levels", step, len(SIGMAS))
        calm = 0
        while calm < stop:
            noise_w = torch.randn(stop, *W.shape, generator=generator, dtype=torch.float64).to(emb.device)
            noise_b = None if b is None else torch.randn(stop, len(W), generator=generator,
                                                         dtype=torch.float64).to(emb.device)
            rho = refs.flips(noise_w, noise_b, sigma).double().mean(1)
            after = chunk_minima(ldm, pool.flips(noise_w, noise_b, sigma), rho)
            lowered = torch.cat([(after[:1] < ldm).any(1), (after[1:] < after[:-1]).any(1)]).tolist()
            for h, low in enumerate(lowered):
                calm = 0 if low else calm + 1
                if calm == stop:
                    break
            ldm = after[h]
    return ldm


def seeding_weights(ldm_sorted, k):
    """γ of the points in ascending LDM order: exp(−max(L − L_q, 0)/L_q), L_q = the (k+1)-th smallest LDM (else
    the smallest positive one); those past the first k rescaled to sum to k; capped at 1."""
    q = ldm_sorted[min(k, len(ldm_sorted) - 1)]
    if q == 0:
        positive = ldm_sorted[ldm_sorted > 0]
        if len(positive) == 0:
            return torch.ones_like(ldm_sorted)
        q = positive.min()
    gamma = torch.exp(-(ldm_sorted - q).clamp_min(0) / q)
    tail = gamma[k:].sum()
    if tail > 0:
        gamma[k:] *= k / tail
    return gamma.clamp_max(1)


def cosine_distances_to(x_unit, c):
    """1 − cos(x_i, x_c) for every row, from unit rows (zero rows stay zero: distance 1), clipped to [0, 2]."""
    return (1 - x_unit @ x_unit[c]).clamp(0, 2)


@one_thread()
def ldm_seeding(ldm, emb, k, generator):
    """k rows by LDM-weighted seeding (module docstring) given each row's LDM and embedding."""
    n = len(emb)
    check_budget(k, n)
    order = torch.as_tensor(np.argsort(ldm.cpu().numpy(), kind="stable"), device=emb.device)
    ldm_sorted = ldm[order]
    gamma = seeding_weights(ldm_sorted, k)
    x = emb[order].double()
    x_unit = x / x.norm(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)
    uniforms = torch.rand(k - 1, generator=generator, dtype=torch.float64).tolist()
    chosen, D = [0], torch.full((n,), math.inf, dtype=torch.float64, device=emb.device)
    for t in range(k - 1):
        d = cosine_distances_to(x_unit, chosen[-1])
        D = torch.minimum(D, torch.where(d < ZERO_DISTANCE, 0.0, d))
        D[chosen[-1]] = 0  # no point twice (a zero embedding is at cosine distance 1 of itself)
        chosen.append(draw_index((gamma * D).square(), chosen, uniforms[t]))
    chosen = order[torch.tensor(chosen, device=emb.device)]
    return picks(chosen, ldm[chosen])


def ldm_select(emb, ref, W, b, k, generator, stop=LDM_STOP.default):
    """k rows of emb by LDM-S: LDM(x) = min ρ_ref(h, g) over last-layer perturbations h with h(x) ≠ g(x), then
    seeding from the smallest LDM with probability ∝ (γ_x·D_x)², γ = exp(−max(L − L_q, 0)/L_q), D the cosine distance
    to the nearest pick."""
    check_budget(k, len(emb))
    return ldm_seeding(ldm_estimates(emb, ref, W, b, generator, stop), emb, k, generator)


class LDMSampling(Strategy):
    """`ldm`: points with the smallest least disagree metric, spread by LDM-weighted k-means++-style seeding."""

    name = "ldm"

    def select(self, n):
        idx = self.unlabeled()
        if self.ldm_pool:
            size = min(len(idx), max(self.ldm_pool, n))
            idx = np.sort(idx[torch.randperm(len(idx), generator=self.gen)[:size].numpy()])
        ref = torch.randperm(self.n_pool, generator=self.gen)[:self.ldm_ref].numpy()
        emb = self.learner.network_embeddings(idx)
        W, b = self.learner.last_layer()
        return ldm_select(emb, self.learner.network_embeddings(ref), W, b, n, self.gen, self.ldm_stop).among(idx)
