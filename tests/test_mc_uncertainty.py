"""varratio and meanstd (query_strategies/mc_uncertainty.py) against direct numpy formulas, and the scores of
the MC-dropout uncertainty strategies taken on the mean MC-dropout probabilities."""
import numpy as np
import pytest
import torch

from digits_learners import trained_on_every_27th
from query_strategies import STRATEGIES
from query_strategies.least_confidence import least_confidence
from query_strategies.mc_uncertainty import mean_std, variation_ratio
from query_strategies.selection import top_k


def test_variation_ratio_is_one_minus_the_top_mean_probability():
    mc = torch.tensor(np.random.default_rng(0).dirichlet(np.ones(5), size=(10, 30)))
    mean = mc.mean(0).numpy()
    assert np.allclose(variation_ratio(mc.mean(0)).numpy(), [1 - max(row) for row in mean])
    assert top_k(variation_ratio(mc.mean(0)), 7).index.tolist() == top_k(least_confidence(mc.mean(0)), 7).index.tolist()


def test_mean_std_is_the_class_mean_of_population_standard_deviations():
    mc = np.random.default_rng(1).dirichlet(np.ones(4), size=(10, 25))
    ref = [np.mean([np.sqrt(np.mean((mc[:, i, c] - mc[:, i, c].mean()) ** 2)) for c in range(4)]) for i in range(25)]
    assert np.allclose(mean_std(torch.tensor(mc)).numpy(), ref)


def test_mean_std_is_zero_when_the_passes_agree():
    p = torch.tensor(np.random.default_rng(2).dirichlet(np.ones(3), size=6))
    assert torch.allclose(mean_std(p.expand(10, 6, 3)), torch.zeros(6, dtype=p.dtype))


def test_mean_std_equals_torch_std_over_the_passes_across_blocks():
    """The blocked float64 two-pass σ gives torch's float32 std (float64 Welford accumulation) bit for bit, on more
    points than one block holds."""
    g = torch.Generator().manual_seed(3)
    mc = torch.softmax(3 * torch.randn(9000, 7, generator=g) + torch.randn(10, 9000, 7, generator=g), dim=-1)
    assert torch.equal(mean_std(mc), mc.std(dim=0, correction=0).mean(dim=1))
    assert torch.equal(mean_std(mc[:1]), torch.zeros(9000))


@pytest.mark.filterwarnings("ignore:training stopped")
@pytest.mark.parametrize("alg, deterministic", [("conf_dropout", "conf"), ("marg_dropout", "marg"),
                                                ("entropy_dropout", "entropy"), ("varratio", "conf")])
def test_dropout_strategies_rank_the_mean_mc_dropout_probabilities(alg, deterministic):
    """Their picks are the top k of their score of learner.mc_probs(pool).mean(0) (the learner's generator in the
    same state), not of the deterministic probabilities: those pick another batch on a trained learner."""
    gen = torch.Generator().manual_seed(0)
    learner, labeled = trained_on_every_27th(gen)
    idx, state, cls = np.flatnonzero(~labeled), gen.get_state(), STRATEGIES[alg]
    got = cls(learner.predictor, labeled, torch.Generator()).query(15).index.tolist()
    gen.set_state(state)
    assert got == top_k(cls.score(learner.predictor.mc_probs(idx).mean(0)), 15).among(idx).index.tolist()
    assert got != STRATEGIES[deterministic](learner.predictor, labeled, torch.Generator()).query(15).index.tolist()
