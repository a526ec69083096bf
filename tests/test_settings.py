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

