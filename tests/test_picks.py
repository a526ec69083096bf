"""The selection contract (query_strategies/selection.py): every strategy's query returns Picks (int64 pool indices,
float64 scores, one each), each score is the value the pick was ranked by (checked against a direct computation),
and queries.csv records the scores (empty where there is none) and reads them back."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

import dataset
import results
import run
from learner import Learner
from digits_learners import trained_on_every_27th
from query_strategies import ALIASES, STRATEGIES
from query_strategies.badge_sampling import badge_select
from query_strategies.bait_sampling import bait_select
from query_strategies.batchbald import batchbald_select
from query_strategies.bald import bald_scores
from query_strategies.cluster_margin import cluster_margin_select
from query_strategies.core_set import coreset_select
from query_strategies.entropy_sampling import EntropySampling, entropy
from query_strategies.kmeans_sampling import nearest_to_centres
from query_strategies.margin_sampling import smallest_margin
from query_strategies.power_sampling import power_select
from query_strategies.probcover import probcover_select
from query_strategies.selection import Picks, best_first, picks, top_k
from query_strategies.typiclust import typical_picks
from test_badge import gradient_embeddings, random_inputs
from test_bait import fisher_embeddings, random_problem
from test_probcover import dense_greedy, unit_rows
from test_typiclust import brute_picks, brute_typicality

UNSCORED = {"rand", "baseline"}  # random draws: no score


@pytest.fixture(scope="module")
def trained():
    """The predictor of a learner trained on 60 labelled digits (what strategies are given), and the labelled
    mask."""
    learner, labeled = trained_on_every_27th(torch.Generator().manual_seed(0))
    return learner.predictor, labeled


def trained_with_extensions(alg, labeled):
    """Strategy `alg` on a learner trained, as run.py does, with the modules the strategy trains beside the
    network (its training extensions) on the `labeled` digits."""
    ds = dataset.load("digits", 0, "data", np.random.default_rng(0))
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), max_epochs=20)
    strategy = STRATEGIES[alg](learner.predictor, labeled, torch.Generator().manual_seed(1))
    learner.extend(strategy.extensions)
    learner.train(np.flatnonzero(labeled))
    return strategy


@pytest.mark.filterwarnings("ignore:training stopped")
@pytest.mark.parametrize("alg", sorted(set(STRATEGIES) - set(ALIASES)))
def test_every_query_returns_picks_of_pool_indices_with_a_score_each(alg, trained):
    learner, labeled = trained
    strategy = STRATEGIES[alg](learner, labeled, torch.Generator().manual_seed(1))
    if strategy.extensions:
        strategy = trained_with_extensions(alg, labeled)
    chosen = strategy.query(12)
    assert isinstance(chosen, Picks)
    assert chosen.index.dtype == np.int64 and chosen.score.dtype == np.float64
    assert chosen.index.shape == chosen.score.shape == (12,)
    assert not labeled[chosen.index].any()
    if alg in UNSCORED:
        assert np.isnan(chosen.score).all()
    else:
        assert not np.isnan(chosen.score).any(), f"{alg}'s picks have no score: add it to UNSCORED if it ranks by none"


@pytest.mark.filterwarnings("ignore:training stopped")
def test_uncertainty_scores_are_the_entropies_of_the_picks(trained):
    learner, labeled = trained
    chosen = EntropySampling(learner, labeled, torch.Generator()).query(15)
    direct = entropy(learner.probs(chosen.index)).double().numpy()
    np.testing.assert_allclose(chosen.score, direct, rtol=1e-6)
    assert (np.diff(chosen.score) <= 0).all()


def test_a_select_that_returns_an_array_is_refused(trained):
    learner, labeled = trained
    strategy = EntropySampling(learner, labeled, torch.Generator())
    strategy.select = lambda n: np.flatnonzero(~labeled)[:n]
    with pytest.raises(TypeError, match="not selection.Picks"):
        strategy.query(5)


def test_top_k_keeps_the_scores_of_its_picks():
    chosen = top_k(torch.tensor([0.1, 0.9, 0.5, 0.9], dtype=torch.float32), 3)
    assert chosen.index.tolist() == [1, 3, 2]
    assert chosen.score.tolist() == [float(torch.tensor(0.9)), float(torch.tensor(0.9)), float(torch.tensor(0.5))]
    assert chosen.among(np.array([10, 11, 12, 13])).index.tolist() == [11, 13, 12]


def test_badge_scores_are_d2_at_each_draw():
    """The first pick's ‖g‖², then each pick's squared distance to the nearest earlier pick, on explicit g."""
    probs, emb = random_inputs(200, 6, 4, seed=3, dtype=torch.float64)
    chosen = badge_select(probs, emb, 10, torch.Generator().manual_seed(2))
    G = gradient_embeddings(probs, emb)
    direct = [(G[chosen.index[0]] ** 2).sum()]
    direct += [min(((G[i] - G[j]) ** 2).sum() for j in chosen.index[:t]) for t, i in enumerate(chosen.index) if t]
    np.testing.assert_allclose(chosen.score, direct, rtol=1e-9)


def test_coreset_scores_are_the_farthest_distances():
    g = torch.Generator().manual_seed(4)
    emb, labeled = torch.randn(150, 5, generator=g, dtype=torch.float64), torch.zeros(150, dtype=torch.bool)
    labeled[:10] = True
    chosen = coreset_select(emb, labeled, 8, torch.Generator())
    X = emb.numpy()
    centres = list(np.flatnonzero(labeled.numpy()))
    for i, score in zip(chosen.index, chosen.score):
        near = ((X[:, None] - X[centres][None]) ** 2).sum(-1).min(1)
        near[centres] = -np.inf
        assert score == pytest.approx(near.max(), rel=1e-9) and near[i] == pytest.approx(near.max(), rel=1e-9)
        centres.append(i)


def test_bait_scores_are_the_drops_of_the_objective_at_each_addition():
    """The forward greedy by direct inversion, recording tr(M⁻¹F) − tr((M + ṼᵢᵀṼᵢ)⁻¹F) of each addition; the picks
    kept after the backward steps carry theirs."""
    probs, emb, labeled = random_problem(40, 3, 4, 6, seed=0)
    k, lam = 4, 1.0
    V = fisher_embeddings(probs, emb)
    F = torch.einsum("ncd,nce->de", V, V) / len(V)
    n_lab = int(labeled.sum())
    M = lam * torch.eye(V.shape[2], dtype=torch.float64) + torch.einsum("ncd,nce->de", V[labeled], V[labeled]) / (
        n_lab + k)
    Vs = V * math.sqrt(k / (n_lab + k))
    drops = {}
    chosen = bait_select(probs, emb, labeled, k, torch.Generator(), lam=lam)
    for _ in range(2 * k):
        before = torch.trace(torch.linalg.solve(M, F)).item()
        after = {i: torch.trace(torch.linalg.solve(M + Vs[i].T @ Vs[i], F)).item()
                 for i in np.flatnonzero(~labeled.numpy()) if i not in drops}
        best = min(after, key=after.get)
        drops[best] = before - after[best]
        M = M + Vs[best].T @ Vs[best]
    np.testing.assert_allclose(chosen.score, [drops[i] for i in chosen.index], rtol=1e-8)


def test_batchbald_first_score_is_the_largest_bald_score():
    p = torch.softmax(2 * torch.randn(10, 60, 4, generator=torch.Generator().manual_seed(5)), -1).double()
    chosen = batchbald_select(p, 3, torch.Generator())
    bald = bald_scores(p)
    assert chosen.score[0] == pytest.approx(float(bald.max()), rel=1e-9)
    assert (np.diff(chosen.score) <= 1e-12).all()  # the joint gain of one more point only shrinks


def test_power_cluster_margin_kmeans_typiclust_and_probcover_scores():
    s = torch.rand(50, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    chosen = power_select(s, 10, torch.Generator(), beta=2.0)
    assert chosen.score.tolist() == s[chosen.index].tolist()

    probs = torch.softmax(torch.randn(40, 5, generator=torch.Generator().manual_seed(7)), 1)
    chosen = cluster_margin_select(probs, np.arange(40) % 4, 6, torch.Generator(), k_m=12)
    assert chosen.score.tolist() == smallest_margin(probs)[chosen.index].double().tolist()

    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [5.0, 5.0], [5.0, 6.0]])
    chosen = nearest_to_centres(x, np.array([[0.0, 0.5], [5.0, 5.0]]), np.array([0, 0, 0, 1, 1]))
    assert chosen.index.tolist() == [1, 3] and chosen.score.tolist() == [0.25, 0.0]

    x = np.random.default_rng(8).normal(size=(30, 3))
    labels, labeled = np.zeros(30, dtype=np.int64), np.zeros(30, dtype=bool)
    chosen = typical_picks(x, labels, labeled, 2)
    assert chosen.index.tolist() == brute_picks(x, labels, labeled, 2)
    np.testing.assert_allclose(chosen.score, brute_typicality(x)[chosen.index], rtol=1e-12)

    x = unit_rows(80, 3, seed=9)
    labeled = np.zeros(80, dtype=bool)
    labeled[:4] = True
    chosen = probcover_select(x, labeled, 5, torch.Generator(), delta=0.5)
    assert (chosen.index.tolist(), chosen.score.tolist()) == dense_greedy(x, labeled, 5, 0.5)


def test_best_first_finds_the_argmax_and_stops_at_the_bounds():
    gains = torch.tensor([0.2, 0.9, 0.4, 0.9, 0.1], dtype=torch.float64)
    upper = gains + torch.tensor([0.05, 0.0, 0.6, 0.1, 0.0], dtype=torch.float64)
    evaluated = []

    def exact(rows):
        evaluated.extend(rows.tolist())
        return gains[rows]

    assert best_first(torch.arange(5), upper, exact, 1, lambda best: 0.0) == (1, 0.9)  # lowest index among ties
    assert evaluated == [2, 3, 1]  # index 0's bound (0.25) cannot beat 0.9: never evaluated
    # gains within the tie tolerance of the largest are ties: the lowest index wins, with its own gain
    gains[3] += 1e-12
    assert best_first(torch.arange(5), upper, exact, 1, lambda best: 0.0) == (3, 0.9 + 1e-12)
    assert best_first(torch.arange(5), upper, exact, 1, lambda best: 0.0, lambda best: 1e-9) == (1, 0.9)


def round_row(rd):
    """A rounds.csv row of round `rd` (its other values do not matter here)."""
    return dict.fromkeys(results.ROUND_COLUMNS, 0) | {"round": rd}


def test_queries_csv_score_column_round_trips(tmp_path):
    folder = results.RunDir(tmp_path)
    folder.start({"run_id": "x"})
    folder.append_round(round_row(0), picks([4, 2]), np.arange(10) + 100)
    folder.append_round(round_row(1), picks([7, 1], [0.125, 1 / 3]), np.arange(10) + 100)
    text = folder.queries.read_text()
    assert text.splitlines() == ["round,index,row,score", "0,4,104,", "0,2,102,", "1,7,107,0.125", f"1,1,101,{1 / 3!r}"]
    columns = folder.query_columns()
    rows = results.parse_table(folder.queries.read_bytes(), folder.queries, columns, results.QUERY_PARSERS)
    assert [r["index"] for r in rows] == [4, 2, 7, 1]
    assert np.isnan([r["score"] for r in rows[:2]]).all() and [r["score"] for r in rows[2:]] == [0.125, 1 / 3]


@pytest.mark.parametrize("header", ["round,index", "round,index,row"])
def test_older_queries_files_keep_their_columns(tmp_path, header):
    folder = results.RunDir(tmp_path)
    folder.start({"run_id": "x"})
    folder.queries.write_text(header + "\n")
    folder.append_round(round_row(1), picks([7], [0.5]), np.arange(10) + 100)
    assert folder.queries.read_text() == header + "\n" + ",".join(["1", "7", "107"][:header.count(",") + 1]) + "\n"


@pytest.mark.filterwarnings("ignore:training stopped")
def test_a_run_writes_the_scores_it_ranked_by(tmp_path):
    """An entropy run: the initial labels have no score, each query round's scores are its picks' entropies,
    highest first."""
    flags = ["--alg", "entropy", "--nStart", "20", "--nQuery", "10", "--rounds", "2", "--maxEpochs", "10",
             "--seed", "3"]
    assert run.main([*flags, "--out", str(tmp_path)]) == 0
    queries = pd.read_csv(tmp_path / "digits_mlp_entropy_10_seed3" / "queries.csv")
    assert list(queries.columns) == ["round", "index", "row", "score"]
    assert queries[queries["round"] == 0]["score"].isna().all()
    for _, picked in queries[queries["round"] > 0].groupby("round"):
        assert picked["score"].notna().all() and picked["score"].is_monotonic_decreasing
        assert (picked["score"] > 0).all() and (picked["score"] <= math.log(10)).all()


def budget_cases():
    """(name, select(k)) for selections over 4 candidates that rank by one score each (top_k) or search (bait,
    typiclust)."""
    from query_strategies.ceal import ceal_select
    from query_strategies.learning_loss import learning_loss_select
    from query_strategies.typiclust import typiclust_select
    from query_strategies.vaal import vaal_select
    from query_strategies.waal import waal_select

    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(6, 3, generator=g, dtype=torch.float64), 1)
    emb = torch.randn(6, 4, generator=g, dtype=torch.float64)
    labeled = torch.tensor([True, True, False, False, False, False])
    return [("top_k", lambda k: top_k(torch.rand(4, generator=g), k)),
            ("vaal", lambda k: vaal_select(torch.rand(4, generator=g), k, g)),
            ("waal", lambda k: waal_select(probs[2:], torch.rand(4, generator=g), k, g, 1.0)),
            ("lpl", lambda k: learning_loss_select(torch.rand(4, generator=g), k, g)),
            ("ceal", lambda k: ceal_select(probs[2:], k, g, 0.5)),
            ("bait", lambda k: bait_select(probs, emb, labeled, k, g)),
            ("typiclust", lambda k: typiclust_select(emb, labeled.numpy(), k, g))]


@pytest.mark.parametrize("name, select", budget_cases(), ids=[name for name, _ in budget_cases()])
@pytest.mark.parametrize("k", [0, -1, 5])
def test_a_budget_outside_the_candidates_is_refused_by_every_selection(name, select, k):
    """top_k's selections returned n + k picks for a negative k, none for 0 and all n for k > n; bait divided 0 by 0
    (then blamed the data's scale) or raised an IndexError, and typiclust gave scikit-learn's cluster count."""
    with pytest.raises(ValueError, match=f"^cannot choose {k} of 4 points$"):
        select(k)
