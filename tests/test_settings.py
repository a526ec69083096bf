"""The settings of today's studies (issue 22): balanced accuracy and the rarest class's labels in rounds.csv,
official test splits of user data, a long-tailed pool (--imbalance), a cold start (--nStart 0) and selection on
the data's own features (--select-on input), each through run.py as a user runs it."""
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score

import dataset
import metrics
import run
from learner import Learner

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
    learner.load_state_dict(torch.load(folder / "checkpoint.pt", weights_only=True)["learner"])
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
             (["--data", str(tmp_path / "split.npz"), "--test", str(tmp_path / "test.csv")], "drop --test"),
             (["--data", str(tmp_path / "train.csv"), "--test", str(tmp_path / "none.csv")], "none.csv not found")]
    for flags, message in cases:
        assert run.main([*flags, *SMALL, "--nStart", "20", "--out", str(tmp_path / "out")]) == 2
        assert message in error_line(capsys)
