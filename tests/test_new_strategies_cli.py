"""The strategies of issue 11 run from run.py end to end on digits, record their parameters in config.json, and
refuse bad parameter values with one line."""
import json

import pytest

import run
from tests.cli import accuracy_lines, assert_one_line_error, run_cli, run_main

NEW = ["varratio", "meanstd", "powerbald", "powermargin", "batchbald", "typiclust", "probcover",
       "cluster_margin"]
TINY = ["--nStart", "40", "--nQuery", "20", "--nEnd", "80", "--maxEpochs", "40"]


@pytest.mark.filterwarnings("ignore:training stopped")
@pytest.mark.parametrize("alg", NEW)
def test_new_strategy_runs_end_to_end(alg, tmp_path, capsys):
    assert run.main(["--alg", alg, "--seed", "3", "--out", str(tmp_path), *TINY]) == 0
    assert [n for n, _ in accuracy_lines(capsys.readouterr().out)] == [40, 60, 80]
    folder = tmp_path / f"digits_mlp_{alg}_20_seed3"
    queries = (folder / "queries.csv").read_text().splitlines()[1:]
    assert len(queries) == 80 and len({q.split(",")[1] for q in queries}) == 80


@pytest.mark.filterwarnings("ignore:training stopped")
def test_probcover_with_a_given_delta_records_it(tmp_path, capsys):
    assert run.main(["--alg", "probcover", "--delta", "0.4", "--out", str(tmp_path), *TINY]) == 0
    assert [n for n, _ in accuracy_lines(capsys.readouterr().out)] == [40, 60, 80]
    assert json.loads((tmp_path / "digits_mlp_probcover_20_seed1" / "config.json").read_text())["delta"] == 0.4


def test_strategy_parameters_are_recorded(tmp_path):
    assert run.main(["--alg", "powerbald", "--beta", "2.5", "--nConfigs", "77", "--out", str(tmp_path),
                     "--rounds", "1", *TINY]) == 0
    config = json.loads((tmp_path / "digits_mlp_powerbald_20_seed1" / "config.json").read_text())
    assert (config["beta"], config["nConfigs"], config["delta"], config["kmFactor"]) == (2.5, 77, None, 10.0)


@pytest.mark.parametrize("flag,value", [("--beta", "0"), ("--nConfigs", "-3"), ("--delta", "nan"),
                                        ("--kmFactor", "x"), ("--kmFactor", "0.5")])  # below 1: the same as 1
def test_bad_strategy_parameters_are_refused_with_one_line(flag, value):
    assert_one_line_error(run_cli("--alg", "powerbald", flag, value), flag)


@pytest.mark.filterwarnings("ignore:training stopped")
def test_resume_with_another_strategy_parameter_is_refused(tmp_path):
    assert run.main(["--alg", "powermargin", "--out", str(tmp_path), "--rounds", "1", *TINY]) == 0
    proc = run_main("--alg", "powermargin", "--beta", "2", "--out", tmp_path, "--rounds", "2", "--resume", *TINY)
    assert_one_line_error(proc, "was started with --beta 1.0, and this command has --beta 2.0", "same flags")
