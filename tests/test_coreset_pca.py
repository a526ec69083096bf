"""k-center on PCA-reduced embeddings (query_strategies/coreset_pca.py) against scikit-learn's exact PCA followed
by a brute-force greedy k-center over the full distance matrix (DeepAL+'s KCenterGreedyPCA, in float64)."""
import pytest
import torch
from sklearn.decomposition import PCA

from query_strategies.core_set import coreset_select
from query_strategies.coreset_pca import coreset_pca_select, pca_reduce
from tests.test_coreset import reference_kcenter


def problem(n, d, n_lab, seed):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.randn(d, d, generator=g, dtype=torch.float64)
    labeled = torch.zeros(n, dtype=torch.bool)
    labeled[torch.randperm(n, generator=g)[:n_lab]] = True
    return emb, labeled


@pytest.mark.parametrize("n,d,n_lab,k,dim,seed", [(300, 64, 20, 40, 50, 0), (400, 80, 0, 60, 10, 1),
                                                  (250, 30, 15, 50, 5, 2)])
def test_same_picks_as_sklearn_pca_then_brute_force(n, d, n_lab, k, dim, seed):
    emb, labeled = problem(n, d, n_lab, seed)
    reduced = PCA(n_components=dim, svd_solver="full").fit_transform(emb.numpy())
    first = int(torch.randint(n, (1,), generator=torch.Generator().manual_seed(seed)))  # a cold start's first centre
    want = reference_kcenter(torch.as_tensor(reduced), labeled.numpy(), k, first)
    got = coreset_pca_select(emb, labeled, k, torch.Generator().manual_seed(seed), pca_dim=dim)
    assert got.index.tolist() == want


def test_pairwise_distances_are_those_of_sklearn_pca():
    emb, _ = problem(200, 40, 0, 3)
    ours = pca_reduce(emb, 12)
    theirs = torch.as_tensor(PCA(n_components=12, svd_solver="full").fit_transform(emb.numpy()))
    exact = "donot_use_mm_for_euclid_dist"
    assert torch.allclose(torch.cdist(ours, ours, compute_mode=exact), torch.cdist(theirs, theirs, compute_mode=exact),
                          atol=1e-9)


def test_narrow_embeddings_are_kept_as_they_are():
    emb, labeled = problem(200, 20, 10, 4)
    got = coreset_pca_select(emb, labeled, 30, torch.Generator(), pca_dim=50)
    assert got.index.tolist() == coreset_select(emb, labeled, 30, torch.Generator()).index.tolist()
    reduced = coreset_pca_select(emb, labeled, 30, torch.Generator(), pca_dim=3)
    assert reduced.index.tolist() != got.index.tolist()
