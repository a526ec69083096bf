"""k-means selection (query_strategies/kmeans_sampling.py): the clustering's own output checked by brute force
(labels are nearest centres, each pick is its cluster's member nearest the centre), k distinct points always."""
import numpy as np
import pytest
import torch

from query_strategies.kmeans_sampling import kmeans, kmeans_select, nearest_to_centres


def brute_force_check(x, centres, labels, picks):
    X, Cn, lab = x.double().numpy(), centres.numpy(), labels.numpy()
    D = ((X[:, None, :] - Cn[None, :, :]) ** 2).sum(-1)
    assert (lab == D.argmin(1)).all()
    for j in range(len(Cn)):
        members = np.flatnonzero(lab == j)
        if len(members):
            assert picks[j] == members[np.argmin(D[members, j])]
    assert len(set(picks.tolist())) == len(Cn)


@pytest.mark.parametrize("n,d,k", [(500, 8, 20), (300, 4, 50), (120, 3, 120)])
def test_one_point_per_cluster_nearest_its_centre(n, d, k):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    centres, labels = kmeans(x, k, torch.Generator().manual_seed(1))
    picks = nearest_to_centres(x, centres, labels)
    brute_force_check(x, centres, labels, picks)
    assert picks.tolist() == kmeans_select(x, k, torch.Generator().manual_seed(1)).tolist()


def test_centres_are_the_means_of_separated_blobs():
    """Five far-apart blobs: k = 5 finds them, the centres are the blob means, one pick per blob."""
    g = torch.Generator().manual_seed(0)
    means = 50 * torch.randn(5, 6, generator=g)
    x = means.repeat_interleave(80, 0) + torch.randn(400, 6, generator=g)
    centres, labels = kmeans(x, 5, torch.Generator().manual_seed(2))
    for j in range(5):
        assert torch.allclose(centres[j], x[labels == j].double().mean(0))
    assert sorted((kmeans_select(x, 5, torch.Generator().manual_seed(2)) // 80).tolist()) == [0, 1, 2, 3, 4]


def test_fewer_distinct_points_than_clusters_still_gives_k_distinct():
    x = torch.zeros(60, 3)
    x[20:40], x[40:] = 1, 2  # three distinct points: most clusters end up empty
    picks = kmeans_select(x, 12, torch.Generator().manual_seed(0))
    assert len(set(picks.tolist())) == 12
    assert {int(x[i, 0]) for i in picks.tolist()} == {0, 1, 2}


def test_reproducible_from_the_generator():
    x = torch.rand(400, 10, generator=torch.Generator().manual_seed(5))
    a = kmeans_select(x, 25, torch.Generator().manual_seed(3))
    b = kmeans_select(x, 25, torch.Generator().manual_seed(3))
    assert a.tolist() == b.tolist()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda():
    x = torch.rand(3000, 32, generator=torch.Generator().manual_seed(6))
    picks = kmeans_select(x.cuda(), 50, torch.Generator().manual_seed(0))
    assert picks.device.type == "cuda" and len(set(picks.cpu().tolist())) == 50
