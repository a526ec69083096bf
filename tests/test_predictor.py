"""The predictor: the narrow interface through which strategies see the trained network (probabilities, embeddings,
MC-dropout samples, attack scores, the labels of the points it was trained on, the number of classes, a training
extension's scores, the last layer under dropout), checked on a network built by hand and on the learner's own, and
the time strategies spend in it booked as rounds.csv's infer_seconds."""
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dataset
import model
import predictor as predictor_module
from learner import Learner
from model import build_model, reset_weights
from predictor import Predictor
from query_strategies import STRATEGIES
from run import timed_query

ROOT = Path(__file__).resolve().parent.parent


def pool(n=40, d=6, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.arange(n) % classes


def mlp(d=6, classes=3, seed=0):
    net = build_model("mlp", (d,), classes, n_emb=16)
    reset_weights(net, torch.Generator().manual_seed(seed))
    return net.eval()


def test_outputs_are_the_networks_on_the_pool_points_asked_for():
    X, y = pool()
    net = mlp()
    p = Predictor(X, y, 3, torch.Generator())
    p.use(net, [0, 1, 2])
    idx = np.array([5, 1, 30])
    with torch.no_grad():
        logits, emb = net(X[idx])
    probs, embeddings = p.probs_embeddings(idx)
    assert torch.allclose(p.probs(idx), F.softmax(logits, 1)) and torch.equal(p.probs(idx), probs)
    assert torch.equal(p.embeddings(idx), emb) and torch.equal(embeddings, emb)
    assert (p.n_classes, p.n_pool, p.model) == (3, 40, net)
    assert p.accuracy(X, y) == int((net(X)[0].argmax(1) == y).sum()) / 40


def test_labels_only_of_the_points_the_network_was_trained_on():
    X, y = pool()
    p = Predictor(X, y, 3, torch.Generator())
    p.use(mlp(), [4, 7, 9])
    assert p.labels([9, 4]).tolist() == [0, 1]
    with pytest.raises(ValueError, match="not trained on"):
        p.labels([4, 5])
    p.use(mlp(seed=1), [5])  # a new network: the points it was trained on
    assert p.labels([5]).tolist() == [2]
    with pytest.raises(ValueError):
        p.labels([4])


def test_mc_samples_are_drawn_from_the_generator_it_was_given():
    X, y = pool()
    gen = torch.Generator().manual_seed(3)
    p = Predictor(X, y, 3, gen)
    p.use(mlp(), [])
    first = p.mc_probs(np.arange(10), draws=4)
    assert first.shape == (4, 10, 3) and torch.allclose(first.sum(2), torch.ones(4, 10))
    assert not torch.equal(first[0], first[1])
    gen.manual_seed(3)
    assert torch.equal(p.mc_probs(np.arange(10), draws=4), first)


def test_inference_time_accumulates_over_the_calls_strategies_make():
    X, y = pool()
    p = Predictor(X, y, 3, torch.Generator())
    p.use(mlp(), [])
    assert p.infer_seconds == 0
    p.probs(np.arange(40))
    after_probs = p.infer_seconds
    p.accuracy(X, y)  # the test set's accuracy is no strategy's inference
    assert after_probs > 0 and p.infer_seconds == after_probs
    p.mc_probs(np.arange(40))
    assert p.infer_seconds > after_probs


def test_an_extensions_scores_are_its_function_of_the_points_asked_for(monkeypatch):
    """input_scores: score of the pool's inputs, SCORE_BATCH rows at a time; embedding_scores: the probabilities
    with score of the network's embeddings; both timed."""
    X, y = pool()
    net, p = mlp(), Predictor(X, y, 3, torch.Generator())
    p.use(net, [])
    idx, sizes = np.array([5, 1, 30, 2, 9, 17, 8, 0, 39]), []
    monkeypatch.setattr(predictor_module, "SCORE_BATCH", 4)
    got = p.input_scores(idx, lambda x: sizes.append(len(x)) or x.sum(1))
    assert torch.equal(got, X[idx].sum(1)) and sizes == [4, 4, 1] and p.infer_seconds > 0
    before = p.infer_seconds
    probs, scores = p.embedding_scores(idx, lambda e: e.square().sum(1))
    with torch.no_grad():
        logits, emb = net(X[idx])
    assert torch.equal(probs, F.softmax(logits, 1)) and torch.equal(scores, emb.square().sum(1))
    assert p.infer_seconds > before


def test_head_dropout_draws_each_pass_from_the_generator_given():
    """head(e) and head(e ⊙ m / (1 − rate)) per pass, m ≥ rate of uniforms drawn n × d at a time from the
    strategy's generator; the predictor's own generator untouched."""
    X, y = pool()
    net, own = mlp(), torch.Generator().manual_seed(1)
    p = Predictor(X, y, 3, own)
    p.use(net, [])
    idx = np.array([3, 8, 21, 0, 11])
    emb, logits, dropped = p.head_dropout(idx, 0.6, 4, torch.Generator().manual_seed(7))
    draws = torch.Generator().manual_seed(7)
    with torch.no_grad():
        want_emb = net(X[idx])[1]
        want = [net.head(want_emb * (torch.rand(5, 16, generator=draws) >= 0.6) / 0.4) for _ in range(4)]
    assert torch.equal(emb, want_emb) and torch.equal(logits, want_emb @ net.head.weight.T)
    assert torch.equal(dropped, torch.stack(want)) and not torch.equal(dropped[0], dropped[1])
    assert torch.equal(own.get_state(), torch.Generator().manual_seed(1).get_state()) and p.infer_seconds > 0


SLOW = 0.2  # seconds each slowed call sleeps


def slowed(fn):
    """fn, sleeping SLOW seconds before each call."""
    def slow(*args, **kwargs):
        time.sleep(SLOW)
        return fn(*args, **kwargs)
    return slow


def digits_strategy(alg):
    """(strategy `alg`, its learner): an mlp trained (2 epochs) with the strategy's extensions on the first 100
    digits points."""
    ds = dataset.load_digits(np.random.default_rng(0))
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), n_emb=32, max_epochs=2)
    labelled = np.arange(len(ds.y_train)) < 100
    strategy = STRATEGIES[alg](learner.predictor, labelled, torch.Generator().manual_seed(1))
    learner.extend(strategy.extensions)
    with pytest.warns(UserWarning, match="epoch cap"):
        learner.train(np.flatnonzero(labelled))
    return strategy, learner


