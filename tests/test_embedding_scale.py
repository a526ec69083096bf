"""Every selection on embeddings, given float64 embeddings × 2^exponent (an exact rescaling), picks what it picks on
the embeddings themselves. Before each rescaled its input, squared distances or norms past float64's range
(about 2^±512) gave other picks or a traceback: k-means an OverflowError, core-set and core-set-PCA a RuntimeError,
average-linkage clustering a ValueError, BADGE an OverflowError, the k-DPP a TypeError (and other picks from
2^300); CLUE, DropQuery, FASS, UHerding and TypiClust other picks."""
import numpy as np
import pytest
import torch

from query_strategies.badge_sampling import badge_select
from query_strategies.clue import clue_select
from query_strategies.cluster_margin import hac_clusters
from query_strategies.core_set import coreset_select
from query_strategies.coreset_pca import coreset_pca_select
from query_strategies.dropquery import dropquery_pick
from query_strategies.fass import fass_select
from query_strategies.kdpp_sampling import kdpp_select
from query_strategies.kmeans_sampling import kmeans_select
from query_strategies.typiclust import typiclust_select
from query_strategies.uherding import uherding_select

g = torch.Generator().manual_seed(1)
EMB = torch.randn(300, 8, generator=g, dtype=torch.float64).relu()
PROBS = torch.softmax(torch.randn(300, 4, generator=g, dtype=torch.float64), 1)
LABELLED = torch.arange(300) < 20
COUNT = np.random.default_rng(0).integers(0, 4, 300)


def seeded():
    return torch.Generator().manual_seed(0)


SELECTIONS = {
    "kmeans": lambda e: kmeans_select(e, 10, seeded()).index,
    "coreset": lambda e: coreset_select(e, LABELLED, 10, seeded()).index,
    "coreset_pca": lambda e: coreset_pca_select(e, LABELLED, 10, seeded()).index,
    "typiclust": lambda e: typiclust_select(e, LABELLED.numpy(), 10, seeded()).index,
    "cluster_margin's clusters": lambda e: hac_clusters(e, 10, seeded()),
    "clue": lambda e: clue_select(PROBS, e, 10, seeded()).index,
    "dropquery": lambda e: dropquery_pick(e, COUNT, 3, 10, 0).index,
    "fass": lambda e: fass_select(PROBS, e, 10, seeded()).index,
    "uherding": lambda e: uherding_select(PROBS, e, e[:20], 10, seeded(), 1.0).index,
    "badge": lambda e: badge_select(PROBS, e, 10, seeded()).index,
    "baseline (k-DPP)": lambda e: kdpp_select(PROBS, e, 10, seeded()).index,
}


@pytest.mark.parametrize("name", SELECTIONS)
def test_picks_do_not_depend_on_the_embeddings_scale(name):
    select = SELECTIONS[name]
    plain = np.asarray(select(EMB))
    for exponent in (-1000, -600, 300, 600, 1000):
        assert np.array_equal(np.asarray(select(EMB * 2.0 ** exponent)), plain), exponent
