"""ALBL (query_strategies/active_learning_by_learning.py): the bandit's choice probabilities, weight updates and
per-point importance weights against the formulas, worked out independently over a few real rounds on digits."""
import math

import numpy as np
import pytest
import torch

import dataset
from cli import SMALL, accuracy_lines, run_main
from learner import Learner
from query_strategies import STRATEGIES
from query_strategies.active_learning_by_learning import (ActiveLearningByLearning, choice_probabilities,
                                                          log_weight_step)
from query_strategies.core_set import CoreSet
from query_strategies.least_confidence import LeastConfidence
from query_strategies.random_sampling import RandomSampling

pytestmark = pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")  # short trainings on purpose


def expected_probabilities(w):
    """p = (1 − K·pmin)·w/Σw + pmin, pmin = 1/(10K), in plain floats."""
    K = len(w)
    pmin = 1 / (10 * K)
    return [(1 - K * pmin) * wi / sum(w) + pmin for wi in w]


def test_choice_probabilities():
    assert torch.allclose(choice_probabilities(torch.tensor([1.0, 3.0], dtype=torch.float64).log()),
                          torch.tensor([0.275, 0.725], dtype=torch.float64))
    w = [2.0, 1.0, 1.0, 4.0]
    p = choice_probabilities(torch.tensor(w, dtype=torch.float64).log())
    assert torch.allclose(p, torch.tensor(expected_probabilities(w), dtype=torch.float64))
    assert math.isclose(float(p.sum()), 1.0) and float(p.min()) >= 1 / 40


def test_weights_follow_a_scripted_reward_sequence():
    script = [(0, 0.8), (1, 1.7), (1, 0.0), (0, 12.5), (1, 0.95)]  # (chosen arm, reward)
    w, log_w = [1.0, 1.0], torch.zeros(2, dtype=torch.float64)
    for s, reward in script:
        p = expected_probabilities(w)
        assert torch.allclose(choice_probabilities(log_w), torch.tensor(p, dtype=torch.float64))
        w[s] *= math.exp(0.05 / 2 * (reward + math.sqrt(math.log(2 / 0.1) / 2) / p[s]))
        log_w[s] += log_weight_step(reward, float(choice_probabilities(log_w)[s]), 2)
        assert torch.allclose(log_w.exp(), torch.tensor(w, dtype=torch.float64), rtol=1e-12)


@pytest.fixture(scope="module")
def digits():
    return dataset.load("digits", 0, "data", np.random.default_rng(0))


def albl_on_digits(ds, arms, seed=0):
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(seed), max_epochs=40)
    labeled = np.zeros(len(ds.y_train), dtype=bool)
    labeled[:30] = True
    albl = ActiveLearningByLearning(learner.predictor, labeled, torch.Generator().manual_seed(seed + 1), arms=arms)
    learner.train(albl.labeled_idx())
    albl.trained()  # no query yet: nothing to learn
    return learner, albl


def play_round(learner, albl, n):
    albl.update(albl.query(n).index)
    learner.train(albl.labeled_idx())
    albl.trained()


def test_rounds_on_digits_match_the_formulas(digits):
    learner, albl = albl_on_digits(digits, [LeastConfidence, RandomSampling])
    assert albl.log_w.exp().tolist() == [1.0, 1.0]
    w, q, chosen = [1.0, 1.0], np.ones(len(digits.y_train)), set()
    for _ in range(4):
        p = expected_probabilities(w)
        draw = torch.Generator().set_state(albl.gen.get_state())
        s = int(torch.multinomial(torch.tensor(p, dtype=torch.float64), 1, generator=draw))
        picked = albl.query(20).index
        assert albl.last == (s, pytest.approx(p[s]))
        chosen.add(s)
        q[picked] = p[s]
        albl.update(picked)
        assert all((arm.labeled == albl.labeled).all() for arm in albl.arms)
        learner.train(albl.labeled_idx())
        idx = albl.labeled_idx()
        with torch.no_grad():
            pred = learner.model(digits.X_train[idx])[0].argmax(1)
        reward = float(np.mean((pred == digits.y_train[idx]).numpy() / q[idx]))
        w[s] *= math.exp(0.05 / 2 * (reward + math.sqrt(math.log(20)) / math.sqrt(2) / p[s]))
        albl.trained()
        np.testing.assert_allclose(albl.query_prob[idx], q[idx])
        np.testing.assert_allclose(albl.log_w.exp().numpy(), w, rtol=1e-12)
        assert albl.last is None
    assert chosen == {0, 1} and (albl.query_prob[:30] == 1).all() and albl.labeled.sum() == 30 + 4 * 20


def test_state_dict_continues_exactly(digits):
    learner, albl = albl_on_digits(digits, [LeastConfidence, CoreSet])
    play_round(learner, albl, 15)
    state, gen_state = albl.state_dict(), albl.gen.get_state()
    twin = ActiveLearningByLearning(learner.predictor, np.zeros(len(albl.labeled), dtype=bool),
                                    torch.Generator().set_state(gen_state))
    twin.load_state_dict(state)
    assert all((arm.labeled == albl.labeled).all() for arm in twin.arms)
    first = albl.query(15).index
    assert np.array_equal(twin.query(15).index, first) and twin.last == albl.last
    for strategy in (albl, twin):
        strategy.update(first)
    learner.train(albl.labeled_idx())  # the rewards' labels: those of the points the network was trained on
    for strategy in (albl, twin):
        strategy.trained()
    assert torch.equal(twin.log_w, albl.log_w) and np.array_equal(twin.query_prob, albl.query_prob)


def test_albl_is_registered_over_conf_and_coreset():
    assert STRATEGIES["albl"] is ActiveLearningByLearning
    assert ActiveLearningByLearning.default_arms == (LeastConfidence, CoreSet)


@pytest.mark.slow
@pytest.mark.parametrize("data", ["digits", "letter"])
def test_cli_runs_albl(tmp_path, request, data):
    flags = SMALL if data == "digits" else request.getfixturevalue("letter")
    proc = run_main("--alg", "albl", "--out", tmp_path, *flags)
    assert proc.returncode == 0, proc.stderr
    assert [n for n, _ in accuracy_lines(proc.stdout)] == ([50, 100, 150] if data == "digits" else [100, 150, 200])
