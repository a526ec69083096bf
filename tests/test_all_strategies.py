"""Every strategy (each --alg name of query_strategies.CLASSES, a new one included as soon as it is listed there)
through run.main on digits for two query rounds: each round's picks are distinct pool points not labelled before,
and the same seed picks the same points again, also in a run stopped after its first query round and resumed (its
state, the strategy's included, restored from the checkpoint)."""
import pandas as pd
import pytest

import run
from query_strategies import CLASSES

FLAGS = ["--nStart", "30", "--nQuery", "10", "--nEnd", "50", "--nEmb", "32", "--maxEpochs", "15", "--seed", "7"]


def picks(alg, out, *more):
    """queries.csv of one run of `alg` with FLAGS and `more` flags into `out`."""
    assert run.main(["--alg", alg, "--out", str(out), *FLAGS, *more]) == 0
    return pd.read_csv(out / f"digits_mlp_{alg}_10_seed7" / "queries.csv")


@pytest.mark.filterwarnings("ignore:training stopped")
@pytest.mark.parametrize("alg", list(CLASSES))
def test_two_rounds_of_distinct_unlabelled_reproducible_picks(alg, tmp_path, capsys):
    first = picks(alg, tmp_path / "a")
    assert first.groupby("round").size().to_dict() == {0: 30, 1: 10, 2: 10}
    assert first["index"].is_unique  # within a round, and never a point labelled in an earlier round
    assert first["index"].between(0, 1616).all()  # digits' pool: 1,617 points
    picks(alg, tmp_path / "b", "--rounds", "1")
    again = picks(alg, tmp_path / "b", "--resume")
    assert again.equals(first)
