"""The real CLI end to end on digits: output lines, results folder, reproducibility, flags and error paths."""
import json
import os
import re
import subprocess
import sys

import numpy
import pandas as pd
import pytest
import scipy
import sklearn
import threadpoolctl
import torchvision

from cli import ACC_LINE, ROOT, SMALL, accuracy_lines, assert_one_line_error, run_cli, run_main
import kernels
import run
from run import build_parser

ROUND_COLUMNS = {"round", "n_labeled", "test_acc", "train_epochs", "train_seconds", "query_seconds",
                 "infer_seconds", "select_seconds", "train_stop"}


def test_defaults_match_the_original():
    a = build_parser().parse_args([])
    assert (a.alg, a.did, a.lr, a.model, a.path, a.data) == ("rand", 0, 1e-4, "mlp", "data", "")
    assert (a.nQuery, a.nStart, a.nEnd, a.nEmb, a.rounds, a.trunc, a.aug, a.dummy) == \
        (100, 100, 50000, 128, 0, -1, 0, 1)
    assert (a.seed, a.device, a.out) == (None, "auto", "results")
    assert (a.maxEpochs, a.patience, a.threads, a.kernel) == (0, 5000, 1, "auto")  # the paper's protocol: no cap


def test_help_explains_every_flag():
    out = run_main("--help").stdout
    for flag in ["--alg", "--did", "--lr", "--model", "--path", "--data", "--nQuery", "--nStart", "--nEnd", "--nEmb",
                 "--rounds", "--trunc", "--aug", "--dummy", "--seed", "--device", "--out", "--resume", "--force",
                 "--maxEpochs", "--patience", "--threads", "--kernel"]:
        assert flag in out


def test_select_on_help_names_the_strategies_it_concerns():
    """--select-on's help lists the embedding strategies and those that refuse input (on gradients): it named five
    of the nine that refuse it, leaving vessal, glister, flqmi and logdetmi out."""
    from query_strategies import ALIASES, STRATEGIES
    text = " ".join(next(a.help for a in build_parser()._actions if a.dest == "select_on").split())
    embedding, gradients = re.search(r"strategies \(([^;]*);.*gradients \(([^)]*)\)", text).groups()
    names = [a for a in STRATEGIES if a not in ALIASES]
    on_embedding = {a for a in names if STRATEGIES[a].on_embedding} - {"albl"}
    on_gradients = {a for a in names if STRATEGIES[a].takes_gradients}
    assert set(embedding.split(", ")) == on_embedding, f"--select-on's help (run.py) should list {sorted(on_embedding)}"
    assert set(gradients.split(", ")) == on_gradients, f"--select-on's help (run.py) should list {sorted(on_gradients)}"


def test_cold_start_help_names_the_strategies_that_pick_their_own_first_batch():
    """--nStart's help, written before torch is imported, lists the label_free strategies by hand (rand's uniform
    draw aside): a new one must be added there."""
    from query_strategies import ALIASES, STRATEGIES
    text = " ".join(next(a.help for a in build_parser()._actions if a.dest == "nStart").split())
    listed = re.search(r"needs no labels \(([^)]*) with --select-on input\)", text).group(1).split(", ")
    own = {a for a in STRATEGIES if a not in ALIASES and STRATEGIES[a].label_free and not STRATEGIES[a].uniform_draw}
    assert set(listed) == own, f"--nStart's help (run.py) should list {', '.join(sorted(own))}"


@pytest.fixture(scope="module")
def entropy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("res")
    proc = run_main("--alg", "entropy", "--seed", "4", "--out", out, *SMALL)
    return proc, out / "digits_mlp_entropy_50_seed4"


