"""Cluster-Margin (query_strategies/cluster_margin.py) against a plain-Python round-robin and scipy's average
linkage, its sample past HAC_LIMIT, and its clustering carried through --resume."""
import json

import numpy as np
import pytest
import torch
from scipy.cluster.hierarchy import fcluster, linkage

import query_strategies.cluster_margin as cm
import run
from digits_learners import trained_on_every_27th
from query_strategies.cluster_margin import ClusterMargin, cluster_margin_select, hac_clusters, round_robin
from tests.cli import run_main


def plain_round_robin(clusters, k, generator):
    """The same draw written out: the same shuffle, then lists per cluster, smallest cluster first."""
    shuffle = torch.randperm(len(clusters), generator=generator).tolist()
    members = {}
    for pos in shuffle:
        members.setdefault(int(clusters[pos]), []).append(pos)
    order = sorted(members, key=lambda c: (len(members[c]), c))
    picks, turn = [], 0
    while len(picks) < k:
        picks += [members[c][turn] for c in order if turn < len(members[c])]
        turn += 1
    return picks[:k]


@pytest.mark.parametrize("n,n_clusters,k,seed", [(30, 4, 10, 0), (50, 9, 50, 1), (12, 12, 5, 2), (40, 1, 7, 3)])
def test_round_robin_equals_plain_python(n, n_clusters, k, seed):
    clusters = np.random.default_rng(seed).integers(n_clusters, size=n) * 7
    got = round_robin(clusters, k, torch.Generator().manual_seed(seed)).tolist()
    assert got == plain_round_robin(clusters, k, torch.Generator().manual_seed(seed))


def test_smallest_clusters_first_and_only_low_margin_candidates():
    probs = torch.tensor([[0.5, 0.5], [0.9, 0.1], [0.55, 0.45], [0.6, 0.4], [0.99, 0.01], [0.52, 0.48]])
    clusters = np.array([0, 0, 0, 1, 1, 2])
    picks = cluster_margin_select(probs, clusters, 3, torch.Generator().manual_seed(0), k_m=4).index.tolist()
    # candidates (4 smallest margins): 0, 5, 2, 3 -> clusters {0: [0, 2], 2: [5], 1: [3]}
    assert picks[:2] == [3, 5]  # clusters 1 and 2 hold one candidate each: lowest id first
    assert picks[2] in (0, 2) and set(picks) <= {0, 2, 3, 5}


@pytest.mark.parametrize("n,n_clusters,k,k_m,seed", [(60, 5, 10, 25, 0), (40, 40, 8, 8, 1), (30, 3, 12, 30, 2)])
def test_whole_selection_equals_plain_python(n, n_clusters, k, k_m, seed):
    """The k_m smallest margins p₍₁₎ − p₍₂₎ by a sort of Python floats (lowest index among ties; some margins tie
    on purpose), spread by plain_round_robin; each pick scored −margin."""
    rng = np.random.default_rng(seed)
    probs = torch.softmax(torch.tensor(rng.normal(size=(n, 4)) * 2), 1)
    probs[::7] = probs[0]  # ties in margin
    clusters = rng.integers(n_clusters, size=n)
    margins = [sorted(row, reverse=True)[0] - sorted(row, reverse=True)[1] for row in probs.tolist()]
    candidates = sorted(range(n), key=lambda i: (margins[i], i))[:k_m]
    spread = plain_round_robin([clusters[i] for i in candidates], k, torch.Generator().manual_seed(seed))
    got = cluster_margin_select(probs, clusters, k, torch.Generator().manual_seed(seed), k_m=k_m)
    assert got.index.tolist() == [candidates[j] for j in spread]
    assert np.allclose(got.score, [-margins[candidates[j]] for j in spread], rtol=0, atol=1e-12)


def test_average_linkage_equals_scipy():
    x = torch.randn(200, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    ours = hac_clusters(x, 8, torch.Generator())
    theirs = fcluster(linkage(x.numpy(), method="average"), 8, criterion="maxclust")
    pairs = {(int(a), int(b)) for a, b in zip(ours, theirs)}
    assert len(pairs) == len(set(ours)) == len(set(theirs)) == 8  # the same partition, up to renaming


def test_past_the_limit_a_sample_is_clustered_with_a_warning(monkeypatch):
    monkeypatch.setattr(cm, "HAC_LIMIT", 60)
    g = torch.Generator().manual_seed(5)
    x = (20 * torch.arange(3).repeat_interleave(100)[:, None] + torch.randn(300, 4, generator=g)).double()
    with pytest.warns(UserWarning, match="random sample of 60"):
        labels = hac_clusters(x, 3, torch.Generator().manual_seed(1))
    assert all(len(set(labels[i * 100:(i + 1) * 100])) == 1 for i in range(3)) and len(set(labels)) == 3


@pytest.mark.filterwarnings("ignore:training stopped")
def test_strategy_takes_the_ceiling_of_km_factor_times_the_batch():
    """kmFactor 2.55 and 12 points per query: the strategy's picks are those of the 31 = ⌈30.6⌉ smallest margins
    (the same generator state), not of the 30 below."""
    learner, labeled = trained_on_every_27th(torch.Generator().manual_seed(0))
    got = ClusterMargin(learner.predictor, labeled, torch.Generator().manual_seed(1), km_factor=2.55).query(12)
    idx, gen = np.flatnonzero(~labeled), torch.Generator().manual_seed(1)
    clusters = hac_clusters(learner.predictor.embeddings(np.arange(len(labeled))), 12, gen)[idx]
    state, probs = gen.get_state(), learner.predictor.probs(idx)
    by_k_m = {}
    for k_m in (31, 30):
        by_k_m[k_m] = cluster_margin_select(probs, clusters, 12, gen.set_state(state), k_m=k_m).among(idx)
    assert got.index.tolist() == by_k_m[31].index.tolist() != by_k_m[30].index.tolist()


TINY = ["--alg", "cluster_margin", "--nStart", "40", "--nQuery", "20", "--maxEpochs", "40", "--seed", "2"]


@pytest.mark.filterwarnings("ignore:training stopped")
def test_resume_continues_with_the_saved_clustering(tmp_path):
    """A run stopped after one query round and resumed to three ends with the queries of an uninterrupted run."""
    assert run.main([*TINY, "--rounds", "3", "--out", str(tmp_path / "whole")]) == 0
    assert run.main([*TINY, "--rounds", "1", "--out", str(tmp_path / "split")]) == 0
    name = "digits_mlp_cluster_margin_20_seed2"
    round_0 = (tmp_path / "split" / name / "rounds.csv").read_text().splitlines()[:2]  # header, round 0
    proc = run_main(*TINY, "--rounds", "3", "--out", tmp_path / "split", "--resume")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "split" / name / "rounds.csv").read_text().splitlines()[:2] == round_0  # not trained again
    whole = (tmp_path / "whole" / name / "queries.csv").read_text()
    assert (tmp_path / "split" / name / "queries.csv").read_text() == whole
    assert json.loads((tmp_path / "split" / name / "summary.json").read_text())["rounds"] == 3
