"""k-means selection (query_strategies/kmeans_sampling.py): the picks of a direct scikit-learn KMeans call with a
brute-force nearest-member search, k distinct points even when clusters are empty, reproducible from the seed."""
import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

from query_strategies.kmeans_sampling import kmeans_select, nearest_to_centres
from query_strategies.selection import seed_from


def generator(seed):
    return torch.Generator().manual_seed(seed)


def reference_picks(x, k, seed):
    """scikit-learn's KMeans(n_clusters=k) as the original calls it (with that day's default of 10 starts), then for
    each cluster, one member at a time, the one nearest its centre (the first among equals)."""
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
    labels, centres = km.predict(x), km.cluster_centers_.astype(np.float64)
    picks = []
    for j in range(k):
        best, best_d = None, np.inf
        for i in np.flatnonzero(labels == j):
            d = float(np.sum((x[i].astype(np.float64) - centres[j]) ** 2))
            if d < best_d:
                best, best_d = i, d
        picks.append(best)
    return picks


@pytest.mark.parametrize("n,d,k,seed", [(500, 8, 20, 0), (300, 4, 50, 7), (120, 3, 120, 3)])
def test_picks_equal_a_direct_scikit_learn_call(n, d, k, seed):
    x = torch.rand(n, d, generator=torch.Generator().manual_seed(n))
    reference = reference_picks(x.numpy(), k, seed_from(generator(seed)))
    assert kmeans_select(x, k, generator(seed)).index.tolist() == reference


def test_ties_go_to_the_lowest_index():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [5.0, 5.0], [5.0, 5.0]])
    picks = nearest_to_centres(x, np.array([[0.0, 0.0], [5.0, 5.0]]), np.array([0, 0, 0, 1, 1])).index
    assert picks.tolist() == [0, 3]


def test_an_empty_cluster_takes_the_nearest_row_not_yet_taken():
    """Centre 1 has no member: it takes row 1 (0.01 from it), not the farthest free row 2 nor row 0, taken by
    centre 0."""
    x = np.array([[0.0], [1.0], [5.0], [10.0]])
    chosen = nearest_to_centres(x, np.array([[0.0], [0.9], [10.0]]), np.array([0, 0, 2, 2]))
    assert chosen.index.tolist() == [0, 1, 3]
    np.testing.assert_allclose(chosen.score, [0.0, 0.01, 0.0], rtol=1e-9, atol=0)


def test_separated_blobs_give_one_pick_per_blob():
    g = torch.Generator().manual_seed(0)
    means = 50 * torch.randn(5, 6, generator=g)
    x = means.repeat_interleave(80, 0) + torch.randn(400, 6, generator=g)
    assert sorted((kmeans_select(x, 5, generator(2)).index // 80).tolist()) == [0, 1, 2, 3, 4]


def test_fewer_distinct_points_than_clusters_still_gives_k_distinct():
    x = torch.zeros(60, 3)
    x[20:40], x[40:] = 1, 2  # three distinct points: most clusters end up empty
    picks = kmeans_select(x, 12, generator(0)).index
    assert len(set(picks.tolist())) == 12
    assert {int(x[i, 0]) for i in picks.tolist()} == {0, 1, 2}


def test_strategy_seed_comes_from_its_generator():
    x = torch.rand(400, 10, generator=torch.Generator().manual_seed(5))
    assert kmeans_select(x, 25, generator(3)).index.tolist() == kmeans_select(x, 25, generator(3)).index.tolist()
    assert kmeans_select(x, 25, generator(3)).index.tolist() != kmeans_select(x, 25, generator(4)).index.tolist()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_embeddings_give_the_cpu_picks():
    x = torch.rand(3000, 32, generator=torch.Generator().manual_seed(6))
    assert kmeans_select(x.cuda(), 50, generator(0)).index.tolist() == kmeans_select(x, 50, generator(0)).index.tolist()


@pytest.mark.parametrize("exponent", [-80, 60])
def test_picks_do_not_depend_on_the_embeddings_scale(exponent):
    """Float32 embeddings scaled by 2^exponent (exact): the same picks, scores times 4^exponent. scikit-learn's
    float32 squared distances underflowed at 2^-80 and overflowed at 2^60 (other picks, silently) before
    kmeans_select rescaled the embeddings."""
    x = torch.rand(300, 16, generator=torch.Generator().manual_seed(5))
    plain = kmeans_select(x, 30, generator(0))
    scaled = kmeans_select(x * 2.0 ** exponent, 30, generator(0))
    assert scaled.index.tolist() == plain.index.tolist()
    assert np.allclose(scaled.score, plain.score * 4.0 ** exponent, rtol=1e-6)
