"""powerbald / powermargin (query_strategies/power_sampling.py): the Gumbel top-k draw follows the law of sampling
without replacement with probability ∝ s^β, checked by chi-square against the law enumerated by hand."""
import itertools

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from query_strategies.power_sampling import margin_power_score, power_select

DRAWS = 8000


def sequential_law(s, k, beta):
    """P(ordered sequence) for draws without replacement ∝ s^β, by the product of the step probabilities."""
    w = np.asarray(s, dtype=float) ** beta
    law = {}
    for seq in itertools.permutations(range(len(s)), k):
        p, left = 1.0, w.sum()
        for i in seq:
            p *= w[i] / left
            left -= w[i]
        law[seq] = p
    return law


@pytest.mark.parametrize("scores,k,beta", [([0.1, 0.5, 1.0, 2.0], 2, 1.0), ([0.3, 0.6, 0.9, 1.2, 3.0], 3, 2.0),
                                           ([0.2, 0.7, 1.5], 1, 0.5)])
def test_gumbel_top_k_follows_the_sequential_law(scores, k, beta):
    gen = torch.Generator().manual_seed(7)
    law = sequential_law(scores, k, beta)
    seqs = list(law)
    counts = dict.fromkeys(seqs, 0)
    for _ in range(DRAWS):
        counts[tuple(power_select(torch.tensor(scores), k, gen, beta=beta).index.tolist())] += 1
    observed = np.array([counts[s] for s in seqs])
    expected = np.array([law[s] for s in seqs]) * DRAWS
    assert chisquare(observed, expected).pvalue > 1e-3


def test_gumbel_top_k_detects_a_wrong_law():
    """The same chi-square test rejects β = 1 draws when the law is that of β = 2 (the test can fail)."""
    gen = torch.Generator().manual_seed(3)
    law = sequential_law([0.3, 0.6, 0.9, 1.2], 2, 2.0)
    counts = dict.fromkeys(law, 0)
    for _ in range(5000):
        counts[tuple(power_select(torch.tensor([0.3, 0.6, 0.9, 1.2]), 2, gen, beta=1.0).index.tolist())] += 1
    observed = np.array([counts[s] for s in law])
    assert chisquare(observed, np.array(list(law.values())) * 5000).pvalue < 1e-6


def test_zero_scores_come_last_in_random_order_and_picks_are_distinct():
    scores = torch.tensor([0.0, 2.0, 0.0, 1.0, -1e-9, 0.0])
    firsts = set()
    for seed in range(30):
        chosen = power_select(scores, 6, torch.Generator().manual_seed(seed), beta=1.0)
        picks = chosen.index.tolist()
        assert sorted(picks) == list(range(6)) and set(picks[:2]) == {1, 3}
        assert chosen.score[2:].tolist() == [0.0] * 4  # -1e-9 (rounding noise) scored as the 0 it counts as
        firsts.add(picks[2])
    assert firsts == {0, 2, 4, 5}


def test_same_seed_same_draw_and_bad_budget_refused():
    s = torch.rand(50, generator=torch.Generator().manual_seed(0))
    one = power_select(s, 10, torch.Generator().manual_seed(4), beta=1.0).index
    assert one.tolist() == power_select(s, 10, torch.Generator().manual_seed(4), beta=1.0).index.tolist()
    with pytest.raises(ValueError):
        power_select(s, 51, torch.Generator(), beta=1.0).index


def test_margin_power_score_is_one_minus_the_top_two_gap():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2], [1.0, 0.0, 0.0]])
    assert torch.allclose(margin_power_score(p), torch.tensor([0.5, 1.0, 0.0]))
