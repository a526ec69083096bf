"""Every strategy (the original's 16 and the 8 of today's peers) through run.main on digits for two query rounds: each round's picks are distinct
pool points not labelled before, and the same seed picks the same points again."""
import pandas as pd
import pytest

import run
from query_strategies import ALIASES, STRATEGIES

ALGS = ["rand", "conf", "marg", "entropy", "conf_dropout", "marg_dropout", "entropy_dropout", "bald", "badge",
        "baseline", "coreset", "kmeans", "albl", "bim", "deepfool", "bait", "varratio", "meanstd", "powerbald",
        "powermargin", "batchbald", "typiclust", "probcover", "cluster_margin", "ldm", "noise_stability", "alfamix",
        "vessal", "epig", "dropquery", "clue", "falcun", "lpl", "ceal", "vaal", "waal", "coreset_pca", "galaxy", "fass",
        "flqmi", "logdetmi", "glister", "uherding"]
FLAGS = ["--nStart", "30", "--nQuery", "10", "--nEnd", "50", "--nEmb", "32", "--maxEpochs", "15", "--seed", "7"]


def test_the_list_holds_every_strategy():
    assert sorted(ALGS) == sorted(set(STRATEGIES) - set(ALIASES))


def picks(alg, out):
    """queries.csv of one run of `alg` with FLAGS into `out`."""
    assert run.main(["--alg", alg, "--out", str(out), *FLAGS]) == 0
    return pd.read_csv(out / f"digits_mlp_{alg}_10_seed7" / "queries.csv")


@pytest.mark.filterwarnings("ignore:training stopped")
@pytest.mark.parametrize("alg", ALGS)
def test_two_rounds_of_distinct_unlabelled_reproducible_picks(alg, tmp_path, capsys):
    first = picks(alg, tmp_path / "a")
    assert first.groupby("round").size().to_dict() == {0: 30, 1: 10, 2: 10}
    assert first["index"].is_unique  # within a round, and never a point labelled in an earlier round
    assert first["index"].between(0, 1616).all()  # digits' pool: 1,617 points
    again = picks(alg, tmp_path / "b")
    assert again.equals(first)
