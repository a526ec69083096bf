"""BatchBALD (query_strategies/batchbald.py) against the brute-force joint mutual information over every label
configuration, against batchbald-redux, and its sampled estimate against the exact value."""
import itertools

import numpy as np
import pytest
import torch
from batchbald_redux.batchbald import get_batchbald_batch

from digits_learners import trained_on_every_27th
from query_strategies import STRATEGIES
from query_strategies.batchbald import (batchbald_select, conditional_entropies, entropy_bound, exact_configurations,
                                        sampled_configurations)
from query_strategies.entropy_sampling import entropy


def mc_inputs(T, n, C, seed, sharpness=1.0):
    """MC-dropout-like probabilities (T, n, C) in float64: a per-point mean plus per-pass noise, softmaxed."""
    g = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(1, n, C, generator=g, dtype=torch.float64)
    return torch.softmax(sharpness * (logits + torch.randn(T, n, C, generator=g, dtype=torch.float64)), -1)


def joint_mutual_information(p, batch):
    """I(y_B; θ) = H(y_B) − Σ_b mean_t H(p_t(x_b)), H(y_B) summed over all C^|B| configurations."""
    p = p.numpy()
    T, _, C = p.shape
    h = 0.0
    for y in itertools.product(range(C), repeat=len(batch)):
        py = np.mean([np.prod([p[t, b, c] for b, c in zip(batch, y)]) for t in range(T)])
        h -= py * np.log(py) if py > 0 else 0.0
    return h + sum(np.mean([(p[t, b] * np.log(p[t, b])).sum() for t in range(T)]) for b in batch)


def brute_force_greedy(p, k):
    picks = []
    for _ in range(k):
        gains = [joint_mutual_information(p, picks + [i]) if i not in picks else -np.inf for i in range(p.shape[1])]
        picks.append(int(np.argmax(gains)))
    return picks


@pytest.mark.parametrize("T,n,C,k,seed", [(5, 10, 2, 3, 0), (4, 9, 3, 3, 1), (6, 8, 4, 3, 2), (3, 12, 4, 2, 3)])
def test_picks_equal_brute_force_greedy_joint_mutual_information(T, n, C, k, seed):
    p = mc_inputs(T, n, C, seed)
    assert batchbald_select(p, k, torch.Generator()).index.tolist() == brute_force_greedy(p, k)


def test_gains_equal_brute_force_mutual_information_increments():
    p = mc_inputs(5, 7, 3, 4)
    batch = [2, 5]
    q, omega = exact_configurations(p[:, batch])
    gains = conditional_entropies(p, q, omega) - entropy(p).mean(0)
    base = joint_mutual_information(p, batch)
    ref = [joint_mutual_information(p, batch + [i]) - base for i in range(7)]
    assert np.allclose(gains.numpy(), ref, atol=1e-10)


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_picks_equal_batchbald_redux(seed):
    p = mc_inputs(8, 40, 4, seed)
    redux = get_batchbald_batch(p.log().permute(1, 0, 2).contiguous(), 3, num_samples=10**6, dtype=torch.double)
    assert batchbald_select(p, 3, torch.Generator()).index.tolist() == redux.indices


def test_sampled_estimate_converges_to_the_exact_conditional_entropy():
    p = mc_inputs(6, 30, 3, 8)
    batch = p[:, [1, 4, 9, 17]]
    exact = conditional_entropies(p, *exact_configurations(batch))
    sampled = conditional_entropies(p, *sampled_configurations(batch, 40000, torch.Generator().manual_seed(0)))
    assert (sampled - exact).abs().max() < 0.01
    rough = conditional_entropies(p, *sampled_configurations(batch, 30, torch.Generator().manual_seed(0)))
    assert (rough - exact).abs().max() > 1e-3  # the estimate is a real sample, not the exact sum


