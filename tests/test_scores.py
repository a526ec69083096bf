"""Uncertainty scores on hand-computed examples."""
import math

import numpy as np
import torch

from query_strategies.bald import bald_scores
from query_strategies.entropy_sampling import entropy
from query_strategies.least_confidence import least_confidence
from query_strategies.margin_sampling import smallest_margin
from query_strategies.selection import top_k

P = torch.tensor([[1.0, 0.0, 0.0],
                  [0.5, 0.5, 0.0],
                  [0.7, 0.2, 0.1],
                  [1 / 3, 1 / 3, 1 / 3]])


def test_entropy_with_zero_probabilities_is_finite():
    h = entropy(P)
    expected = [0.0, math.log(2), -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1)), math.log(3)]
    assert torch.isfinite(h).all()
    assert torch.allclose(h, torch.tensor(expected), atol=1e-6)


def test_least_confidence():
    assert torch.allclose(least_confidence(P), torch.tensor([-1.0, -0.5, -0.7, -1 / 3]))


def test_margin():
    assert torch.allclose(smallest_margin(P), torch.tensor([-1.0, 0.0, -0.5, 0.0]), atol=1e-7)


def test_the_margin_of_a_single_class_is_its_whole_probability():
    """p₍₂₎ = 0 when there is no second class (topk(2) raised on one column)."""
    assert smallest_margin(torch.tensor([[1.0], [1.0]])).tolist() == [-1.0, -1.0]
    assert smallest_margin(torch.tensor([[0.5, 0.5, 0.0]], dtype=torch.float64)).tolist() == [0.0]


def test_top_k_takes_highest_and_breaks_ties_by_position():
    assert top_k(torch.tensor([0.1, 0.9, 0.5, 0.9]), 3).index.tolist() == [1, 3, 2]
    assert top_k(smallest_margin(P), 2).index.tolist() == [1, 3]


def test_top_k_is_the_stable_full_sort_on_ties_zeros_and_nan():
    """The partition-first top_k gives the first k of a stable argsort of −score, the scores rounded to few values
    (many ties at the k-th), with ±0, ±inf and NaN among them, for k below, at and past the non-NaN count (a k past
    the scores is refused: tests/test_picks.py)."""
    rng = np.random.default_rng(11)
    for trial in range(30):
        s = np.round(rng.normal(size=300), int(rng.integers(0, 3)))
        s[rng.choice(300, 20, replace=False)] = rng.choice([0.0, -0.0, np.inf, -np.inf, np.nan], size=20)
        for k in (1, int(rng.integers(2, 300)), 285, 300):
            expected = np.argsort(-s, kind="stable")[:k]
            chosen = top_k(torch.tensor(s), k)
            assert chosen.index.tolist() == expected.tolist()
            assert np.array_equal(chosen.score, s[expected], equal_nan=True)


def test_bald_on_known_mc_samples():
    # two draws that disagree completely: H(mean) = log 2, mean H = 0 -> log 2
    # two identical draws: mutual information 0
    mc = torch.tensor([[[1.0, 0.0], [0.5, 0.5], [0.9, 0.1]],
                       [[0.0, 1.0], [0.5, 0.5], [0.9, 0.1]]])
    b = bald_scores(mc)
    assert torch.allclose(b, torch.tensor([math.log(2), 0.0, 0.0]), atol=1e-6)


def test_bald_equals_brute_force_mutual_information():
    rng = np.random.default_rng(0)
    mc = rng.dirichlet(np.ones(4), size=(10, 6))
    ref = []
    for i in range(6):
        mean = mc[:, i].mean(0)
        ref.append(-(mean * np.log(mean)).sum() + np.mean([(p * np.log(p)).sum() for p in mc[:, i]]))
    assert np.allclose(bald_scores(torch.tensor(mc)).numpy(), ref)


def test_bald_on_one_thread_equals_the_formula_on_two_threads():
    g = torch.Generator().manual_seed(5)
    mc = torch.softmax(3 * torch.randn(20000, 10, generator=g) + torch.randn(10, 20000, 10, generator=g), dim=-1)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        direct = entropy(mc.mean(0)) - entropy(mc).mean(0)
        assert torch.equal(bald_scores(mc), direct) and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
