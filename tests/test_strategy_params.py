"""A strategy declares its parameters once (strategy_params.DECLARED), and from that alone gets its flag, its
constructor keyword, its config.json entry, its refusal on --resume and its place in the sweep's and the
analysis' comparisons: checked for every declared parameter, and end to end for a parameter declared here only."""
import argparse
import functools
import json
import re

import numpy as np
import pytest
import torch

import dataset
import resume
import run
import strategy_params
from cli import accuracy_lines
from errors import UserError
from learner import Learner
from query_strategies import CLASSES
from query_strategies.strategy import Strategy
from results import RunDir, differing_settings, identity_hash, result_settings
from strategy_params import AUTO, DECLARED, Param, auto_or_positive, positive

TINY = ["--nStart", "20", "--nQuery", "10", "--nEnd", "40", "--maxEpochs", "3"]
DECLARATIONS = [(alg, p) for alg, params in DECLARED.items() for p in params]
SPREAD = Param("spread", "spread", positive(float), 0.5, "a parameter declared by this test only")
CHUNK = Param("chunk", "chunk", positive(int), 64, "a parameter declared by this test only, results unchanged",
              changes_results=False)


def other_value(p):
    """A valid value of p's flag other than its default, as (text, value): the first of 3, 4 and 0.5 its type
    takes (0.5 for a fraction or alphaCap)."""
    for text in ("3", "4", "0.5"):
        try:
            value = p.type(text)
        except argparse.ArgumentTypeError:
            continue
        if value != p.default:
            return text, value
    raise AssertionError(f"--{p.flag} takes none of 3, 4 and 0.5")


# the value of a result-changing flag under which two_queries must select otherwise, where it is not other_value's
# (logdetmi takes --smiEta ≤ 1 only; --covInvScaling shows in VeSSAL's picks only when small against the gradients;
# 2.55 · 12 picks is not a whole number)
NON_DEFAULT = {"nConfigs": "1", "delta": "0.5", "kmFactor": "2.55", "ldmRef": "50", "ldmPool": "100",
               "noiseScale": "0.1", "covInvScaling": "1e-4", "nTargets": "20", "dropPasses": "5", "smiEta": "0.5",
               "cealDecay": "0.5"}
# flags set in both runs of a parameter that matters only with them (CEAL's threshold decays from --cealDelta: the
# default leaves no point below it to lose)
ALONGSIDE = {"cealDecay": ("--cealDelta", "1")}
RESULT_DECLARATIONS = [(alg, p) for alg, p in DECLARATIONS if p.changes_results]


def recorded_config(alg, **flags):
    """A config.json of an `alg` run made with the default flags, changed by `flags`, with its data identity."""
    args = run.build_parser().parse_args(["--alg", alg])
    data = {"n_train": 10, "n_test": 5, "n_classes": 2, "shape": [3], "sha256": "ab"}
    return dict(vars(args), **flags, data_name="digits", data_identity=data)


@pytest.mark.parametrize("alg, p", DECLARATIONS, ids=[f"{alg}-{p.flag}" for alg, p in DECLARATIONS])
def test_every_declared_parameter_has_its_flag_default_and_constructor_value(alg, p):
    assert alg in CLASSES
    parser = run.build_parser()
    assert getattr(parser.parse_args(["--alg", alg]), p.flag) == p.default
    text, value = other_value(p)
    assert value != p.default
    args = parser.parse_args(["--alg", alg, f"--{p.flag}", text])
    strategy = run.build_strategy(args, None, np.zeros(5, dtype=bool), torch.Generator())
    assert getattr(strategy, p.name) == value
    assert getattr(run.build_strategy(parser.parse_args(["--alg", alg]), None, np.zeros(5, dtype=bool),
                                      torch.Generator()), p.name) == p.default


@pytest.mark.parametrize("alg, p", DECLARATIONS, ids=[f"{alg}-{p.flag}" for alg, p in DECLARATIONS])
def test_every_result_changing_parameter_is_refused_on_resume_and_compared_by_the_sweep(alg, p, tmp_path):
    old, (_, value) = recorded_config(alg), other_value(p)
    now = dict(old, **{p.flag: value})
    assert p.changes_results
    flag = "--" + p.flag.replace("_", "-")
    was = f"no {flag}" if p.default is None else f"{flag} {p.default}"
    with pytest.raises(UserError, match=re.escape(f"was started with {was}, and this command has {flag} {value};")):
        resume.check_same_run(RunDir(tmp_path), old, now)
    assert differing_settings(old, now) == [p.flag]
    others = [a for a in CLASSES if p not in strategy_params.parameters(a)]
    resume.check_same_run(RunDir(tmp_path), dict(old, alg=others[0]), dict(now, alg=others[0]))
    assert differing_settings(dict(old, alg=others[0]), dict(now, alg=others[0])) == []


