"""`batchbald`: BatchBALD (Kirsch, van Amersfoort & Gal, NeurIPS 2019), greedy maximisation of the mutual
information I(y_1, …, y_k; θ) between the batch's labels and the weights, θ given by T MC-dropout passes
p_t(y | x) (each pass equally likely), each pass one network for every point (one dropout mask per layer: the
paper's consistent MC dropout; with a mask per point the joint predictive of a batch factorises).

Labels are independent given θ, so I(y_B; θ) = H(y_B) − Σ_{b∈B} E_t H(p_t(x_b)), and adding x_i to the batch B
raises it by H(y_i | y_B) − E_t H(p_t(x_i)). With configurations m of y_B (all C^|B| of them, or M sampled from
p(y_B) = (1/T) Σ_t Π_b p_t(y_b)) and their pass weights q_tm = Π_b p_t(y_b^m) / Σ_t' Π_b p_t'(y_b^m),

    H(y_i | y_B) = Σ_m ω_m H(w_m),   w_mc = Σ_t q_tm p_t(c | x_i) = p(y_i = c | y_B = m),

with ω_m = p(y_B = m) for the exact sum, and ω_m = 1/M for the sampled estimate (Monte-Carlo over y_B ~ p(y_B)).
Each pick is the candidate with the largest increase (lowest index among ties). The joint entropy of the batch is
never formed, so no product of |B| probabilities under- or overflows; memory is O(T·M + chunk·M·C)."""
import itertools
import math

import torch

from strategy_params import N_CONFIGS

from .selection import best_first, check_budget, one_thread, picks, progress
from .entropy_sampling import entropy
from .strategy import Strategy

DEFAULT_CONFIGS = N_CONFIGS.default  # M: exact sums while C^|B| ≤ M, M sampled configurations beyond
CHUNK_ELEMENTS = 1 << 22  # candidates per block × M × C stays below this
BOUND_SLACK = 1e-4  # nats: float32 rounding of a gain and of its bound stays far below this


def exact_configurations(batch_probs):
    """All C^b label configurations of the batch, batch_probs of shape (T, b, C): (q (T × C^b), ω (C^b)), ω the
    configurations' probabilities p(y_B = m) and q_tm the pass weights given m (columns sum to 1)."""
    T, b, C = batch_probs.shape
    configs = torch.tensor(list(itertools.product(range(C), repeat=b)), dtype=torch.long,
                           device=batch_probs.device).reshape(C ** b, b)
    return configuration_weights(batch_probs, configs, exact=True)


def sampled_configurations(batch_probs, M, generator):
    """M configurations drawn from p(y_B): configuration m takes pass t_m (m mod T for the first T·⌊M/T⌋, distinct
    uniformly drawn passes for the M mod T others, so that each t_m is uniform), then y_b ~ p_{t_m}(x_b) for each
    b, by inverse CDF of uniforms from the CPU generator. Returns (q (T × M), ω = 1/M)."""
    T, b, C = batch_probs.shape
    passes = torch.arange(M) % T
    if M % T:
        passes[M - M % T:] = torch.randperm(T, generator=generator)[:M % T]
    passes = passes.to(batch_probs.device)
    u = torch.rand(M, b, 1, generator=generator, dtype=torch.float64).to(batch_probs.device)
    cum = batch_probs.double().cumsum(-1)[passes]
    configs = (cum < u * cum[..., -1:]).sum(-1).clamp_max_(C - 1)
    return configuration_weights(batch_probs, configs, exact=False)


def configuration_weights(batch_probs, configs, exact):
    """For configurations (M × b): q_tm = softmax_t(Σ_b log p_t(y_b^m)), and ω_m = (1/T) Σ_t Π_b p_t(y_b^m) when
    `exact`, else 1/M."""
    T, b, _ = batch_probs.shape
    log_p = batch_probs.double().clamp_min(torch.finfo(torch.float64).tiny).log()
    logs = log_p[:, torch.arange(b, device=configs.device), configs].sum(-1)  # (T, M)
    q = torch.softmax(logs, dim=0)
    if exact:
        omega = (torch.logsumexp(logs, dim=0) - math.log(T)).exp()
    else:
        omega = torch.full((configs.shape[0],), 1 / configs.shape[0], dtype=torch.float64, device=configs.device)
    return q.to(batch_probs.dtype), omega.to(batch_probs.dtype)