def test_run_prints_the_original_lines_and_writes_results(entropy_run):
    proc, folder = entropy_run
    assert proc.returncode == 0, proc.stderr
    lines = accuracy_lines(proc.stdout)
    assert [n for n, _ in lines] == [50, 100, 150]
    assert all(0 < a <= 1 for _, a in lines)
    assert "train" in proc.stderr and "inference" in proc.stderr and "query" in proc.stderr
    # stderr's query time is rounds.csv's query_seconds: inference + selection
    split = re.findall(r"query ([\d.]+) s \(inference ([\d.]+) s \+ selection ([\d.]+) s\)", proc.stderr)
    assert len(split) == 3 and all(abs(float(q) - float(i) - float(s)) <= 0.011 for q, i, s in split)
    config = json.loads((folder / "config.json").read_text())
    n_test = config["n_test"]
    for _, printed in ACC_LINE.findall(proc.stdout):  # the exact ratio correct / n, as Python prints it
        assert printed == str(round(float(printed) * n_test) / n_test)
    assert config["alg"] == "entropy" and config["seed"] == 4 and config["nQuery"] == 50 and config["device"] == "cpu"
    assert config["data_name"] == "digits" and config["n_classes"] == 10 and config["threads"] == 1
    assert config["kernel"] == "auto" and config["trainer"] == ("compiled" if kernels.library() else "torch")
    assert config["trainer_identity"] == (kernels.state().identity if kernels.library() else {"path": "torch"})
    assert config["libraries"] == {"numpy": numpy.__version__, "scipy": scipy.__version__,
                                   "scikit-learn": sklearn.__version__,
                                   "torchvision": torchvision.__version__.split("+")[0],
                                   "threadpoolctl": threadpoolctl.__version__}
    rounds = pd.read_csv(folder / "rounds.csv")
    assert ROUND_COLUMNS <= set(rounds.columns)
    assert rounds["round"].tolist() == [0, 1, 2] and rounds["n_labeled"].tolist() == [50, 100, 150]
    assert [round(a, 6) for a in rounds["test_acc"]] == [round(a, 6) for _, a in lines]
    capped = rounds["train_stop"] == "cap"
    assert set(rounds["train_stop"]) <= {"target", "cap"}
    assert ((rounds["train_acc"] >= 0.99) == ~capped).all()
    assert (capped == (rounds["train_epochs"] == 100)).all() and (rounds["train_epochs"] > 0).all()
    queries = pd.read_csv(folder / "queries.csv")
    assert queries.groupby("round").size().tolist() == [50, 50, 50]
    assert queries["index"].is_unique and queries["index"].between(0, config["n_pool"] - 1).all()
    assert json.loads((folder / "summary.json").read_text())["finished"] is True


def accuracy_columns(folder):
    """The text of rounds.csv's round, n_labeled, test_acc, train_acc and train_epochs columns, byte for byte."""
    lines = (folder / "rounds.csv").read_text().splitlines()
    header = lines[0].split(",")
    keep = [header.index(c) for c in ("round", "n_labeled", "test_acc", "train_acc", "train_epochs")]
    return [[line.split(",")[i] for i in keep] for line in lines]


@pytest.mark.slow
def test_same_seed_gives_identical_output(entropy_run, tmp_path):
    proc, folder = entropy_run
    again = run_main("--alg", "entropy", "--seed", "4", "--out", tmp_path, *SMALL)
    assert accuracy_lines(again.stdout) == accuracy_lines(proc.stdout)
    assert (tmp_path / folder.name / "queries.csv").read_text() == (folder / "queries.csv").read_text()
    assert accuracy_columns(tmp_path / folder.name) == accuracy_columns(folder)
    other = run_main("--alg", "entropy", "--seed", "5", "--out", tmp_path, *SMALL)
    assert other.returncode == 0, other.stderr
    assert ((tmp_path / "digits_mlp_entropy_50_seed5" / "queries.csv").read_text()
            != (folder / "queries.csv").read_text())


