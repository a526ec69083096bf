"""TypiClust (query_strategies/typiclust.py) against a brute-force typicality on the same clusters and against
scikit-activeml's TypiClust on the same embeddings."""
import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans
from skactiveml.pool import TypiClust as SkTypiClust
from skactiveml.utils import MISSING_LABEL
import torch

from query_strategies import typiclust
from query_strategies.selection import seed_from
from query_strategies.typiclust import K_NN, typical_picks, typicality, typiclust_select


def blobs(n, d, centres, seed):
    rng = np.random.default_rng(seed)
    means = 6 * rng.normal(size=(centres, d))
    return means[rng.integers(centres, size=n)] + rng.normal(size=(n, d))


def brute_typicality(x):
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    k = min(K_NN, len(x) - 1)
    return 1 / np.sort(d, 1)[:, :k].mean(1)


def brute_picks(x, labels, labeled, k):
    """Fewest labelled-or-picked first, then largest cluster, then lowest id; its most typical free member."""
    taken, picks = labeled.copy(), []
    for _ in range(k):
        ids = [j for j in range(labels.max() + 1) if (~taken[labels == j]).any()]
        j = min(ids, key=lambda j: (taken[labels == j].sum(), -(labels == j).sum(), j))
        members = np.flatnonzero(labels == j)
        typ = brute_typicality(x[members]) if len(members) > 1 else np.ones(1)
        typ[taken[members]] = -np.inf
        picks.append(members[np.argmax(typ)])
        taken[picks[-1]] = True
    return picks


