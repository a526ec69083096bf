"""varratio and meanstd (query_strategies/mc_uncertainty.py) against direct numpy formulas."""
import numpy as np
import torch

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