@pytest.mark.slow
def test_seed_defaults_to_dummy(tmp_path):
    proc = run_main("--dummy", "3", "--rounds", "1", "--out", tmp_path, *SMALL)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "digits_mlp_rand_50_seed3" / "config.json").read_text())["seed"] == 3


@pytest.mark.slow
def test_an_alias_runs_and_names_its_folder_as_the_strategy_it_names(tmp_path):
    proc = run_main("--alg", "kcenter", "--rounds", "1", "--out", tmp_path, *SMALL)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["digits_mlp_coreset_50_seed1"]
    assert json.loads((tmp_path / "digits_mlp_coreset_50_seed1" / "config.json").read_text())["alg"] == "coreset"


@pytest.mark.filterwarnings("ignore:training stopped")
@pytest.mark.parametrize("alg", ["rand", "conf", "marg", "conf_dropout", "marg_dropout", "entropy_dropout", "bald"])
def test_uncertainty_strategies_run(alg, tmp_path, capsys):
    code = run.main(["--alg", alg, "--out", str(tmp_path), "--nStart", "50", "--nQuery", "50", "--nEnd", "100",
                     "--maxEpochs", "60"])
    assert code == 0
    assert [n for n, _ in accuracy_lines(capsys.readouterr().out)] == [50, 100]


@pytest.mark.slow
def test_rounds_flag_runs_exactly_that_many_query_rounds(tmp_path):
    proc = run_main("--rounds", "2", "--out", tmp_path, "--nStart", "50", "--nQuery", "20", "--maxEpochs", "60")
    assert [n for n, _ in accuracy_lines(proc.stdout)] == [50, 70, 90]
    summary = json.loads((tmp_path / "digits_mlp_rand_20_seed1" / "summary.json").read_text())
    assert (summary["stopped_by"], summary["rounds"], summary["n_labeled"]) == ("rounds", 2, 90)


@pytest.mark.parametrize("rounds", ["50", "2"])
def test_rounds_flag_never_goes_past_the_label_budget(tmp_path, rounds):
    """--nEnd 150 allows (150 − 50) / 50 = 2 query rounds: --rounds 50 (and --rounds 2) stop there."""
    proc = run_main("--rounds", rounds, "--out", tmp_path, "--nStart", "50", "--nQuery", "50", "--nEnd", "150",
                   "--maxEpochs", "20")
    assert proc.returncode == 0, proc.stderr
    assert [n for n, _ in accuracy_lines(proc.stdout)] == [50, 100, 150]
    summary = json.loads((tmp_path / "digits_mlp_rand_50_seed1" / "summary.json").read_text())
    assert (summary["stopped_by"], summary["rounds"], summary["n_labeled"]) == ("budget", 2, 150)


@pytest.mark.slow
def test_run_ends_cleanly_when_the_pool_runs_out(tmp_path):
    # digits' pool holds 1,617 points: after 1,500 labels fewer than 400 remain
    proc = run_main("--out", tmp_path, "--nStart", "1100", "--nQuery", "400", "--nEnd", "5000", "--maxEpochs", "30")
    assert proc.returncode == 0, proc.stderr
    assert [n for n, _ in accuracy_lines(proc.stdout)] == [1100, 1500]
    assert proc.stderr.splitlines()[-1] == ("run.py: done: 1 query round, 1500 labelled, pool exhausted (fewer "
                                            "than 400 unlabelled points left); results in "
                                            f"{tmp_path / 'digits_mlp_rand_400_seed1'}")
    summary = json.loads((tmp_path / "digits_mlp_rand_400_seed1" / "summary.json").read_text())
    assert summary["stopped_by"] == "pool exhausted" and summary["rounds"] == 1


@pytest.mark.slow
def test_existing_results_are_not_overwritten(tmp_path):
    args = ["--rounds", "1", "--out", tmp_path, *SMALL]
    assert run_main(*args).returncode == 0
    assert_one_line_error(run_main(*args), "already holds results", "--force")
    assert run_main(*args, "--force").returncode == 0


