"""The settings of today's studies (issue 22): balanced accuracy and the rarest class's labels in rounds.csv,
official test splits of user data, a long-tailed pool (--imbalance), a cold start (--nStart 0) and selection on
the data's own features (--select-on input), each through run.py as a user runs it."""
import itertools
import json
import warnings
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score

import dataset
import metrics
import resume
import run
from scripts.sweep import main as sweep_main
from learner import Learner
from results import identity_hash
from strategy_params import every_result_flag

pytestmark = pytest.mark.filterwarnings("ignore:training stopped")
SMALL = ["--nQuery", "20", "--nEnd", "60", "--nEmb", "32", "--maxEpochs", "20", "--seed", "3"]


def run_folder(out, alg="rand", n_query=20, seed=3, data="digits"):
    return out / f"{data}_mlp_{alg}_{n_query}_seed{seed}"


def digits_as_run_loads_it(seed):
    """The digits Dataset exactly as run.py loads it for `seed`."""
    return dataset.load("", 0, "data", np.random.default_rng(run.seeds(seed, 3)[0]))


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_balanced_accuracy_is_sklearns():
    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 5, 300), rng.integers(0, 6, 300)
    truth[truth == 4] = 3  # a class that never occurs in the truth does not count
    assert metrics.balanced_accuracy(predicted, truth) == pytest.approx(balanced_accuracy_score(truth, predicted))
    assert metrics.accuracy(predicted, truth) == (predicted == truth).sum() / 300


def test_rarest_class_and_its_labels():
    pool = np.array([0, 0, 1, 2, 2, 2, 1, 0])
    assert metrics.rarest_class(pool, 4) == 3  # a class without any pool point is the rarest
    assert metrics.rarest_class(pool, 3) == 1
    assert metrics.labels_of_class(pool, np.array([1, 0, 1, 0, 0, 0, 1, 1], bool), 1) == 2


def test_rounds_csv_records_balanced_accuracy_and_the_rarest_class_labels(tmp_path, capsys):
    """balanced_acc is the last trained network's (restored from the checkpoint) mean per-class recall, and
    rarest_labeled counts queries.csv's labelled rows of the pool's rarest class, round by round."""
    assert run.main(["--out", str(tmp_path), "--nStart", "20", *SMALL]) == 0
    folder = run_folder(tmp_path)
    rounds, queries = pd.read_csv(folder / "rounds.csv"), pd.read_csv(folder / "queries.csv")
    ds = digits_as_run_loads_it(3)
    rarest = metrics.rarest_class(ds.y_train.numpy(), ds.n_classes)
    labels = ds.y_train.numpy()[queries["index"]]
    expected = [(labels[queries["round"] <= r] == rarest).sum() for r in rounds["round"]]
    assert rounds.rarest_labeled.tolist() == expected
    learner = Learner("mlp", ds, "cpu", torch.Generator(), n_emb=32)
    learner.load_state_dict(torch.load(folder / "checkpoint.pt", weights_only=True)["learner"], queries["index"])
    predicted = learner.test_predictions().numpy()
    assert rounds.balanced_acc.iloc[-1] == pytest.approx(balanced_accuracy_score(ds.y_test.numpy(), predicted))
    assert rounds.test_acc.iloc[-1] == (predicted == ds.y_test.numpy()).mean()


# ---------------------------------------------------------------- official test splits of user data

def digits_halves():
    """scikit-learn's digits as (X_train, y_train, X_test, y_test): the first 1,400 rows and the other 397."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:1400], y[:1400], X[1400:], y[1400:]


def write_csv(path, X, y):
    pd.DataFrame(np.column_stack([X, y])).to_csv(path, header=False, index=False)


def error_line(capsys):
    """The one stderr line of a run that failed with a user error."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("run.py: error: "), lines
    return lines[0]