def conditional_entropies(mc_probs, q, omega):
    """H(y_i | y_B) = −Σ_m ω_m Σ_c w_mic log w_mic, w_mic = Σ_t q_tm p_t(c | x_i), for every candidate i of
    mc_probs (T, n, C): W = qᵀ P as one (M × n·C) product, then a weighted row sum."""
    T, n, C = mc_probs.shape
    w = q.T @ mc_probs.reshape(T, -1)
    return -(omega @ w.xlogy_(w)).view(n, C).sum(1)


def entropy_bound(mc_probs, q, omega):
    """An upper bound of every H(y_i | y_B) estimate above, by concavity of H within groups of configurations: with
    g(m) = argmax_t q_tm (the pass that configuration m makes most likely), Ω_g = Σ_{g(m)=g} ω_m and
    r_gt = Σ_{g(m)=g} ω_m q_tm / Ω_g,  Σ_m ω_m H(w_m) ≤ Σ_g Ω_g H(Σ_t r_gt p_t(x_i)). At most T groups, so it
    costs T/M of the estimate, and it tightens as the batch grows and each configuration singles out one pass."""
    T = q.shape[0]
    mass = torch.zeros(T, T, dtype=q.dtype, device=q.device).index_add_(1, q.argmax(0), q * omega)
    group_weight = mass.sum(0)
    used = group_weight > 0
    return conditional_entropies(mc_probs, mass[:, used] / group_weight[used], group_weight[used])


def best_gain(mc_probs, expected, q, omega, taken):
    """(i, gain): argmax_i of H(y_i | y_B) − E_t H(p_t(x_i)) over the rows not `taken` (lowest index among ties) and
    that gain, by `best_first` over the entropy_bound upper bounds (by more than float rounding), so most of the
    pool is never scored once the batch has a few points."""
    C = mc_probs.shape[2]
    bound = entropy_bound(mc_probs, q, omega) - expected
    return best_first((~taken).nonzero().squeeze(1), bound,
                      lambda rows: conditional_entropies(mc_probs[:, rows], q, omega) - expected[rows],
                      max(1, CHUNK_ELEMENTS // (q.shape[1] * C)), lambda best: BOUND_SLACK)


@one_thread()
def batchbald_select(mc_probs, k, generator, n_configs=DEFAULT_CONFIGS):
    """k rows of mc_probs (T, n, C) by greedy BatchBALD: each time the row maximising H(y_i | y_B) − E_t H(p_t(x_i))
    given the rows B chosen so far (its score: that joint gain); exact sums over configurations while
    C^|B| ≤ n_configs, else n_configs sampled configurations (seeded)."""
    T, n, C = mc_probs.shape
    check_budget(k, n)
    expected = entropy(mc_probs).mean(0)
    taken = torch.zeros(n, dtype=torch.bool, device=mc_probs.device)
    chosen, gains = [], []
    for step in range(k):
        progress("batchbald picks", step, k)
        batch = mc_probs[:, chosen]
        if C ** len(chosen) <= n_configs:
            q, omega = exact_configurations(batch)
        else:
            q, omega = sampled_configurations(batch, n_configs, generator)
        i, gain = best_gain(mc_probs, expected, q, omega, taken)
        chosen.append(i)
        gains.append(gain)
        taken[i] = True
    return picks(chosen, gains)


class BatchBALD(Strategy):
    """`batchbald`: greedy BatchBALD over 10 MC-dropout passes, each one network for all points (shared masks);
    --nConfigs sampled label configurations once the exact sum would exceed them."""

    name = "batchbald"

    def select(self, n):
        idx = self.unlabeled()
        probs = self.learner.mc_probs(idx, shared=True)
        return batchbald_select(probs, n, self.gen, n_configs=self.n_configs).among(idx)