def test_sampled_regime_is_seeded_and_returns_distinct_picks():
    p = mc_inputs(10, 300, 10, 9).float()
    one = batchbald_select(p, 12, torch.Generator().manual_seed(1), n_configs=50).index
    assert one.tolist() == batchbald_select(p, 12, torch.Generator().manual_seed(1), n_configs=50).index.tolist()
    assert len(set(one.tolist())) == 12
    other = batchbald_select(p, 12, torch.Generator().manual_seed(2), n_configs=50).index
    assert one[:2].tolist() == other[:2].tolist()  # exact while C^|B| ≤ 50


def test_first_pick_is_the_bald_maximiser_and_bad_budget_is_refused():
    p = mc_inputs(10, 50, 5, 10)
    bald = entropy(p.mean(0)) - entropy(p).mean(0)
    assert int(batchbald_select(p, 1, torch.Generator()).index[0]) == int(bald.argmax())
    with pytest.raises(ValueError):
        batchbald_select(p, 51, torch.Generator()).index


@pytest.mark.parametrize("seed", range(11, 17))
def test_scoring_in_small_blocks_in_bound_order_changes_no_pick(seed, monkeypatch):
    """With blocks of a few candidates the search stops early on its upper bound: the picks stay those of the
    brute-force greedy."""
    import query_strategies.batchbald as bb
    p = mc_inputs(4, 12, 3, seed, sharpness=0.5)
    monkeypatch.setattr(bb, "CHUNK_ELEMENTS", 3)  # one candidate per block
    assert bb.batchbald_select(p, 3, torch.Generator()).index.tolist() == brute_force_greedy(p, 3)


def test_grouped_bound_is_above_every_estimate_and_tight_for_a_long_batch():
    p = mc_inputs(6, 200, 4, 13)
    short, long = p[:, [3, 50, 77]], p[:, list(range(0, 200, 8))]
    gen = torch.Generator().manual_seed(0)
    for q, omega in (exact_configurations(short), sampled_configurations(short, 300, gen),
                     sampled_configurations(long, 300, gen)):
        assert (entropy_bound(p, q, omega) >= conditional_entropies(p, q, omega) - 1e-12).all()
    q, omega = sampled_configurations(long, 300, gen)  # 25 points: each configuration singles out one pass
    assert (entropy_bound(p, q, omega) - conditional_entropies(p, q, omega)).max() < 0.05


@pytest.mark.filterwarnings("ignore:training stopped")
def test_the_strategy_scores_shared_mask_passes():
    """`batchbald` scores passes that are each one network for every point (Predictor.mc_probs(shared=True), the
    paper's consistent MC dropout): its picks are batchbald_select's on those, the learner's generator in the same
    state. With a mask per point (the default) a batch's joint predictive factorises: other picks."""
    gen = torch.Generator().manual_seed(0)
    learner, labeled = trained_on_every_27th(gen)
    idx, state = np.flatnonzero(~labeled), gen.get_state()
    got = STRATEGIES["batchbald"](learner.predictor, labeled, torch.Generator()).query(4).index.tolist()
    gen.set_state(state)
    shared = learner.predictor.mc_probs(idx, shared=True)
    assert got == batchbald_select(shared, 4, torch.Generator()).among(idx).index.tolist()
    gen.set_state(state)
    per_point = learner.predictor.mc_probs(idx)
    assert got != batchbald_select(per_point, 4, torch.Generator()).among(idx).index.tolist()


def test_sampled_configurations_draw_every_pass_alike_when_T_does_not_divide_M():
    """Pass 0 says class 0, pass 1 class 1, so p(y_B) is (½, ½). With M = 3 configurations the passes must stay
    equally likely (the third one's drawn): m mod T alone drew class 0 for two of every three."""
    batch = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]], dtype=torch.float64)  # (T = 2, b = 1, C = 2)
    ones = [float(sampled_configurations(batch, 3, torch.Generator().manual_seed(s))[0][1].mean()) for s in range(400)]
    assert abs(np.mean(ones) - 0.5) < 0.03
    assert all(q in (1 / 3, 2 / 3) for q in ones)  # the first two configurations take one pass each
    alone = [float(sampled_configurations(batch, 1, torch.Generator().manual_seed(s))[0][1, 0]) for s in range(50)]
    assert 0 < np.mean(alone) < 1
