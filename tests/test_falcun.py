"""FALCUN (query_strategies/falcun.py) against a loop written from the authors' definition on the same uniform
numbers, its draws' law by counting, and its first draw's law against scikit-activeml's Falcun."""
import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from skactiveml.classifier import SklearnClassifier
from skactiveml.pool import Falcun as SkFalcun
from skactiveml.utils import MISSING_LABEL

from query_strategies.falcun import draw_weights, falcun_select


def simplex(n, C, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(2 * torch.randn(n, C, generator=g, dtype=torch.float64), dim=1)


def reference(p, k, uniforms, gamma, power=lambda rel, gamma: rel ** gamma):
    """The authors' loop in NumPy: d starts at u, then min(d, L1 to the last pick); draw ∝ (minmax(d) + u)^γ over
    the rows not picked (min and max over them), uniform when d is 0 on all of them; inverse CDF of each uniform.
    `power(rel, γ)` computes the weights (up to a common factor)."""
    p = p.numpy()
    top = -np.sort(-p, axis=1)
    u = 1 - (top[:, 0] - top[:, 1])
    d, picked = u.copy(), []
    for t in range(k):
        if picked:
            d = np.minimum(d, np.abs(p - p[picked[-1]]).sum(1))
        free = np.ones(len(p), dtype=bool)
        free[picked] = False
        lo, hi = d[free].min(), d[free].max()
        rel = ((d - lo) / (hi - lo) if hi > lo else np.zeros_like(d)) + u
        w = np.where(free, power(rel, gamma) if d[free].sum() > 0 else 1.0, 0.0)
        picked.append(int(np.searchsorted(np.cumsum(w), uniforms[t] * w.sum(), side="right")))
    return picked


@pytest.mark.parametrize("n,C,k,gamma,seed", [(40, 3, 10, 10.0, 0), (25, 5, 25, 2.0, 1), (60, 10, 7, 1.0, 2)])
def test_picks_equal_the_reference_loop(n, C, k, gamma, seed):
    p = simplex(n, C, seed)
    uniforms = torch.rand(k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).tolist()
    got = falcun_select(p, k, torch.Generator().manual_seed(seed), gamma)
    assert got.index.tolist() == reference(p, k, uniforms, gamma)
    assert len(set(got.index.tolist())) == k and (got.score >= 0).all()


@pytest.mark.parametrize("gamma", [1100.0, 1e5])
def test_a_gamma_whose_power_overflows_draws_from_the_same_law(gamma):
    """Relevance reaches 2, and 2^γ is inf in float64 from γ = 1024 on: the weights as exp(γ (log rel − log max)),
    the same law, give the same draws, never an index past the pool."""
    p = simplex(50, 4, 3)
    uniforms = torch.rand(10, generator=torch.Generator().manual_seed(3), dtype=torch.float64).tolist()
    assert gamma > np.log2(np.finfo(np.float64).max)
    in_logs = lambda rel, gamma: np.exp(gamma * (np.log(rel) - np.log(rel.max())))  # noqa: E731
    got = falcun_select(p, 10, torch.Generator().manual_seed(3), gamma)
    assert got.index.tolist() == reference(p, 10, uniforms, gamma, in_logs)
    assert len(set(got.index.tolist())) == 10


def test_first_draw_frequencies_follow_the_weights():
    p = simplex(6, 3, 3)
    counts = np.bincount([falcun_select(p, 1, torch.Generator().manual_seed(s), 2.0).index[0] for s in range(6000)],
                         minlength=6)
    top = p.topk(2).values
    u = 1 - (top[:, 0] - top[:, 1])
    w, _ = draw_weights(u, u, torch.ones(6, dtype=torch.bool), 2.0)
    expected = 6000 * (w / w.sum()).numpy()
    assert np.all(np.abs(counts - expected) < 4 * np.sqrt(expected) + 5)


class Identity(ClassifierMixin, BaseEstimator):
    """A classifier whose inputs are already class probabilities."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.asarray(X)


def test_first_draw_law_matches_scikit_activeml():
    """scikit-activeml's first draw weighs (2u)^γ, the authors' (minmax(u) + u)^γ: the same when u spans [0, 1]."""
    p = simplex(30, 3, 4).numpy()
    p[0] = [1.0, 0.0, 0.0]  # u = 0
    p[1] = [0.5, 0.5, 0.0]  # u = 1
    y = np.full(30, MISSING_LABEL)
    clf = SklearnClassifier(Identity(), classes=[0, 1, 2]).fit(p, np.r_[[0, 1, 2], np.full(27, MISSING_LABEL)])
    _, util = SkFalcun(gamma=10, random_state=0).query(p, y, clf, fit_clf=False, batch_size=1, return_utilities=True)
    u = torch.as_tensor(1 - (np.sort(p, 1)[:, -1] - np.sort(p, 1)[:, -2]))
    w, _ = draw_weights(u, u, torch.ones(30, dtype=torch.bool), 10.0)
    assert np.allclose((w / w.sum()).numpy(), util[0], rtol=1e-10)


def test_rows_alike_in_probability_space_are_drawn_less_after_one_of_them():
    """After a pick, its near-duplicates have d ≈ 0: the next draw favours the other rows."""
    p = torch.tensor([[0.5, 0.5, 0.0]] * 20 + [[0.45, 0.0, 0.55]] * 20, dtype=torch.float64)
    p[:, 0] += torch.linspace(0, 0.01, 40, dtype=torch.float64)
    p = p / p.sum(1, keepdim=True)
    firsts = [falcun_select(p, 2, torch.Generator().manual_seed(s)).index.tolist() for s in range(200)]
    assert sum((a < 20) != (b < 20) for a, b in firsts) > 180