@pytest.mark.parametrize("args,fragment", [
    (["--alg", "nope"], "invalid choice"),
    (["--model", "transformer"], "invalid choice"),
    (["--device", "tpu"], "invalid choice"),
    (["--lr", "abc"], "invalid float value"),
])
def test_bad_input_gets_a_one_line_error(args, fragment, tmp_path):
    assert_one_line_error(run_cli(*args, "--out", tmp_path, timeout=120), fragment)


@pytest.mark.parametrize("args,fragment", [
    (["--data", "ImageNet"], "unknown --data"),
    (["--data", "MNIST", "--path", "/nonexistent/folder"], "MNIST is not under"),
])
def test_bad_data_gets_a_one_line_error(args, fragment, tmp_path):
    assert_one_line_error(run_main(*args, "--out", tmp_path), fragment)


def test_a_folder_as_data_says_how_to_use_it(tmp_path):
    """A folder of images got only 'unknown --data ...: use digits, MNIST, ..., or a .csv/.npz file'."""
    (tmp_path / "photos" / "cat").mkdir(parents=True)
    assert_one_line_error(run_main("--data", tmp_path / "photos", "--out", tmp_path / "out"),
                          f"unknown --data '{tmp_path / 'photos'}': use digits, ",
                          f"; an image folder is first turned into features: python scripts/embed.py --data "
                          f"{tmp_path / 'photos'} --model resnet18 --weights resnet18.pth --out features.npz, then "
                          f"--data features.npz")
    (tmp_path / "data" / "FashionMNIST").mkdir(parents=True)
    (tmp_path / "data" / "cifar-10-python.tar.gz").write_bytes(b"")
    assert_one_line_error(run_main("--data", tmp_path / "data", "--out", tmp_path / "out"),
                          f"; {tmp_path / 'data'} holds FashionMNIST and CIFAR10: use --data FashionMNIST --path "
                          f"{tmp_path / 'data'}")
    # the data set's own folder (PATH/FashionMNIST) was sent to scripts/embed.py, which cannot read its raw files
    assert_one_line_error(run_main("--data", f"{tmp_path / 'data' / 'FashionMNIST'}/", "--out", tmp_path / "out"),
                          f"; {tmp_path / 'data' / 'FashionMNIST'}/ is the FashionMNIST folder of a --path: use --data "
                          f"FashionMNIST --path {tmp_path / 'data'}")