def test_an_npz_with_its_own_test_set_and_a_csv_pair_run_on_that_test_set(tmp_path, capsys):
    """X_train, y_train, X_test, y_test in an .npz (and the same as --data train.csv --test test.csv): the pool is
    the training rows in order, the test set is the given one, whole; both forms give the same run."""
    X_tr, y_tr, X_te, y_te = digits_halves()
    np.savez(tmp_path / "split.npz", X_train=X_tr, y_train=y_tr, X_test=X_te, y_test=y_te)
    write_csv(tmp_path / "train.csv", X_tr, y_tr)
    write_csv(tmp_path / "test.csv", X_te, y_te)
    flags = ["--nStart", "20", *SMALL, "--out", str(tmp_path / "out")]
    assert run.main(["--data", str(tmp_path / "split.npz"), *flags]) == 0
    assert run.main(["--data", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv"), *flags]) == 0
    npz, csv = (run_folder(tmp_path / "out", data=d) for d in ("split", "train"))
    config = pd.read_json(npz / "config.json", typ="series")
    assert (config.n_pool, config.n_test) == (1400, 397)
    queries = pd.read_csv(npz / "queries.csv")
    assert (queries["row"] == queries["index"]).all() and queries["row"].max() < 1400
    for name in ("rounds.csv", "queries.csv"):
        columns = ["round", "n_labeled", "test_acc", "balanced_acc"] if name == "rounds.csv" else None
        assert pd.read_csv(npz / name, usecols=columns).equals(pd.read_csv(csv / name, usecols=columns))
    ds = dataset.load(str(tmp_path / "split.npz"), 0, "", np.random.default_rng(0))
    assert np.array_equal(ds.X_test.numpy(), X_te.astype(np.float32)) and np.array_equal(ds.y_test.numpy(), y_te)


def test_bad_official_splits_are_one_line_errors(tmp_path, capsys):
    X_tr, y_tr, X_te, y_te = digits_halves()
    np.savez(tmp_path / "narrow.npz", X_train=X_tr, y_train=y_tr, X_test=X_te[:, :60], y_test=y_te)
    write_csv(tmp_path / "train.csv", X_tr[y_tr < 9], y_tr[y_tr < 9])
    write_csv(tmp_path / "test.csv", X_te, y_te)
    np.savez(tmp_path / "split.npz", X_train=X_tr, y_train=y_tr, X_test=X_te, y_test=y_te)
    cases = [(["--data", str(tmp_path / "narrow.npz")], "has 60 features per row"),
             (["--data", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv")],
              "label '9' never occurs in the training set"),
             (["--test", str(tmp_path / "test.csv")], "give --data such a file"),
             (["--did", "6", "--data", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv")],
              "--did 6 replaces --data; drop --did (or --test)"),
             (["--data", str(tmp_path / "split.npz"), "--test", str(tmp_path / "test.csv")], "drop --test"),
             (["--data", str(tmp_path / "train.csv"), "--test", str(tmp_path / "none.csv")], "none.csv not found")]
    for flags, message in cases:
        assert run.main([*flags, *SMALL, "--nStart", "20", "--out", str(tmp_path / "out")]) == 2
        assert message in error_line(capsys)


# ---------------------------------------------------------------- a long-tailed pool

def test_long_tail_counts_decay_exponentially_from_n_max_to_n_max_over_r():
    counts = dataset.long_tail_counts(1000, 5, 16.0)
    assert counts == [1000, 500, 250, 125, 62]
    assert dataset.long_tail_counts(7, 3, 1.0) == [7, 7, 7]


def exact_long_tail_count(n_max, n_classes, ratio, r):
    """⌊n_max·R^(−r/(C−1))⌋ in integers, R = p/q a fraction: the largest k with k^(C−1)·p^r ≤ n_max^(C−1)·q^r."""
    p, q = Fraction(ratio).limit_denominator(1000).as_integer_ratio()
    low, high = 0, n_max
    while low < high:
        k = (low + high + 1) // 2
        low, high = (k, high) if k ** (n_classes - 1) * p ** r <= n_max ** (n_classes - 1) * q ** r else (low, k - 1)
    return low


def test_long_tail_counts_are_the_stated_floor_in_exact_arithmetic():
    """The help's and README's ⌊n_max·R^(−r/(C−1))⌋, with no float rounding error either way."""
    for n_classes, ratio in itertools.product((2, 3, 10, 26), (1.5, 2.5, 10.0, 49.0, 50.0, 100.0)):
        for n_max in (*range(1, 120), 1000, 5421, 6000):
            assert dataset.long_tail_counts(n_max, n_classes, ratio) == [
                exact_long_tail_count(n_max, n_classes, ratio, r) for r in range(n_classes)], (n_max, n_classes, ratio)


def test_the_largest_imbalance_the_error_suggests_keeps_one_rarest_point():
    """--imbalance n_max is the bound the error names: the rarest class keeps ⌊n_max/n_max⌋ = 1 point, although
    n_max·n_max^(−1) is 0.99999… in floats for n_max = 49, 98, 103, …"""
    for n_classes in (2, 3, 10, 26):
        assert all(dataset.long_tail_counts(n, n_classes, float(n))[-1] == 1 for n in range(1, 2000))
        assert all(dataset.long_tail_counts(n, n_classes, n + 0.5)[-1] == 0 for n in range(1, 2000))


def test_imbalance_keeps_a_long_tail_pool_and_the_whole_test_set(tmp_path, capsys):
    """--imbalance 10 on digits: the pool's class counts, in the seeded class order, are long_tail_counts from the
    smallest class's count; the test set is that of the balanced run; config.json records the ratio and the data
    identity of exactly that pool."""
    flags = ["--nStart", "20", *SMALL, "--out", str(tmp_path), "--rounds", "1"]
    assert run.main([*flags, "--imbalance", "10"]) == 0
    config = pd.read_json(run_folder(tmp_path) / "config.json", typ="series")
    rng = np.random.default_rng(run.seeds(3, 3)[0])
    balanced = dataset.load("", 0, "data", rng)
    n_max = int(np.bincount(balanced.y_train.numpy()).min())
    test_set = balanced.y_test.clone()
    tail = dataset.long_tail(balanced, 10.0, rng)
    counts = np.bincount(tail.y_train.numpy())
    assert sorted(counts, reverse=True) == dataset.long_tail_counts(n_max, 10, 10.0)
    assert counts.max() / counts.min() == pytest.approx(10, rel=0.1)
    assert config.imbalance == 10 and config.n_pool == counts.sum() and config.n_test == len(test_set)
    assert config.data_identity["sha256"] == dataset.content_sha256(tail)
    assert np.array_equal(tail.y_test.numpy(), test_set.numpy())


def test_resume_refuses_another_imbalance_and_keeps_older_identities(tmp_path, capsys):
    flags = ["--nStart", "20", *SMALL, "--out", str(tmp_path)]
    assert run.main([*flags, "--rounds", "1", "--imbalance", "10"]) == 0
    capsys.readouterr()
    for other, now in ((["--imbalance", "20"], "--imbalance 20.0"), ([], "no --imbalance")):
        assert run.main([*flags, "--resume", *other]) == 2
        assert f"was started with --imbalance 10.0, and this command has {now}; resume with" in error_line(capsys)
        # without --resume: the refusal offers --force, so it says that the run there is another experiment, and
        # offers --resume with that run's flags only (with this command's it is the refusal above)
        assert run.main([*flags, *other]) == 2
        assert f"already holds results, made with --imbalance 10.0 (this command has {now}); give that run's flags " \
            f"with --resume to continue it, --force" in error_line(capsys)
    assert run.main([*flags, "--resume", "--imbalance", "10"]) == 0
    config = pd.read_json(run_folder(tmp_path) / "config.json", typ="series").to_dict()
    config["imbalance"] = None  # a run without --imbalance has the identity of an older version's run
    strategy_flags = tuple(f for f in every_result_flag() if f in config)
    older = identity_hash(dict(config, data=[config["data_identity"][k] for k in resume.DATA_KEYS]),
                          resume.RUN_KEYS + strategy_flags + ("data",))
    assert resume.run_identity(config) == older and resume.run_identity(dict(config, imbalance=10.0)) != older


@pytest.mark.parametrize("ratio, message", [("0.5", "at least 1, got 0.5"), ("nan", "at least 1, got nan"),
                                            ("1000", "may be at most")])
def test_bad_imbalance_is_one_line(ratio, message, tmp_path, capsys):
    assert run.main(["--imbalance", ratio, "--nStart", "20", *SMALL, "--out", str(tmp_path)]) == 2
    assert message in error_line(capsys)


# ---------------------------------------------------------------- a cold start and selection on the input features

def picks_by_round(folder):
    """queries.csv's pool indices, {round: list}."""
    queries = pd.read_csv(folder / "queries.csv")
    return {r: g["index"].tolist() for r, g in queries.groupby("round")}


def test_a_cold_start_lets_typiclust_pick_the_first_batch_on_the_input_features(tmp_path, capsys):
    """--nStart 0 --select-on input: round 0's batch is TypiClust's on the digits' pixels with nothing labelled
    (the strategy's generator, as run.py seeds it), and round 0 of rounds.csv is the network trained on it."""
    from query_strategies.typiclust import typiclust_select

    assert run.main(["--alg", "typiclust", "--nStart", "0", "--select-on", "input", *SMALL, "--out",
                     str(tmp_path)]) == 0
    assert "drawn uniformly at random" not in capsys.readouterr().err
    folder = run_folder(tmp_path, "typiclust")
    ds = digits_as_run_loads_it(3)
    generator = torch.Generator().manual_seed(run.seeds(3, 3)[2])
    expected = typiclust_select(ds.X_train, np.zeros(len(ds.y_train), bool), 20, generator)
    picks = picks_by_round(folder)
    assert picks[0] == expected.index.tolist()
    rounds = pd.read_csv(folder / "rounds.csv")
    assert rounds.n_labeled.tolist() == [20, 40, 60] and rounds.query_seconds[0] > 0


def test_a_cold_start_of_a_strategy_that_needs_labels_draws_its_first_batch_at_random(tmp_path, capsys):
    """marg with --nStart 0 says once that its first batch is random, and runs as with --nStart = --nQuery."""
    assert run.main(["--alg", "marg", "--nStart", "0", *SMALL, "--out", str(tmp_path / "cold")]) == 0
    err = capsys.readouterr().err
    assert err.count("run.py: --nStart 0: marg needs labels to select, so its first batch of 20 is drawn "
                     "uniformly at random") == 1
    assert run.main(["--alg", "marg", "--nStart", "20", *SMALL, "--out", str(tmp_path / "warm")]) == 0
    cold, warm = (run_folder(tmp_path / d, "marg") for d in ("cold", "warm"))
    assert picks_by_round(cold) == picks_by_round(warm)
    assert run.main(["--alg", "rand", "--nStart", "0", *SMALL, "--out", str(tmp_path / "cold")]) == 0
    assert "drawn uniformly at random" not in capsys.readouterr().err
    assert picks_by_round(run_folder(tmp_path / "cold", "rand"))[0] == picks_by_round(cold)[0]  # the same draw
    columns = ["round", "n_labeled", "test_acc", "balanced_acc", "rarest_labeled"]
    assert pd.read_csv(cold / "rounds.csv", usecols=columns).equals(pd.read_csv(warm / "rounds.csv", usecols=columns))


def test_only_a_strategy_that_needs_no_labels_takes_the_shared_cold_start_draw():
    """uniform_draw (the pick is the shared uniform draw) is declared by rand alone, which is label_free too; every
    other label_free strategy picks its own first batch."""
    uniform = {alg for alg, cls in run.STRATEGIES.items() if cls.uniform_draw}
    assert uniform == {"rand"} and run.STRATEGIES["rand"].label_free
    parse = run.build_parser().parse_args
    assert not run.strategy_picks_first(parse(["--alg", "rand", "--nStart", "0"]))
    assert run.strategy_picks_first(parse(["--alg", "typiclust", "--nStart", "0", "--select-on", "input"]))

def test_a_cold_start_resumes_to_the_same_picks(tmp_path, capsys):
    flags = ["--alg", "kmeans", "--nStart", "0", "--select-on", "input", *SMALL]
    assert run.main([*flags, "--out", str(tmp_path / "whole")]) == 0
    assert run.main([*flags, "--out", str(tmp_path / "parts"), "--rounds", "1"]) == 0
    assert run.main([*flags, "--out", str(tmp_path / "parts"), "--resume"]) == 0
    assert picks_by_round(run_folder(tmp_path / "whole", "kmeans")) == picks_by_round(run_folder(tmp_path / "parts",
                                                                                                 "kmeans"))


def test_select_on_input_makes_coreset_cover_the_input_features(tmp_path, capsys):
    """coreset --select-on input (no randomness in its definition): round 1's batch is the k-center greedy cover of
    the digits' pixels around round 0's labels; with the network's embedding it is another batch."""
    from query_strategies.core_set import coreset_select

    for on in ("input", "model"):
        assert run.main(["--alg", "coreset", "--select-on", on, "--nStart", "20", *SMALL, "--rounds", "1",
                         "--out", str(tmp_path / on)]) == 0
    picks = {on: picks_by_round(run_folder(tmp_path / on, "coreset")) for on in ("input", "model")}
    ds = digits_as_run_loads_it(3)
    labeled = np.zeros(len(ds.y_train), bool)
    labeled[picks["input"][0]] = True
    assert picks["input"][1] == coreset_select(ds.X_train, torch.as_tensor(labeled), 20, None).index.tolist()
    assert picks["model"][0] == picks["input"][0] and picks["model"][1] != picks["input"][1]
    config = pd.read_json(run_folder(tmp_path / "input", "coreset") / "config.json", typ="series")
    assert config.select_on == "input"
    capsys.readouterr()
    assert run.main(["--alg", "coreset", "--nStart", "20", *SMALL, "--out", str(tmp_path / "input"), "--resume"]) == 2
    assert "was started with --select-on input, and this command has --select-on model" in error_line(capsys)


def test_coreset_pca_covers_the_input_features_from_a_cold_start(tmp_path, capsys):
    """coreset_pca --nStart 0 --select-on input: round 0 is the k-center cover of the digits' 64 pixels reduced to
    their first 50 principal components from a first centre drawn at random, round 1 the cover around round 0's
    labels."""
    from query_strategies.coreset_pca import coreset_pca_select

    assert run.main(["--alg", "coreset_pca", "--nStart", "0", "--select-on", "input", *SMALL, "--rounds", "1",
                     "--out", str(tmp_path)]) == 0
    assert "drawn uniformly at random" not in capsys.readouterr().err
    picks = picks_by_round(run_folder(tmp_path, "coreset_pca"))
    X = digits_as_run_loads_it(3).X_train
    labeled = np.zeros(len(X), bool)
    labeled[picks[0][0]] = True
    assert picks[0][1:] == coreset_pca_select(X, torch.as_tensor(labeled), 19, None).index.tolist()
    labeled[picks[0]] = True
    assert picks[1] == coreset_pca_select(X, torch.as_tensor(labeled), 20, None).index.tolist()


@pytest.mark.parametrize("alg", ["ldm", "alfamix", "dropquery"])
def test_select_on_input_leaves_strategies_on_the_last_layer_unchanged(alg, tmp_path, capsys):
    """ldm, alfamix and dropquery put embeddings through the network's last layer, so they take the network's
    whatever --select-on says (the digits' 64 pixels would not even fit its 32 inputs)."""
    for on in ("input", "model"):
        assert run.main(["--alg", alg, "--select-on", on, "--nStart", "20", *SMALL, "--rounds", "1",
                         "--out", str(tmp_path / on)]) == 0
    assert picks_by_round(run_folder(tmp_path / "input", alg)) == picks_by_round(run_folder(tmp_path / "model", alg))


@pytest.mark.parametrize("flags, message", [
    (["--alg", "badge", "--select-on", "input", "--nStart", "20"], "badge selects on the network's gradients"),
    *[(["--alg", alg, "--select-on", "input", "--nStart", "20"], f"{alg} selects on the network's gradients")
      for alg in ("vessal", "glister", "flqmi", "logdetmi")],  # gradient embeddings, as badge's
    (["--alg", "coreset_pca", "--nStart", "0"], "--nStart 0: coreset_pca picks the first batch on an embedding"),
    (["--alg", "typiclust", "--nStart", "0"], "--nStart 0: typiclust picks the first batch on an embedding"),
    (["--nStart", "-1"], "--nStart must be at least 0"),
    (["--nStart", "0", "--nQuery", "80", "--nEnd", "60"], "--nEnd (60) is below the first batch (80"),
    (["--nStart", "20", "--nQuery", "100", "--nEnd", "100"],  # ran 0 query rounds and said the budget was reached
     "--nEnd 100 leaves room for no query of --nQuery 100 after the first batch of 20 (pool of 1617); raise --nEnd "
     "to 120, lower --nQuery to at most 80 or give --nEnd 20 to train once on the first batch"),
    # each hint can be followed: a first batch larger than the pool is named before --nEnd, and raising --nEnd is
    # offered only where the pool has room for the query (it sent users on to the pool's error)
    (["--nStart", "2000", "--nQuery", "100", "--nEnd", "2050"], "--nStart 2000 is larger than the pool of 1617"),
    (["--imbalance", "50", "--nStart", "0", "--nQuery", "500", "--nEnd", "600"],
     "the first batch (--nQuery 500) is larger than the pool of"),
    (["--trunc", "300", "--nStart", "200", "--nQuery", "200", "--nEnd", "300"],
     "--nEnd 300 leaves room for no query of --nQuery 200 after the first batch of 200 (pool of 300); lower --nQuery "
     "to at most 100 or give --nEnd 200 to train once on the first batch"),
    (["--trunc", "300", "--nStart", "300", "--nQuery", "50", "--nEnd", "320"],
     "--nEnd 320 leaves room for no query of --nQuery 50 after the first batch of 300 (pool of 300); give --nEnd 300 "
     "to train once on the first batch"),
    (["--nStart", "0", "--nQuery", "80", "--nEnd", "100"], "--nEnd 100 leaves room for no query of --nQuery 80"),
    (["--nStart", "0", "--nQuery", "2000", "--nEnd", "4000"],
     "the first batch (--nQuery 2000) is larger than the pool"),
])
def test_bad_cold_start_and_select_on_flags_are_one_line(flags, message, tmp_path, capsys):
    assert run.main([*SMALL, *flags, "--out", str(tmp_path)]) == 2
    assert message in error_line(capsys)


def test_select_on_input_says_rand_draws_at_random():
    """rand's warning said it 'takes the network's outputs', which it never does (the README's sweep shows it)."""
    args = run.build_parser().parse_args(["--alg", "rand", "--select-on", "input"])
    with pytest.warns(UserWarning) as caught:
        run.check_selection_flags(args)
    assert [str(w.message).split("; ")[-1] for w in caught] == [
        "rand draws its picks uniformly at random whatever it says: it is ignored (the run records --select-on "
        "model, and a sweep reuses its runs)"]
    assert args.select_on == "model"


def test_learner_embeddings_are_the_input_features_when_selecting_on_input():
    ds = digits_as_run_loads_it(3)
    learner = Learner("mlp", ds, "cpu", torch.Generator(), select_on="input")
    assert torch.equal(learner.predictor.embeddings(np.array([5, 2])), ds.X_train[[5, 2]])


def test_select_on_input_leaves_a_strategy_on_predictions_unchanged(tmp_path, capsys):
    warned = "--select-on input changes what the strategies on an embedding select (albl, cluster_margin, coreset, " \
             "coreset_pca, kmeans, probcover, typiclust); marg takes the network's outputs whatever it says: it is " \
             "ignored (the run records --select-on model, and a sweep reuses its runs)"
    for on in ("input", "model"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert run.main(["--alg", "marg", "--select-on", on, "--nStart", "20", *SMALL,
                             "--out", str(tmp_path / on)]) == 0
        assert (warned in [str(w.message) for w in caught]) == (on == "input")
    assert picks_by_round(run_folder(tmp_path / "input", "marg")) == picks_by_round(run_folder(tmp_path / "model",
                                                                                               "marg"))
    assert json.loads((run_folder(tmp_path / "input", "marg") / "config.json").read_text())["select_on"] == "model"


def test_a_run_an_older_version_recorded_with_an_ignored_select_on_input_resumes(tmp_path, monkeypatch, capsys):
    """An older version recorded --select-on input for a strategy off the embedding (no check set it back): with
    the flag now recorded as model, its resume was refused, saying this command had --select-on model."""
    flags = ["--alg", "marg", "--select-on", "input", "--nStart", "20", *SMALL, "--nEnd", "80", "--out", str(tmp_path)]
    with monkeypatch.context() as older:
        older.setattr(run, "check_selection_flags", lambda args, given=(): None)
        assert run.main([*flags, "--rounds", "1"]) == 0
    config = run_folder(tmp_path, "marg") / "config.json"
    assert json.loads(config.read_text())["select_on"] == "input"
    for rounds, resumed in ((2, flags), (3, [f for f in flags if f not in ("--select-on", "input")])):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert run.main([*resumed, "--rounds", str(rounds), "--resume"]) == 0, capsys.readouterr().err
    assert json.loads(config.read_text())["select_on"] == "input"
    assert len(json.loads(config.read_text())["segments"]) == 3
    capsys.readouterr()
    sweep = ["--algs", "marg", "--seeds", "3", "--nQuery", "20", "--nStart", "20", "--nEnd", "80", "--nEmb", "32",
             "--maxEpochs", "20", "--rounds", "3", "--select-on", "input", "--out", str(tmp_path), "--dry-run"]
    assert sweep_main(sweep) == 0 and capsys.readouterr().out.startswith("skip "), "the sweep refused it too"