@functools.cache  # each strategy's default selection is made once for all its parameters
def two_queries(flags):
    """What the strategy run.py builds from its command line `flags` (a tuple) selects in two queries of 12 on a
    learner trained, with the strategy's training extensions, on 60 labelled digits, then on these and the first
    picks: each query's picks, scores and the pool points its extensions add to the next training (CEAL's
    pseudo-labels)."""
    args = run.build_parser().parse_args(list(flags))
    ds = dataset.load("digits", 0, "data", np.random.default_rng(0))
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), max_epochs=20)
    labeled = np.zeros(len(ds.y_train), dtype=bool)
    labeled[::27] = True
    strategy = run.build_strategy(args, learner.predictor, labeled, torch.Generator().manual_seed(1))
    learner.extend(strategy.extensions)
    selected = []
    for _ in range(2):
        learner.train(strategy.labeled_idx())
        chosen = strategy.query(12)
        extra = [ext.extra_points() for ext in strategy.extensions]
        selected.append((chosen.index.tolist(), chosen.score.tolist(), [e[0].tolist() for e in extra if e]))
        strategy.update(chosen.index)
    return selected


@pytest.mark.filterwarnings("ignore:.*training stopped")
@pytest.mark.parametrize("alg, p", RESULT_DECLARATIONS, ids=[f"{alg}-{p.flag}" for alg, p in RESULT_DECLARATIONS])
def test_every_result_changing_parameter_changes_what_its_strategy_selects(alg, p):
    """A value other than the default, given by its flag, reaches the selection: the same strategy, learner and
    generator select otherwise than with the default (a parameter that is set but not passed on selects the same)."""
    text = NON_DEFAULT.get(p.flag) or other_value(p)[0]
    assert p.type(text) != p.default
    flags = ("--alg", alg, *ALONGSIDE.get(p.flag, ()))
    assert two_queries((*flags, f"--{p.flag}", text)) != two_queries(flags), (
        f"{alg} selects the same with --{p.flag} {text}: put a value under which it selects otherwise in NON_DEFAULT")


def test_a_flag_shared_by_strategies_has_one_declaration(monkeypatch):
    declared = [p.flag for params in DECLARED.values() for p in params]
    assert list(strategy_params.every_parameter()) == list(dict.fromkeys(declared))  # each once, where first declared
    assert {f for f in declared if declared.count(f) > 1} >= {"beta", "smiEta", "queryClasses"}
    monkeypatch.setitem(DECLARED, "rand", (Param("beta", "beta", float, 2.0, "another meaning"),))
    with pytest.raises(ValueError, match="--beta is declared twice"):
        run.build_parser()


def test_an_alias_has_the_parameters_of_its_strategy(monkeypatch):
    monkeypatch.setitem(DECLARED, "coreset", (SPREAD,))
    assert strategy_params.parameters("kcenter") == (SPREAD,)
    assert strategy_params.parameters("nope") == ()


def test_the_former_class_level_declaration_is_refused_with_a_pointer_to_the_new_one():
    with pytest.raises(TypeError, match="declare a strategy's parameters in strategy_params.DECLARED"):
        type("Declared", (Strategy,), {"name": "declared", "params": {"beta": 1.0}})


def test_a_run_identity_covers_the_strategy_flags_its_config_records():
    """The identity of a run is that of earlier versions (which listed the four strategy flags by hand), so their
    checkpoints resume; a parameter declared after a run started does not change that run's identity."""
    earlier_keys = ("alg", "data_name", "model", "nQuery", "nStart", "nEmb", "lr", "trunc", "aug", "seed",
                    "maxEpochs", "patience", "beta", "nConfigs", "delta", "kmFactor", "data")
    later = set(strategy_params.every_result_flag()) - set(earlier_keys)  # flags an earlier version did not record
    now = recorded_config("badge")
    config = {k: v for k, v in now.items() if k not in later}
    data = [config["data_identity"][k] for k in resume.DATA_KEYS]
    assert resume.run_identity(config) == identity_hash(dict(config, data=data), earlier_keys)
    assert resume.run_identity(now) != resume.run_identity(dict(now, ldmPool=5))  # a later flag a run records
    assert resume.run_identity(config) != resume.run_identity(dict(config, beta=2.0))
    with pytest.MonkeyPatch.context() as m:
        m.setitem(DECLARED, "rand", (SPREAD,))
        assert resume.run_identity(config) == identity_hash(dict(config, data=data), earlier_keys)