@pytest.mark.parametrize("args,fragment", [
    (["--did", "6", "--model", "resnet"], "only with --model mlp or lin"),
    (["--model", "vgg"], "needs image data"),
    (["--model", "cnn"], "--model cnn is defined for"),
    (["--nStart", "5000"], "larger than the pool"),
    (["--nStart", "1617", "--nEnd", "2000"], "the first batch of 1617 labels the whole pool of 1617 points, leaving "
                                             "none to query; lower --nStart, or --nEnd to 1617"),
    (["--nQuery", "2000", "--nEnd", "2100"], "--nQuery 2000 is larger than the 1517 unlabelled points left after "
                                             "the first batch of 100 (pool of 1617); lower --nQuery"),
    (["--nQuery", "0"], "--nQuery must be positive"),
    (["--nQuery", "-5"], "--nQuery must be positive"),
    (["--nEnd", "50", "--nStart", "100"], "below the first batch (100"),
    (["--lr", "0"], "--lr must be a positive finite number"),
    (["--lr", "nan"], "--lr must be a positive finite number"),
    (["--lr", "inf"], "--lr must be a positive finite number"),
    (["--data", "missing.csv"], "not found"),
    (["--threads", "0"], "--threads must be positive, got 0"),
    (["--threads", "5000"], "--threads 5000 is more than 4096; give at most the machine's cores ("),
    (["--nEmb", "0"], "--nEmb must be positive, got 0"),
    (["--maxEpochs", "-1"], "--maxEpochs must be at least 0 (0 = no limit), got -1"),
    (["--patience", "-3"], "--patience must be at least 0 (0 = no limit), got -3"),
    (["--rounds", "-1"], "--rounds must be at least 0 (0 = no limit), got -1"),
])
def test_bad_values_are_refused_before_any_work(args, fragment, tmp_path, capsys):
    assert run.main([*args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("run.py: error:") and fragment in err[0]
    assert not any(tmp_path.iterdir())  # nothing written


def test_cuda_where_there_is_none(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert_one_line_error(run_main("--device", "cuda", "--out", tmp_path), "no CUDA device")


def test_non_numeric_csv(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("1,2,a\n3,x,b\n5,6,a\n")
    assert_one_line_error(run_main("--data", f, "--out", tmp_path), "column 2 is not numeric")


def test_csv_values_are_plain_numbers():
    import numpy as np

    from results import format_value
    assert [format_value(v) for v in (np.float64(0.5), np.float32(0.25), True, np.bool_(False), np.int64(3), 0.1)] \
        == ["0.5", "0.25", 1, 0, 3, "0.1"]


def test_divergence_in_round_0_says_nothing_was_saved_and_the_rerun_is_told_so(tmp_path, capsys):
    args = ["--seed", "2", "--out", str(tmp_path), *SMALL]
    assert run.main(["--lr", "1e30", *args]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("run.py:")]
    assert len(err) == 1 and err[0].startswith("run.py: training diverged in round 0:"), err
    assert err[0].endswith("no round had finished: start again with --force")
    assert run.main(args) == 2
    assert capsys.readouterr().err.strip() == (
        f"run.py: error: {tmp_path / 'digits_mlp_rand_50_seed2'} holds a run that stopped before its first round "
        f"ended, made with --lr 1e+30 (this command has --lr 0.0001); give that run's flags with --resume to continue "
        f"it, --force to overwrite it, or use another --out")
    assert run.main([*args, "--force"]) == 0


@pytest.mark.parametrize("alg, weight, value, named", [
    ("lpl", "--lplWeight", "1e300", "--lr or --lplWeight"),
    ("waal", "--waalAlpha", "1e300", "--lr, --waalAlpha or --waalPenalty"),
    ("vaal", "--vaalBeta", "1e39", "--lr, --vaalBeta or --vaalAdversary")])
def test_a_divergence_names_the_loss_weights_of_the_strategy_that_trains_beside_the_network(tmp_path, capsys, alg,
                                                                                             weight, value, named):
    """A loss weight far too large diverges as a learning rate does; the message named only --lr. VAAL's weights
    overflow its own modules' loss and leave the classifier's logits finite: that went unnoticed, and the NaN
    discriminator then picked the first pool points."""
    assert run.main(["--alg", alg, weight, value, "--seed", "2", "--out", str(tmp_path), *SMALL]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("run.py:")]
    assert err == [f"run.py: training diverged in round 0: the training loss became NaN or infinite; lower {named} "
                   f"or check the features; no round had finished: start again with --force"]


@pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")
def test_training_that_diverges_later_keeps_the_finished_rounds(tmp_path, monkeypatch, capsys):
    """From round 1 on, the learning rate is raised to 1e30 (a real overflow to an infinite loss in torch)."""
    from dataclasses import replace

    from learner import Learner

    train, calls = Learner.train, []

    def diverging_after_round_0(self, idx, snapshot=None, report=None):
        calls.append(len(idx))
        if len(calls) > 1:
            self.training.engine.setting = replace(self.training.engine.setting, lr=1e30)
        return train(self, idx, snapshot, report)

    monkeypatch.setattr(Learner, "train", diverging_after_round_0)
    code = run.main(["--alg", "conf", "--seed", "2", "--out", str(tmp_path), *SMALL])
    captured = capsys.readouterr()
    assert code == 1 and calls == [50, 100]
    err = [line for line in captured.err.splitlines() if line.startswith("run.py:")]
    assert len(err) == 1 and "training diverged in round 1" in err[0] and "lower --lr" in err[0], captured.err
    rounds = pd.read_csv(tmp_path / "digits_mlp_conf_50_seed2" / "rounds.csv")
    assert rounds["round"].tolist() == [0] and accuracy_lines(captured.out)[0][0] == 50


def test_flags_a_run_ignores_or_cannot_use_are_warned_about(tmp_path):
    """--nEmb is the mlp's width: with lin it was ignored silently, and a large one refused as needing 200 GiB;
    --threads beyond the cores this process may use ran 1,000× slower without a word."""
    small = ["--nStart", "20", "--nQuery", "20", "--nEnd", "40", "--maxEpochs", "5"]
    proc = run_main(*small, "--model", "lin", "--nEmb", "30000000", "--out", tmp_path / "lin")
    assert proc.returncode == 0, proc.stderr
    assert "warning: --nEmb is the mlp's width; --model lin ignores it" in proc.stderr
    given = run_main(*small, "--model", "lin", "--nEmb", "128", "--out", tmp_path / "default").stderr
    assert "warning: --nEmb is the mlp's width; --model lin ignores it" in given  # at its default: said nothing
    assert "--nEmb" not in run_main(*small, "--model", "lin", "--out", tmp_path / "unsaid").stderr
    cores = len(os.sched_getaffinity(0))
    proc = run_main(*small, "--threads", str(cores + 1), "--out", tmp_path / "threads")
    assert proc.returncode == 0 and f"warning: --threads {cores + 1} is more than the {cores} cores" in proc.stderr
    assert "warning: --threads" not in run_main(*small, "--threads", str(cores), "--out", tmp_path / "ok").stderr


def test_a_warning_made_an_error_by_pythonwarnings_is_one_line(tmp_path):
    """Under PYTHONWARNINGS=error (or -W error) a warning of run.py's own is an exception: it was a traceback."""
    cores = len(os.sched_getaffinity(0))
    proc = run_cli("--threads", cores + 1, "--nEnd", "40", "--out", tmp_path, env={"PYTHONWARNINGS": "error"})
    assert_one_line_error(proc, f"run.py: error: --threads {cores + 1} is more than the {cores} cores",
                          "(a warning, made an error by -W or PYTHONWARNINGS: fix its cause or let it warn)")
    assert proc.returncode == 2 and not list(tmp_path.iterdir())


def test_runs_where_the_system_has_no_cpu_affinity(tmp_path, monkeypatch):
    """macOS has no os.sched_getaffinity: every run.py start raised AttributeError on it (the --threads check).
    The cores are then the machine's (os.cpu_count), for that check and its warning."""
    monkeypatch.delattr(os, "sched_getaffinity")
    small = ["--nStart", "20", "--nQuery", "20", "--nEnd", "40", "--maxEpochs", "5"]
    cores = os.cpu_count()
    assert run.usable_cores() == cores
    proc = run_main(*small, "--out", tmp_path / "plain")
    assert proc.returncode == 0 and "--threads" not in proc.stderr, proc.stderr
    proc = run_main(*small, "--threads", str(cores + 1), "--out", tmp_path / "threads")
    assert proc.returncode == 0 and f"warning: --threads {cores + 1} is more than the {cores} cores" in proc.stderr


@pytest.mark.parametrize("script", ["run.py", "scripts/sweep.py", "scripts/agg_results.py"])
def test_a_system_without_fcntl_is_told_to_use_wsl(script):
    """Native Windows has no fcntl (the run folders' locks): each command stopped with an ImportError traceback,
    even for --help. It now says in one line where it runs. fcntl is hidden here as Windows lacks it."""
    hidden = ("import runpy, sys; sys.modules['fcntl'] = None; sys.argv = sys.argv[1:]; "
              "sys.path.insert(0, '.'); runpy.run_path(sys.argv[0], run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", hidden, script, "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    name = os.path.basename(script)
    assert_one_line_error(proc, f"{name}: error: this project runs on Linux and macOS; on Windows, run it under WSL")
    assert proc.returncode == 1 and proc.stdout == ""


def test_an_ascii_locale_runs_prints_and_reads_utf8_files(tmp_path):
    """Under an ASCII locale (LC_ALL=C with PYTHONUTF8=0) run.py stopped with a UnicodeDecodeError traceback as it
    read the kernel's C source, --help with a UnicodeEncodeError (its text has ⌊), and a sweep refused a grid whose
    comment has a σ: files are read and written as UTF-8 whatever the locale, and the terminal gets escapes."""
    env = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "BADGE_CACHE": str(tmp_path / "cache")}
    shown = run_cli("--help", env=env, timeout=120)
    assert shown.returncode == 0 and "\\u230a" in shown.stdout, shown.stderr
    proc = run_cli(*SMALL, "--out", tmp_path / "out", env=env)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    (tmp_path / "grid.toml").write_text("# σ → 0.99\nalgs = [\"rand\"]\nseeds = [1]\nnQuery = 50\n[run]\nnStart = 50\n"
                                        "nEnd = 100\nmaxEpochs = 20\n", encoding="utf-8")
    swept = run_cli("--grid", tmp_path / "grid.toml", "--out", tmp_path / "sweep", script="scripts/sweep.py", env=env)
    assert swept.returncode == 0 and "1 run: 1 ran" in swept.stdout, swept.stderr


def test_a_reader_that_ends_early_stops_the_run_with_its_rounds_saved(tmp_path):
    """`python run.py | head -1`: the print after head had gone was blamed on the files ("a file: Broken pipe; fix
    the cause (disk space, permissions, --out)"). It now says the output's reader ended and what is saved."""
    proc = subprocess.Popen([sys.executable, "run.py", "--alg", "entropy", "--out", str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    proc.stdout.close()  # as head does after its line
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 1 and first.startswith("100\ttesting accuracy")
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(r"run\.py: stopped: the reader of its output ended \(a closed pipe\); \d+ finished rounds "
                        r"saved in .*digits_mlp_entropy_100_seed1; continue with --resume", last), err
    assert "Traceback" not in err and "disk space" not in err
    resumed = run_main("--alg", "entropy", "--out", tmp_path, "--resume")
    assert resumed.returncode == 0 and "done: 15 query rounds" in resumed.stderr


@pytest.mark.parametrize("script", ["run.py", "scripts/sweep.py", "scripts/agg_results.py", "scripts/embed.py",
                                    "bench/run_time.py"])
def test_python_OO_strips_the_docstrings_the_help_is_made_of(script):
    """python -OO (PYTHONOPTIMIZE=2) strips docstrings: each parser split its module's None docstring, and every
    command, --help included, stopped with an AttributeError traceback."""
    proc = subprocess.run([sys.executable, "-OO", script, "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("usage:") and proc.stderr == "", proc.stderr


@pytest.mark.parametrize("fd", [1, 2], ids=["stdout", "stderr"])
def test_a_run_whose_caller_closed_its_output_runs_to_the_end(fd, tmp_path):
    """`run.py >&-` (or `2>&-`): Python starts with no sys.stdout (sys.stderr), and the run stopped after round 0
    with an AttributeError traceback ('NoneType' object has no attribute 'flush'); the sweep, agg_results and
    embed.py did their work, then gave the same traceback."""
    proc = subprocess.run([sys.executable, "run.py", "--nStart", "20", "--nQuery", "20", "--nEnd", "60",
                           "--maxEpochs", "5", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, preexec_fn=lambda: os.close(fd))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "digits_mlp_rand_20_seed1" / "summary.json").read_text())["n_labeled"] == 60