@pytest.mark.parametrize("n,clusters,k,n_lab,seed", [(200, 8, 5, 3, 0), (150, 6, 9, 2, 1), (60, 4, 7, 10, 2)])
def test_picks_equal_brute_force_on_given_clusters(n, clusters, k, n_lab, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    labels = rng.integers(clusters, size=n)
    labeled = np.zeros(n, dtype=bool)
    labeled[rng.choice(n, n_lab, replace=False)] = True
    assert typical_picks(x, labels, labeled, k).index.tolist() == brute_picks(x, labels, labeled, k)


@pytest.mark.parametrize("gram_entries", [typiclust.GRAM_ENTRIES, 100, 1])
def test_typicality_counts_twenty_neighbours_and_handles_singletons(monkeypatch, gram_entries):
    monkeypatch.setattr(typiclust, "GRAM_ENTRIES", gram_entries)  # 100, 1: the neighbour search in row blocks
    x = np.random.default_rng(3).normal(size=(40, 5))
    assert np.allclose(typicality(x), brute_typicality(x))
    assert np.allclose(typicality(x[:6]), brute_typicality(x[:6]))
    assert typicality(x[:1]).tolist() == [1.0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_scikit_activeml_on_the_same_embeddings(seed):
    x = blobs(300, 4, 12, seed)
    labeled = np.zeros(300, dtype=bool)
    labeled[np.random.default_rng(seed).choice(300, 6, replace=False)] = True
    y = np.full(300, MISSING_LABEL)
    y[labeled] = 0
    theirs = SkTypiClust(random_state=seed_from(torch.Generator().manual_seed(seed)), cluster_algo=KMeans,
                         k=K_NN).query(x, y, batch_size=8)
    # the same clusters (KMeans, same seed) and the same typical points; the order differs only where clusters
    # of equal size tie (scikit-activeml breaks ties at random, we by cluster id)
    ours = typiclust_select(x, labeled, 8, torch.Generator().manual_seed(seed)).index
    assert sorted(ours.tolist()) == sorted(theirs.tolist())


def test_largest_uncovered_clusters_first_and_no_labelled_pick():
    x = np.concatenate([np.zeros((50, 2)), np.full((30, 2), 100.0), np.full((10, 2), -100.0)])
    x += np.random.default_rng(4).normal(size=x.shape)
    labeled = np.zeros(90, dtype=bool)
    labeled[0] = True  # the 50-point blob is covered
    picks = typical_picks(x, np.repeat([0, 1, 2], [50, 30, 10]), labeled, 3).index
    # the 30-blob, then the 10-blob; then all hold one point and the largest (the 50-blob) gets its second
    assert picks[0] in range(50, 80) and picks[1] in range(80, 90) and picks[2] in range(1, 50)


@pytest.mark.parametrize("gram_entries", [typiclust.GRAM_ENTRIES, 1])
def test_points_placed_alike_tie_and_the_lowest_index_is_picked(monkeypatch, gram_entries):
    """A two-point cluster (each the other's only neighbour) and a cluster of a duplicated point and one other:
    the typicalities tie exactly, and the pick is the lowest index, as in the brute force."""
    monkeypatch.setattr(typiclust, "GRAM_ENTRIES", gram_entries)
    rng = np.random.default_rng(5)
    for trial in range(20):
        pair = rng.normal(size=(2, 16)) * rng.uniform(0.1, 100)
        t = typicality(pair)
        assert t[0] == t[1]
        a, b = rng.normal(size=(2, 16))
        t = typicality(np.stack([b, a, a]))
        assert t[1] == t[2] > t[0]
    x = np.concatenate([rng.normal(size=(2, 4)), rng.normal(size=(3, 4)) + 50])
    x[3] = x[2]
    labels = np.array([0, 0, 1, 1, 1])
    assert typical_picks(x, labels, np.zeros(5, dtype=bool), 2).index.tolist() == [2, 0]


def test_duplicates_are_infinitely_typical_and_their_clustering_is_quiet():
    """Rows with K_NN exact duplicates: k / 0 is +∞ without numpy's overflow warning (k / tiny overflowed), and
    KMeans with fewer distinct points than clusters no longer prints scikit-learn's ConvergenceWarning."""
    x = np.repeat(np.arange(3.0)[:, None] * [1.0, 2.0], K_NN + 1, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isinf(typicality(x)).all()
        picked = typiclust_select(torch.as_tensor(x), np.zeros(len(x), bool), 5, torch.Generator().manual_seed(0))
    assert len(set(picked.index.tolist())) == 5


def test_picks_do_not_depend_on_the_embeddings_scale():
    """Embeddings × 2^62 (exact), 60 clusters (MiniBatchKMeans through the compiled step): the same picks. Its
    float32 screen overflowed: other picks at 2^62, a segmentation fault from 2^64 (`run.py --alg typiclust
    --select-on input --nStart 0 --nQuery 60` on features of about 10^18)."""
    x = torch.randn(300, 16, generator=torch.Generator().manual_seed(5)).relu().double()
    labelled = np.zeros(300, bool)
    labelled[:20] = True
    plain = typiclust_select(x, labelled, 60, torch.Generator().manual_seed(0))
    scaled = typiclust_select(x * 2.0 ** 62, labelled, 60, torch.Generator().manual_seed(0))
    assert scaled.index.tolist() == plain.index.tolist()


@pytest.mark.parametrize("exponent", [-600, 600])
def test_float64_picks_and_scores_do_not_depend_on_the_embeddings_scale(exponent):
    """Float64 embeddings × 2^exponent (exact): the same picks, typicalities × 2^-exponent. The squared distances
    overflowed at 2^600 (every typicality NaN, with numpy's overflow warnings) and underflowed at 2^-600
    (every typicality +∞): other picks before typiclust_select rescaled the embeddings."""
    x = torch.as_tensor(blobs(300, 6, 8, seed=2))
    labelled = np.zeros(300, bool)
    labelled[:15] = True
    plain = typiclust_select(x, labelled, 20, torch.Generator().manual_seed(0))
    scaled = typiclust_select(x * 2.0 ** exponent, labelled, 20, torch.Generator().manual_seed(0))
    assert scaled.index.tolist() == plain.index.tolist()
    assert np.array_equal(scaled.score, plain.score * 2.0 ** -exponent)