@pytest.mark.parametrize("alg, scorer", [("vaal", "labelled_probability"), ("lpl", "predict"), ("waal", "score")])
def test_a_training_extensions_scores_of_the_pool_are_booked_as_inference(alg, scorer, monkeypatch):
    """The query's time in the extension's scoring function (slowed) is rounds.csv's infer_seconds (run.timed_query),
    not its select_seconds: the predictor, not the strategy, runs it over the pool."""
    strategy, learner = digits_strategy(alg)
    monkeypatch.setattr(strategy.module, scorer, slowed(getattr(strategy.module, scorer)))
    row = {}
    timed_query(strategy, learner.predictor, 10, row)
    assert row["infer_seconds"] >= SLOW > row["select_seconds"]


def test_dropquerys_dropout_passes_are_booked_as_inference(monkeypatch):
    """Each of DropQuery's dropout passes draws its mask through model.keep_mask (slowed) within the predictor."""
    strategy, learner = digits_strategy("dropquery")
    monkeypatch.setattr(model, "keep_mask", slowed(model.keep_mask))
    row = {}
    timed_query(strategy, learner.predictor, 10, row)
    assert row["infer_seconds"] >= strategy.drop_passes * SLOW


def test_strategies_use_only_the_predictors_interface():
    """Every attribute a strategy reads from its `learner` is a public member of Predictor, which exposes neither
    the pool's tensors nor the data set."""
    used = set()
    for path in (ROOT / "query_strategies").glob("*.py"):
        used |= set(re.findall(r"self\.learner\.(\w+)", path.read_text()))
    public = {name for name in dir(Predictor) if not name.startswith("_")}
    assert used and used <= public, used - public
    assert not public & {"X", "y", "ds", "gen", "X_test", "y_test"}


def test_the_learners_predictor_answers_with_each_new_network():
    ds = dataset.load("digits", 0, "data", np.random.default_rng(0))
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), max_epochs=3)
    predictor = learner.predictor
    with pytest.warns(UserWarning, match="epoch cap"):
        learner.train(np.arange(100))
    first = predictor.probs(np.arange(20))
    with pytest.warns(UserWarning, match="epoch cap"):
        learner.train(np.arange(150))
    assert predictor is learner.predictor and predictor.model is learner.model
    assert not torch.equal(predictor.probs(np.arange(20)), first)
    assert predictor.labels(np.arange(150)).tolist() == ds.y_train[:150].tolist()
    picked = STRATEGIES["badge"](predictor, np.arange(len(ds.y_train)) < 150, torch.Generator()).query(5)
    assert len(picked.index) == 5 and picked.index.min() >= 150
