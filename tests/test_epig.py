"""EPIG (query_strategies/epig.py) against a pair-by-pair reference and against baal's EPIG on the same MC-dropout
probabilities; its shared-mask passes (Predictor.mc_probs(shared=True)) are one network per pass."""
import numpy as np
import pytest
import torch
from baal.active.heuristics import EPIG as BaalEPIG

import query_strategies.epig as ep
from learner import Learner
from query_strategies.epig import epig_scores, epig_select
from tests.test_mc_dropout import CASES


def mc_like(K, n, C, seed):
    """K passes of probabilities over n points: softmax of per-point logits plus per-pass noise, float64 (so that
    each row sums to 1 to float64 rounding, as the reference's marginals assume)."""
    g = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(n, C, generator=g, dtype=torch.float64) + torch.randn(K, n, C, generator=g,
                                                                                dtype=torch.float64)
    return torch.softmax(logits, dim=-1)


def reference_epig(pool, targets):
    """For each pool row the mean over targets of KL[p(y, y*) || p(y) p(y*)], by loops in float64."""
    pool, targets = pool.double().numpy(), targets.double().numpy()
    K, n, C = pool.shape
    out = np.zeros(n)
    for i in range(n):
        for m in range(targets.shape[1]):
            joint = sum(np.outer(pool[k, i], targets[k, m]) for k in range(K)) / K
            indep = np.outer(joint.sum(1), joint.sum(0))
            out[i] += (joint * np.log(joint / indep)).sum() / targets.shape[1]
    return out


@pytest.mark.parametrize("K,n,M,C,seed", [(5, 12, 4, 3, 0), (8, 30, 7, 5, 1), (3, 9, 9, 2, 2)])
def test_scores_equal_the_pairwise_reference(K, n, M, C, seed, monkeypatch):
    monkeypatch.setattr(ep, "CHUNK_ELEMENTS", 50)  # several pool blocks
    pool, targets = mc_like(K, n, C, seed), mc_like(K, M, C, seed + 10)
    assert np.allclose(epig_scores(pool, targets).numpy(), reference_epig(pool, targets), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_match_baal(seed):
    pool, targets = mc_like(20, 200, 10, seed), mc_like(20, 50, 10, seed + 5)
    theirs = BaalEPIG().compute_score(pool.permute(1, 2, 0).numpy(), targets.permute(1, 2, 0).numpy())
    assert np.allclose(epig_scores(pool, targets).numpy(), theirs, atol=2e-5)


def test_picks_are_the_highest_scores_with_them():
    pool, targets = mc_like(6, 40, 4, 3), mc_like(6, 10, 4, 4)
    scores = epig_scores(pool, targets).numpy()
    chosen = epig_select(pool, targets, 5, torch.Generator())
    assert chosen.index.tolist() == np.argsort(-scores, kind="stable")[:5].tolist()
    assert np.array_equal(chosen.score, scores[chosen.index])
    assert (scores >= -1e-12).all()  # a mutual information


def test_a_point_agreeing_in_every_pass_gains_nothing():
    pool = mc_like(6, 3, 4, 5)
    pool[:, 1] = pool[0, 1]  # the same prediction in every pass: no information about any target
    assert abs(float(epig_scores(pool, mc_like(6, 5, 4, 6))[1])) < 1e-12


@pytest.mark.filterwarnings("ignore:training stopped")
@pytest.mark.parametrize("case", ["mlp", "cnn"])
def test_a_shared_pass_is_one_network_for_every_point(case):
    """With shared masks a point's probabilities in a pass do not depend on the other points in the call (and a
    duplicated point gets the same); with per-point masks they do."""
    ds = CASES[case]()
    gen = torch.Generator().manual_seed(1)
    lr = Learner(case, ds, "cpu", gen, max_epochs=2)
    lr.train(np.arange(20))
    idx = np.array([3, 4, 5, 3])
    state = gen.get_state()
    together = lr.predictor.mc_probs(idx, draws=4, shared=True)
    gen.set_state(state)
    alone = lr.predictor.mc_probs(idx[1:2], draws=4, shared=True)
    assert torch.allclose(together[:, 1], alone[:, 0], atol=1e-6)
    assert torch.allclose(together[:, 0], together[:, 3], atol=1e-6)  # a convolution's rounding may differ
    assert not torch.allclose(together[0], together[1], atol=1e-3)
    independent = lr.predictor.mc_probs(idx, draws=4)
    assert not torch.allclose(independent[:, 0], independent[:, 3], atol=1e-3)
