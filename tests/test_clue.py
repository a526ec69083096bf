"""CLUE (query_strategies/clue.py) against scikit-activeml's CLUE on the same probabilities and embeddings, its
tempered entropy against softmax of tempered logits, and its weights against unweighted k-means."""
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from skactiveml.classifier import SklearnClassifier
from skactiveml.pool import Clue as SkClue
from skactiveml.utils import MISSING_LABEL

from query_strategies.clue import clue_select, tempered_entropy
from query_strategies.entropy_sampling import entropy
from query_strategies.typiclust import seed_from


def blobs(n, d, centres, seed):
    rng = np.random.default_rng(seed)
    return 4 * rng.normal(size=(centres, d))[rng.integers(centres, size=n)] + rng.normal(size=(n, d))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_picks_match_scikit_activeml(seed):
    x = blobs(300, 4, 6, seed)
    y = np.full(300, MISSING_LABEL)
    y[:30] = np.random.default_rng(seed).integers(3, size=30)
    clf = SklearnClassifier(LogisticRegression(), classes=[0, 1, 2], random_state=0).fit(x, y)
    k, shared_seed = 7, seed_from(torch.Generator().manual_seed(seed))
    theirs = SkClue(cluster_algo_dict={"n_init": 10, "random_state": shared_seed}, random_state=0).query(
        x, y, clf, fit_estimator=False, batch_size=k)
    probs = torch.as_tensor(clf.predict_proba(x[30:]))
    ours = clue_select(probs, torch.as_tensor(x[30:]), k, torch.Generator().manual_seed(seed)).among(np.arange(30, 300))
    assert ours.index.tolist() == theirs.tolist()


def test_tempered_entropy_is_the_entropy_of_tempered_logits():
    z = torch.randn(20, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for t in (0.5, 1.0, 3.0, 1e-4):  # at 1e-4 every p_c^(1/T) underflowed: 0 / 0 gave NaN weights, a crash
        want = entropy(torch.softmax(z / t, dim=1))
        assert torch.allclose(tempered_entropy(torch.softmax(z, dim=1), t), want, atol=1e-12)
    one_hot = torch.eye(5, dtype=torch.float64)[:3]  # zero probabilities stay zero
    assert tempered_entropy(one_hot, 0.5).tolist() == [0.0, 0.0, 0.0]
    p = torch.softmax(z, dim=1)  # T = 1e-310: log p / T was −inf in every class, their softmax NaN (a traceback)
    assert tempered_entropy(p, 1e-310).tolist() == [0.0] * 20


def test_uncertain_points_pull_the_centres():
    """Two blobs, one certain and one uncertain: with one centre, the weighted mean lies in the uncertain blob."""
    x = torch.cat([torch.zeros(50, 2), torch.full((50, 2), 10.0)]) + 0.1 * torch.randn(100, 2)
    probs = torch.cat([torch.tensor([[1.0, 0.0]]).repeat(50, 1), torch.tensor([[0.5, 0.5]]).repeat(50, 1)])
    assert clue_select(probs, x, 1, torch.Generator().manual_seed(0)).index[0] >= 50
    certain = torch.tensor([[1.0, 0.0]]).repeat(100, 1)  # no uncertainty anywhere: equal weights
    assert len(clue_select(certain, x, 2, torch.Generator().manual_seed(0)).index) == 2