@pytest.mark.filterwarnings("ignore:training stopped")
def test_a_parameter_declared_here_gets_flag_config_entry_resume_refusal_and_sweep_comparison(
        tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(DECLARED, "rand", (SPREAD, CHUNK))
    help_text = " ".join(run.build_parser().format_help().split())
    assert "--spread SPREAD rand: a parameter declared by this test only (default: 0.5)" in help_text
    args = run.build_parser().parse_args(["--alg", "rand", "--spread", "2", "--chunk", "8"])
    strategy = run.build_strategy(args, None, np.zeros(5, dtype=bool), torch.Generator())
    assert (strategy.spread, strategy.chunk) == (2.0, 8)

    flags = ["--alg", "rand", "--out", str(tmp_path), *TINY, "--spread", "2"]
    assert run.main([*flags, "--rounds", "1"]) == 0
    config = json.loads((tmp_path / "digits_mlp_rand_10_seed1" / "config.json").read_text())
    assert (config["spread"], config["chunk"]) == (2.0, 64)
    capsys.readouterr()

    assert run.main([*flags[:-1], "3", "--resume"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"run.py: error: {tmp_path / 'digits_mlp_rand_10_seed1'} was started with --spread 2.0, and this "
        f"command has --spread 3.0; resume with the same flags or use another --out"]
    assert run.main([*flags, "--chunk", "8", "--resume"]) == 0  # chunk does not change results
    assert [n for n, _ in accuracy_lines(capsys.readouterr().out)] == [20, 30, 40]

    assert result_settings(config)["spread"] == 2.0 and "chunk" not in result_settings(config)
    assert differing_settings(config, dict(config, spread=3.0, chunk=8)) == ["spread"]
    assert differing_settings(dict(config, alg="badge"), dict(config, alg="badge", spread=3.0)) == []


def test_a_flag_of_another_strategy_set_away_from_its_default_is_named_in_a_warning(tmp_path, capsys):
    flags = vars(run.build_parser().parse_args(["--alg", "rand", "--beta", "2", "--gamma", "10"]))
    assert strategy_params.ignored_flags("rand", flags) == [("beta", ["powerbald", "powermargin"])]
    assert strategy_params.ignored_flags("powermargin", flags) == []
    at_default = ["--alg", "rand", "--beta=1.0", "--kernelSigma", "auto"]  # given, at their defaults: named too
    given = strategy_params.given_flags(at_default)
    assert given == {"alg", "beta", "kernelSigma"}
    assert strategy_params.ignored_flags("rand", vars(run.build_parser().parse_args(at_default)), given) == [
        ("beta", ["powerbald", "powermargin"]), ("kernelSigma", ["uherding"])]
    with pytest.warns(UserWarning, match="^--beta is a flag of powerbald, powermargin, not of rand; it is ignored$"):
        assert run.main(["--alg", "rand", "--beta", "2", "--nStart", "50", "--nQuery", "50", "--nEnd", "100",
                         "--maxEpochs", "20", "--out", str(tmp_path)]) == 0


@pytest.mark.filterwarnings("ignore:training stopped")
def test_extreme_kernel_widths_and_temperatures_are_refused_or_run(tmp_path, capsys):
    """--kernelSigma 1e-300 divided by σ² = 0 (a ZeroDivisionError traceback), --uherdingTemperature 1e-300 made
    every logit / T infinite and the probabilities NaN, --temperature 1e-310 CLUE's weights NaN (both tracebacks)."""
    base = ["--nStart", "30", "--nQuery", "30", "--nEnd", "60", "--maxEpochs", "20", "--threads", "1"]
    with pytest.raises(SystemExit) as refused:
        run.main(["--alg", "uherding", "--kernelSigma", "1e-300", *base, "--out", str(tmp_path / "a")])
    assert refused.value.code == 2
    wanted = "argument --kernelSigma: must be auto or a float from 0.0001 to 10000"
    assert wanted in capsys.readouterr().err
    for flags in (["--alg", "uherding", "--uherdingTemperature", "1e-300", "--kernelSigma", "1e-4"],
                  ["--alg", "clue", "--temperature", "1e-310"]):
        assert run.main([*flags, *base, "--out", str(tmp_path / flags[1])]) == 0


def test_auto_is_read_in_any_case_and_other_words_are_refused():
    """--kernelSigma AUTO was refused ("'AUTO' is not a float") while data set and strategy names ignore case."""
    assert [auto_or_positive(text) for text in ("auto", "AUTO", " Auto", "0.5")] == [AUTO, AUTO, AUTO, 0.5]
    for text in ("automatic", "0", "-1"):
        with pytest.raises(argparse.ArgumentTypeError):
            auto_or_positive(text)


@pytest.mark.parametrize("alg, flag, value, wanted", [
    ("probcover", "delta", "1e308", "a positive float of at most 2 (unit vectors are at most 2 apart)"),
    ("uherding", "kernelSigma", "1e308", "auto or a float from 0.0001 to 10000 (the embeddings have unit norm, at "
     "most 2 apart: a narrower or wider kernel leaves the picks to float64's rounding, in row order)"),
    ("uherding", "kernelSigma", "1e-150", "auto or a float from 0.0001 to 10000 (the embeddings have unit norm, at "
     "most 2 apart: a narrower or wider kernel leaves the picks to float64's rounding, in row order)"),
    ("logdetmi", "smiLambda", "1e10", "a float from 1e-06 to 10000 (the kernel's entries are in [0, 1]: with a "
     "smaller ridge the log-determinants of a rank-deficient kernel are rounding, with a larger one the gains drown "
     "in it, and the picks go by row)"),
    ("logdetmi", "smiLambda", "1e-300", "a float from 1e-06 to 10000 (the kernel's entries are in [0, 1]: with a "
     "smaller ridge the log-determinants of a rank-deficient kernel are rounding, with a larger one the gains drown "
     "in it, and the picks go by row)"),
    ("noise_stability", "noiseScale", "1e308",
     "a positive float of at most 1 (noise beyond the weights' own norm leaves nothing of the network)"),
    ("ldm", "ldmStop", "1" + "0" * 30, "a positive int of at most 10,000"),
    ("dropquery", "dropPasses", "9223372036854775807", "a positive int of at most 10,000"),
    ("batchbald", "nConfigs", "1" + "0" * 30, "a positive int of at most 1,000,000 (they are enumerated in memory)"),
    ("vessal", "covInvScaling", "1e160", "a positive float of at most 1e+100"),
    ("glister", "glisterLr", "1e308", "a positive float of at most 1e+100"),
    ("powerbald", "beta", "1e308", "a positive float of at most 1e+100")])
def test_a_value_beyond_a_parameters_range_is_refused_in_one_line_before_the_run(tmp_path, capsys, alg, flag, value,
                                                                                 wanted):
    """Each of these passed the flag's check and then, after round 0, ended in an OverflowError or TypeError
    traceback (probcover, uherding, noise_stability, ldm, dropquery), ran without end (batchbald) or picked the
    first pool points with NaN scores (vessal, glister, logdetmi's λ = 1e-300) or zero gains (uherding's σ = 1e-150,
    logdetmi's λ = 1e10)."""
    with pytest.raises(SystemExit) as refused:
        run.main(["--alg", alg, f"--{flag}", value, *TINY, "--out", str(tmp_path / "out")])
    assert refused.value.code == 2 and not (tmp_path / "out").exists()
    assert f"argument --{flag}: must be {wanted}, got {value}" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:training stopped")
def test_a_km_factor_beyond_the_pool_spreads_every_unlabelled_point(tmp_path):
    """kmFactor·nQuery above the pool takes every unlabelled point, as 1e30 did; 1e308 overflowed math.ceil."""
    folders = []
    for factor in ("1e30", "1e308"):
        out = tmp_path / factor
        assert run.main(["--alg", "cluster_margin", "--kmFactor", factor, *TINY, "--out", str(out)]) == 0
        folders.append((out / "digits_mlp_cluster_margin_10_seed1" / "queries.csv").read_text())
    assert folders[0] == folders[1]
