"""DropQuery (query_strategies/dropquery.py): the disagreement counts against a loop over the same dropout draws,
the candidate rule and the nearest-free rule against brute force, and the picks against scikit-activeml's DropQuery
given the same dropout predictions."""
import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from skactiveml.classifier import SklearnClassifier
from skactiveml.pool import DropQuery as SkDropQuery
from skactiveml.utils import MISSING_LABEL

import dataset
from learner import Learner
from predictor import head_dropout_logits
from query_strategies.dropquery import (DropQuery, candidates, disagreements, dropquery_pick, dropquery_select,
                                        kmeans_centres, nearest_free)
from query_strategies.selection import seed_from


def test_disagreements_count_passes_whose_class_changes():
    """The last layer's dropout passes (predictor.head_dropout_logits) against a loop over the same draws."""
    g = torch.Generator().manual_seed(0)
    emb, w, b = torch.randn(50, 6, generator=g).relu(), torch.randn(4, 6, generator=g), torch.randn(4, generator=g)
    got = disagreements(*head_dropout_logits(w, b, emb, 0.6, 5, torch.Generator().manual_seed(3)))
    draws, want = torch.Generator().manual_seed(3), np.zeros(50, dtype=int)
    for _ in range(5):
        keep = (torch.rand(50, 6, generator=draws) >= 0.6).float()
        for i in range(50):
            want[i] += int(((emb[i] * keep[i] / 0.4) @ w.T + b).argmax() != (emb[i] @ w.T + b).argmax())
    assert got.tolist() == want.tolist() and want.max() > 0


def test_candidates_are_the_majority_or_the_k_most_disagreeing():
    count = np.array([0, 2, 3, 1, 2, 0, 3])
    assert candidates(count, 3, 2).tolist() == [1, 2, 4, 6]  # 2 or 3 of 3 passes: more than half
    assert candidates(count, 4, 2).tolist() == [2, 6]  # more than 2 of 4
    assert candidates(count, 4, 5).tolist() == [1, 2, 3, 4, 6]  # too few: the 5 highest counts, lowest row first
    assert candidates(count, 6, 3).tolist() == [1, 2, 6]


def test_each_centre_takes_its_nearest_free_row():
    rng = np.random.default_rng(1)
    x, centres = rng.normal(size=(30, 3)), rng.normal(size=(8, 3))
    centres[3] = centres[1]  # two centres want the same row: the later one takes its second nearest
    rows, dist = nearest_free(x, centres, block=3)
    taken = []
    for c in centres:
        d = np.sqrt(((x - c) ** 2).sum(1))
        d[taken] = np.inf
        taken.append(int(np.argmin(d)))
    assert rows.tolist() == taken and len(set(taken)) == 8
    assert np.allclose(dist, [np.linalg.norm(x[r] - c) for r, c in zip(rows, centres)])


class Recording(SklearnClassifier):
    """A fitted scikit-activeml classifier that keeps the inputs of its predict calls (DropQuery's first call is
    the candidates as they are, then one per dropout pass)."""
    seen = []

    def predict(self, X, **kwargs):
        Recording.seen.append(np.array(X))
        return super().predict(X, **kwargs)


def blobs(n, d, centres, seed):
    """(points, blob of each): tight blobs far apart, in the positive orthant (embeddings after a ReLU)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(centres, size=n)
    return np.abs(50 * rng.normal(size=(centres, d)))[labels] + 0.05 * rng.normal(size=(n, d)), labels


def sk_query(x, y, clf, k, seed):
    """scikit-activeml's DropQuery picks and the dropout predictions it made (its first predict call is the
    candidates without dropout)."""
    Recording.seen.clear()
    theirs = SkDropQuery(n_dropout_samples=3, cluster_algo_dict={"random_state": seed},
                         random_state=seed).query(x, y, clf, fit_clf=False, batch_size=k)
    plain, *passes = [clf.predict(X) for X in list(Recording.seen)]
    return theirs, sum((p != plain).astype(int) for p in passes)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_picks_match_scikit_activeml_given_the_same_dropout_predictions(seed):
    """k is the number of blobs the candidates fall in, so that the clustering has one answer whatever order the
    candidates come in (scikit-activeml lists them in an unstable argsort order)."""
    x, blob = blobs(300, 5, 12, seed)
    y = np.full(300, MISSING_LABEL)
    y[:60] = blob[:60] % 3
    clf = Recording(LogisticRegression(fit_intercept=False), classes=[0, 1, 2], random_state=0).fit(x, y)
    _, count = sk_query(x, y, clf, 1, seed)
    k = len(set(blob[60:][candidates(count, 3, 1)]))
    assert k >= 3
    theirs, count = sk_query(x, y, clf, k, seed)
    ours = dropquery_pick(x[60:], count, 3, k, seed).among(np.arange(60, 300))
    assert sorted(ours.index.tolist()) == sorted(theirs.tolist())


def test_select_draws_only_from_the_generator():
    g = torch.Generator().manual_seed(4)
    emb, w = torch.randn(300, 8, generator=g).relu(), torch.randn(5, 8, generator=g)
    a, b = (dropquery_select(emb, *head_dropout_logits(w, None, emb, 0.75, 3, gen), 10, gen)
            for gen in (torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)))
    assert a.index.tolist() == b.index.tolist() and len(set(a.index.tolist())) == 10
    assert np.isfinite(a.score).all()


def test_the_strategy_draws_its_masks_then_its_kmeans_seed_from_its_generator():
    """DropQuery's picks on a digits network: those of its definition on the network's embeddings e and last layer
    W, count = Σ_passes [argmax (e ⊙ (u ≥ 0.75) / 0.25) Wᵀ ≠ argmax e Wᵀ] with u (n × d) drawn pass after pass from
    the strategy's generator, then its k-means seed (the draws of runs made before the passes moved to the
    predictor)."""
    ds = dataset.load_digits(np.random.default_rng(0))
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), max_epochs=5)
    with pytest.warns(UserWarning, match="epoch cap"):
        learner.train(np.arange(100))
    picks = DropQuery(learner.predictor, np.arange(len(ds.y_train)) < 100, torch.Generator().manual_seed(2)).query(20)
    idx, gen = np.arange(100, len(ds.y_train)), torch.Generator().manual_seed(2)
    emb, w = learner.predictor.network_embeddings(idx), learner.predictor.last_layer()[0]
    count = sum(((emb * (torch.rand(emb.shape, generator=gen) >= 0.75) / 0.25) @ w.T).argmax(1) != (emb @ w.T).argmax(1)
                for _ in range(3))
    assert picks.index.tolist() == dropquery_pick(emb, count.numpy(), 3, 20, seed_from(gen)).among(idx).index.tolist()


def test_kmeans_centres_are_seeded():
    x, _ = blobs(100, 3, 4, 5)
    assert np.array_equal(kmeans_centres(x, 4, 7), kmeans_centres(x, 4, 7))


def test_fewer_distinct_points_than_centres_is_quiet():
    """scikit-learn warned (ConvergenceWarning) on every query of a pool of duplicates; dropquery and clue take
    k free rows all the same."""
    x = np.repeat(np.eye(3), 10, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        centres = kmeans_centres(x, 5, seed=0)
    assert len(np.unique(centres.round(9), axis=0)) == 3 and len(set(nearest_free(x, centres)[0].tolist())) == 5
