"""The strategies of issue 23 (epig, dropquery, clue, falcun, coreset_pca, galaxy, ...) from run.py on digits: a run
stopped after one query round and resumed to three ends with the queries of an uninterrupted run, each records its
parameters in config.json, and a bad parameter value is refused with one line."""
import json

import pytest

import run
from tests.cli import assert_one_line_error, run_cli

TINY = ["--nStart", "40", "--nQuery", "20", "--maxEpochs", "40", "--seed", "2", "--nDraws", "20"]
PARAMS = {"epig": {"nTargets": 100, "nDraws": 20}, "dropquery": {"dropRate": 0.75, "dropPasses": 3},
          "clue": {"temperature": 1.0}, "falcun": {"gamma": 10.0},
          "coreset_pca": {"pcaDim": 50}, "galaxy": {}, "fass": {"topN": 5},
          "flqmi": {"smiEta": 1.0, "queryClasses": 1}, "logdetmi": {"smiEta": 1.0, "smiLambda": 1.0, "queryClasses": 1},
          "glister": {"glisterLr": 1e-4}, "uherding": {"kernelSigma": "auto", "uherdingTemperature": "auto"}}


@pytest.mark.filterwarnings("ignore:training stopped")
@pytest.mark.parametrize("alg", PARAMS)
def test_resume_ends_with_the_queries_of_an_uninterrupted_run(alg, tmp_path):
    args = ["--alg", alg, *TINY]
    assert run.main([*args, "--rounds", "3", "--out", str(tmp_path / "whole")]) == 0
    assert run.main([*args, "--rounds", "1", "--out", str(tmp_path / "split")]) == 0
    name = f"digits_mlp_{alg}_20_seed2"
    round_0 = (tmp_path / "split" / name / "rounds.csv").read_text().splitlines()[:2]  # header, round 0
    assert run.main([*args, "--rounds", "3", "--out", str(tmp_path / "split"), "--resume"]) == 0
    whole = tmp_path / "whole" / name
    assert (tmp_path / "split" / name / "queries.csv").read_text() == (whole / "queries.csv").read_text()
    assert (tmp_path / "split" / name / "rounds.csv").read_text().splitlines()[:2] == round_0  # not trained again
    config = json.loads((whole / "config.json").read_text())
    assert {k: config[k] for k in PARAMS[alg]} == PARAMS[alg]


@pytest.mark.parametrize("flag,value", [("--nTargets", "0"), ("--nDraws", "1.5"), ("--nDraws", "1"),
                                        ("--dropRate", "1"), ("--dropRate", "0"), ("--dropPasses", "-1"),
                                        ("--temperature", "inf"), ("--gamma", "x"), ("--pcaDim", "0"),
                                        ("--topN", "2.5"), ("--smiEta", "-1"), ("--queryClasses", "0"),
                                        ("--glisterLr", "0"), ("--kernelSigma", "0"),
                                        ("--uherdingTemperature", "-1"), ("--uherdingTemperature", "nan")])
def test_bad_parameters_are_refused_with_one_line(flag, value):
    assert_one_line_error(run_cli("--alg", "epig", flag, value), flag)
