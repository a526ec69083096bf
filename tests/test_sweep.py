"""scripts/sweep.py: the grid it plans, one-line errors, and tiny real runs on the local backend (skip, resume,
a failed run that does not stop the others) and on a local Ray instance; a sweep killed (SIGKILL) or interrupted
(SIGINT) leaves no process behind and its re-run matches an undisturbed sweep; two sweeps into one --out."""
import json
import multiprocessing as mp
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest

import run
from cli import NO_CUDA, ROOT, assert_one_line_error, run_cli
from ctrl_c import record_bar_finalized
from data_files import SHARED_DATA, write_cifar10, write_mnist_slice, write_svhn
from procs import (caught_mid_run, children, lock_pid, resume_frozen, rows_written, start_cli, wait_for_holder,
                   wait_until_gone)
from scripts import sweep

TINY = ["--nStart", "50", "--nQuery", "50", "--maxEpochs", "50"]


def rounds(out, name):
    return pd.read_csv(out / name / "rounds.csv")


def test_plan_covers_every_combination_seeds_outside_algorithms(tmp_path, capsys, monkeypatch):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    pd.DataFrame(X).assign(label=y).to_csv(tmp_path / "my.csv", index=False)
    monkeypatch.chdir(tmp_path)  # relative paths are taken from where the sweep runs
    code = sweep.main(["--algs", "rand,conf", "--seeds", "1,2", "--data", "digits,my.csv", "--nQuery", "50,100",
                       "--path", "rel/data", "--nEnd", "300", "--out", str(tmp_path / "res"), "--dry-run"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 * 2 * 2 * 2
    assert all(line.startswith("run    python run.py --alg ") for line in lines)
    assert [line.split()[4] for line in lines[:4]] == ["rand", "conf", "rand", "conf"]
    assert [line.split()[6] for line in lines[:4]] == ["1", "1", "2", "2"]
    assert f"--path {Path('rel/data').resolve()}" in lines[0] and "--nEnd 300" in lines[0]
    assert "--data digits " in lines[0] and f"--data {Path('my.csv').resolve()} " in lines[-1]


@pytest.mark.parametrize("argv, message", [
    (["--algs", "rand,nosuch"], "unknown algorithm(s) nosuch; known:"),
    (["--algs", "badeg,nosuch"], "unknown algorithm(s) badeg (did you mean badge or bald?), nosuch; known:"),
    (["--algs", "rand", "--seeds", "1,x"], "--seeds takes comma-separated int values"),
    (["--algs", "rand", "--seed", "3"], "--seed is set by the sweep"),
    (["--algs", "rand", "--force"], "--force: the sweep resumes unfinished runs and skips finished ones itself; to "
                                    "make a run again, move its folder away (or run it by hand with run.py --force)"),
    (["--algs", "rand", "--resume", "--force"], "--force and --resume: the sweep resumes unfinished runs"),
    (["--algs", "rand", "--nStrat", "3"], "unrecognized arguments: --nStrat"),
    (["--algs", "rand", "--nEnd", "many"], "argument --nEnd: invalid int value"),
    (["--algs", "rand", "--seeds", "1,1"], "the lists name the run digits_mlp_rand_100_seed1 twice"),
    (["--algs", "rand", "--data", "a/data.csv,./a/data.csv"], "the lists name the run data_mlp_rand_100_seed1 twice"),
    (["--algs", "rand", "--data", "a/data.csv,b/data.csv"],
     f"--data {Path('a/data.csv').resolve()} and --data {Path('b/data.csv').resolve()} give the same run folder name, "
     "data_mlp_rand_100_seed1; rename a data file, or sweep them into different --out folders"),
    (["--algs", "rand", "--data", "openml6.csv", "--did", "6"],
     f"--data {Path('openml6.csv').resolve()} and --did 6 give the same run folder name, openml6_mlp_rand_100_seed1"),
    (["--algs", "rand", "--workers", "0"], "--workers must be at least 1"),
    (["--algs", "rand", "--cpus-per-run", "0"], "--cpus-per-run must be a positive number of CPUs, got 0"),
    (["--algs", "rand", "--cpus-per-run", "nan"], "--cpus-per-run must be a positive number of CPUs, got nan"),
    (["--algs", "rand", "--did", "6", "--model", "resnet"], "--did (tabular OpenML data) works only with"),
    (["--algs", "rand", "--nStart", "200", "--nEnd", "100"], "--nEnd (100) is below the first batch (200"),
    (["--algs", "rand,badge", "--select-on", "input"], "badge selects on the network's gradients"),
    (["--algs", "rand,coreset", "--nStart", "0"], "--nStart 0: coreset picks the first batch on an embedding"),
    (["--algs", "flqmi,logdetmi", "--smiEta", "2"], "logdetmi needs --smiEta in (0, 1], got 2"),
    (["--algs", "rand", "--data", "digits,Fashion"], "unknown --data 'Fashion': use digits, MNIST, FashionMNIST"),
])
def test_bad_flags_give_one_line_and_exit_2(tmp_path, capsys, argv, message):
    assert sweep.main(argv + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sweep.py: error: ") and message in err[0]
    assert not any(tmp_path.iterdir())


@NO_CUDA
def test_device_cuda_without_one_is_refused_once_before_any_run(tmp_path, capsys):
    """Each run started, then failed with run.py's error: a grid of N runs printed N failures."""
    for dry in ([], ["--dry-run"]):  # a dry run said 'run ...' and exit 0
        assert sweep.main(["--algs", "rand,entropy", "--seeds", "1,2", *TINY, "--device", "cuda", "--out",
                           str(tmp_path), *dry]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == ["sweep.py: error: --device cuda asked for, but no CUDA device is available; use --device cpu"]
        assert not any(tmp_path.iterdir())


def test_missing_data_is_refused_once_before_any_run(tmp_path, capsys):
    """Each run started, then failed with run.py's error: a grid of N runs printed N failures."""
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(b"one of the four")
    out, base = tmp_path / "res", ["--algs", "rand,entropy", "--seeds", "1,2", *TINY, "--path", str(tmp_path / "data")]
    assert sweep.main(base + ["--data", "digits,MNIST", "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"sweep.py: error: {raw / 'train-images-idx3-ubyte.gz'} is missing; put all four MNIST .gz files in {raw} "
        "(see README, 'Data sets')"]
    assert sweep.main(base + ["--data", f"digits,{tmp_path / 'missing.csv'}", "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"sweep.py: error: data file {tmp_path / 'missing.csv'} not found: check the path given to --data"]
    assert not out.exists()


def test_an_imbalance_the_pool_cannot_take_is_refused_once_before_any_run(tmp_path, capsys):
    """Each run loaded its data, then failed with run.py's error: a grid of N runs printed N failures."""
    out, base = tmp_path / "res", ["--algs", "rand,entropy", "--seeds", "1,2", *TINY]
    assert sweep.main(base + ["--imbalance", "1000", "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("sweep.py: error: --imbalance 1000 leaves the rarest class no pool "
                                               "point: the smallest class has "), err
    assert not out.exists()
    assert sweep.main(["--algs", "rand", "--seeds", "1", *TINY, "--nEnd", "50", "--imbalance", "10",
                       "--out", str(out)]) == 0
    assert pd.read_json(out / "digits_mlp_rand_50_seed1" / "config.json", typ="series").imbalance == 10


def test_a_path_that_is_a_file_is_refused_once_before_any_run(tmp_path, capsys):
    """dataset.load's check, made by the runs only: each failed with it (its download attempt first, offline)."""
    (tmp_path / "letter.csv").write_text("a,b,label\n1,2,x\n")
    out = tmp_path / "res"
    argv = ["--algs", "rand", "--seeds", "1,2", *TINY, "--data", "MNIST", "--path", str(tmp_path / "letter.csv")]
    assert sweep.main(argv + ["--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"sweep.py: error: --path {tmp_path / 'letter.csv'} is a file, not a folder; give the folder that holds the "
        "data (see README, 'Data sets')"]
    assert not out.exists()


def broken_csv(folder):
    """A data file that exists but that no run can read (no label column): each of its runs fails."""
    path = folder / "broken.csv"
    path.write_text("x\n")
    return path


def test_the_sweep_bar_is_finalized_with_ctrl_c_held_before_the_summary(tmp_path, monkeypatch, capsys):
    """The sweep's progress bar is deleted, with Ctrl-C held (run.interrupt_held), before its summary line. It was
    deleted as main returned: a Ctrl-C landing in its __del__ was printed by Python and lost."""
    events = []
    record_bar_finalized(monkeypatch, events, "sweep")
    monkeypatch.setattr(sweep, "print", lambda *a, **k: events.append(("printed",)) or print(*a, **k), raising=False)
    assert sweep.main(["--algs", "rand", "--seeds", "1", *TINY, "--nEnd", "50", "--out", str(tmp_path)]) == 0
    assert events == [("bar deleted", True), ("printed",)]
    assert capsys.readouterr().out.startswith("1 run: 1 ran, 0 skipped")


def test_ctrl_c_as_the_sweep_reports_says_its_runs_had_ended(tmp_path, monkeypatch, capsys):
    """A Ctrl-C while the summary is printed, once every run has ended: one line and exit 130. It escaped main as
    a KeyboardInterrupt (a traceback from the command)."""
    def interrupted(*args, **kwargs):
        if str(args[0]).startswith("1 run:"):
            raise KeyboardInterrupt
        print(*args, **kwargs)

    monkeypatch.setattr(sweep, "print", interrupted, raising=False)
    try:
        code = sweep.main(["--algs", "rand", "--seeds", "1", *TINY, "--nEnd", "50", "--out", str(tmp_path)])
    except KeyboardInterrupt:
        pytest.fail("the Ctrl-C escaped sweep.main")
    assert code == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        "sweep.py: interrupted as the sweep ended; its runs had all ended (run the same command again for the "
        "summary: it skips finished runs)")
    assert (tmp_path / "digits_mlp_rand_50_seed1" / "summary.json").is_file()


@pytest.mark.slow
def test_local_backend_skips_resumes_and_reports_failures(tmp_path, capsys):
    out = tmp_path / "res"
    base = ["--algs", "rand", "--seeds", "1,2", *TINY, "--out", str(out), "--workers", "2"]
    assert sweep.main(base + ["--data", "digits", "--nEnd", "50"]) == 0  # round 0 only
    names = [f"digits_mlp_rand_50_seed{s}" for s in (1, 2)]
    assert all((out / n / "summary.json").is_file() for n in names)
    (out / names[1] / "summary.json").unlink()  # seed 2 now looks killed after round 0; seed 1 is finished
    first = {n: rounds(out, n) for n in names}
    capsys.readouterr()

    # a larger budget: both continue (seed 1 from its finished run, seed 2 from its partial one), a data file no
    # run can read fails for both seeds without stopping them
    code = sweep.main(base + ["--data", f"digits,{broken_csv(tmp_path)}", "--nEnd", "100"])
    captured = capsys.readouterr()
    assert code == 1
    for n in names:
        assert json.loads((out / n / "summary.json").read_text())["n_labeled"] == 100
        assert rounds(out, n).n_labeled.tolist() == [50, 100]
        assert rounds(out, n).iloc[0].equals(first[n].iloc[0])  # round 0 as trained before, not again
        log = (out / "logs" / f"{n}.log").read_text()
        assert "resuming" in log and "\nwarning: training stopped after 50 epochs at the epoch cap" in log
        assert "warnings.warn(" not in log and "UserWarning" not in log
    failed = [ln for ln in captured.err.splitlines() if ln.startswith("FAILED")]
    assert len(failed) == 2 and all("broken_mlp_rand_50_seed" in ln and "(exit 2): run.py: error: " in ln
                                    and "needs at least one feature column" in ln for ln in failed)
    assert "4 runs: 2 ran, 0 skipped (finished before), 2 failed" in captured.out
    assert captured.err.count("failed: broken_mlp_rand_50_seed") == 2

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.csv")}
    assert sweep.main(base + ["--data", "digits", "--nEnd", "100"]) == 0
    assert "2 runs: 0 ran, 2 skipped (finished before), 0 failed" in capsys.readouterr().out
    assert stamps == {p: p.stat().st_mtime_ns for p in out.rglob("*.csv")}


def task_spans(ray, n):
    """(start, end) in µs of the run_job tasks in Ray's timeline, sorted, once it holds `n` of them (a task's
    events reach Ray's control store within seconds of its end) or after 30 s."""
    deadline = time.monotonic() + 30
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            events = [e for e in ray.timeline() if e.get("cat") == "task::run_job"]
        if len(events) >= n or time.monotonic() > deadline:
            return sorted((e["ts"], e["ts"] + e["dur"]) for e in events)


@pytest.mark.slow
def test_ray_backend_on_a_local_instance(tmp_path, capsys, ray_alone):
    """--workers 1 ran every task at once as well (as many as the 2 CPUs held)."""
    ray = pytest.importorskip("ray")
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        started = time.perf_counter()
        code = sweep.main(["--algs", "rand,entropy", "--seeds", "1", "--data", f"digits,{broken_csv(tmp_path)}",
                           *TINY, "--nEnd", "100", "--out", str(tmp_path), "--backend", "ray", "--workers", "1"])
        done = time.perf_counter()
        spans = task_spans(ray, 4)
        captured = capsys.readouterr()
        assert sweep.main(["--algs", "rand", "--seeds", "2", *TINY, "--out", str(tmp_path), "--backend", "ray",
                           "--cpus-per-run", "3"]) == 2  # a task Ray could never place: it waited for ever
        assert capsys.readouterr().err == ("sweep.py: error: --cpus-per-run 3: no node of the Ray cluster has that "
                                           "many CPUs (the largest has 2); lower it\n")
    finally:
        ray.shutdown()
    assert code == 1
    for alg in ("rand", "entropy"):
        assert json.loads((tmp_path / f"digits_mlp_{alg}_50_seed1" / "summary.json").read_text())["n_labeled"] == 100
        assert "100\ttesting accuracy" in (tmp_path / "logs" / f"digits_mlp_{alg}_50_seed1.log").read_text()
    assert len(spans) == 4 and all(end <= start for (_, end), (start, _) in zip(spans, spans[1:]))  # --workers 1
    assert "FAILED broken_mlp_rand_50_seed1 (exit 2): run.py: error: " in captured.err
    with capsys.disabled():
        print(f"\nray.init {started - start:.1f} s, sweep of 2 tiny runs + 2 failures {done - started:.1f} s")


def test_a_gpu_run_that_no_node_could_place_is_refused_not_waited_for(tmp_path, capsys, ray_alone):
    """On a cluster with GPUs each task asks for one GPU and --cpus-per-run CPUs, but their count was checked only
    on a cluster without GPUs: Ray waited for ever for a node with both."""
    ray = pytest.importorskip("ray")

    def waited(signum, frame):
        raise KeyboardInterrupt  # what stops ray.wait: the sweep then ends with 130
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)  # a declared GPU, no CUDA
    previous = signal.signal(signal.SIGALRM, waited)
    signal.alarm(60)
    try:
        assert sweep.main(["--algs", "rand", "--seeds", "1", *TINY, "--nEnd", "50", "--out", str(tmp_path),
                           "--backend", "ray", "--cpus-per-run", "3"]) == 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        ray.shutdown()
    err = capsys.readouterr().err.splitlines()  # (Ray's logger may also complain of an earlier test's closed stderr)
    assert err[-1] == ("sweep.py: error: --cpus-per-run 3: no node of the Ray cluster with a GPU has that many CPUs "
                       "(the largest has 2); lower it"), err
    assert not (tmp_path / "digits_mlp_rand_50_seed1").exists()


GRID = '''# a sweep that can be kept beside its results
algs = ["rand", "BADGE"]
seeds = [1, 2]
nQuery = [50]
out = "{out}"

[run]
nStart = 50
nEnd = 150
maxEpochs = 20
path = "rel/data"
'''


def test_grid_file_plans_the_same_runs_as_the_flags(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID.format(out=tmp_path / "res"))
    assert sweep.main(["--grid", str(grid), "--dry-run"]) == 0
    from_file = capsys.readouterr().out
    flags = ["--algs", "rand,badge", "--seeds", "1,2", "--nQuery", "50", "--out", str(tmp_path / "res"),
             "--nStart", "50", "--nEnd", "150", "--maxEpochs", "20", "--path", "rel/data", "--dry-run"]
    assert sweep.main(flags) == 0
    assert from_file == capsys.readouterr().out and len(from_file.splitlines()) == 4
    assert sweep.main(["--grid", str(grid), "--seeds", "7", "--nEnd", "100", "--dry-run"]) == 0  # flags win
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("--seed 7 " in ln and ln.endswith(f"--nEnd 100 --out {tmp_path / 'res'}")
                                   and ln.count("--nEnd") == 1 and "--nStart 50 --maxEpochs 20 --path" in ln
                                   for ln in lines)  # the grid's --nEnd 150 replaced, its other flags kept


@pytest.mark.parametrize("flags, data", [
    (["--data", "FashionMNIST"], "--data FashionMNIST"),  # the grid's --did 6 ran beside it
    (["--did", "6"], "--did 6"),  # the grid's MNIST ran beside it
    (["--data=digits"], "--data digits"),
])
def test_the_data_sets_of_the_command_line_replace_the_grid_s(tmp_path, capsys, flags, data):
    """--data and --did name the data sets together: either on the command line replaces both of the grid's, as
    --seeds replaces its seeds (they were added to the grid's data sets, into the grid's --out)."""
    grid = tmp_path / "grid.toml"
    grid.write_text(f"algs = ['rand']\nseeds = [1]\ndata = ['MNIST']\ndid = [6]\nout = '{tmp_path / 'res'}'\n")
    assert sweep.main(["--grid", str(grid), *flags, "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and f"--nQuery 100 {data} --out" in lines[0], lines


@pytest.mark.parametrize("text, message", [
    ("algs = [rand", "cannot be read as TOML"),
    ("algs = ['rand']\nseed = [1]", "unknown key(s) seed"),
    ("algs = ['rand']\n[run]\nnEnd = [100, 200]", "[run] nEnd must be one value"),
    ("algs = ['rand']\n[run]\nnEnd = 'lots'", "{grid}: [run] argument --nEnd: invalid int value: 'lots'"),
    ("algs = ['rand']\n[run]\naug = true", "{grid}: [run] aug = true: --aug is not a switch of run.py; give it a "
                                          "value (a flag of 0 or 1 takes aug = 1)"),
    ("algs = ['rand']\n[run]\nnStrat = 3", "{grid}: [run] unrecognized arguments: --nStrat 3"),
    ("algs = ['rand']\nworkers = 'two'", "{grid}: argument --workers: invalid int value: 'two'"),
    ("seeds = [1]", "--algs is required"),
])
def test_bad_grid_files_give_one_line_and_exit_2(tmp_path, capsys, text, message):
    grid = tmp_path / "grid.toml"
    grid.write_text(text)
    assert sweep.main(["--grid", str(grid), "--out", str(tmp_path / "res"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    message = message.format(grid=f"--grid {grid}")
    assert len(err) == 1 and err[0].startswith("sweep.py: error: ") and message in err[0], err


@pytest.mark.parametrize("flags, grid, message", [
    ([], "backend = 'Ray'", "{grid}: backend = 'Ray' is not one of local, ray; did you mean ray?"),  # ran locally
    ([], "backend = 'slurm'", "{grid}: backend = 'slurm' is not one of local, ray"),
    (["--backend", "local"], "backend = 'slurm'", ""),  # the command line wins over the file
    ([], "cpus-per-run = 8", "--cpus-per-run needs --backend ray"),  # ignored by the local backend
    (["--cpus-per-run", "8"], "", "--cpus-per-run needs --backend ray"),
    ([], "data = []", "{grid}: data = [] has no value or an empty one"),  # the default data set
    ([], "seeds = [1, '']", "{grid}: seeds = [1, ''] has no value or an empty one"),
    (["--seeds", "1,,2"], "", "--seeds '1,,2' has an empty item"),  # seeds 1 and 2
    ([], "[run]\nnEnd = false", "{grid}: [run] nEnd = false: --nEnd is not a switch of run.py"),  # the default nEnd
    ([], "workers = [2]", "{grid}: workers = [2] takes one value (lists go to algs, seeds, data, did, model, "
                          "nQuery)"),  # ran as 2; an out list became one folder named with a comma
    ([], "seeds = [[1, 2]]", "{grid}: seeds = [[1, 2]] holds a list or table; give a list of plain values"),
    # a flag the sweep sets, in [run]: 'error: --out is set by the sweep; use ... --out', naming no file
    ([], "[run]\nout = 'x'", "{grid}: [run] out: the sweep sets --out of each run; give it at the top level, before "
                             "[run], as out = ..."),
    ([], "[run]\nnQuery = 20", "{grid}: [run] nQuery: the sweep sets --nQuery of each run; give it at the top level, "
                               "before [run], as nQuery = ..."),
    ([], "[run]\nseed = 3", "{grid}: [run] seed: the sweep sets --seed of each run; give it at the top level, before "
                            "[run], as seeds = ..."),
    ([], "[run]\nresume = true", "{grid}: [run] resume: the sweep sets --resume of each run; the sweep resumes "
                                 "unfinished runs and skips finished ones itself; leave the key out"),
    # a float, a bool: '--seeds takes comma-separated int values, got ...', naming no file
    ([], "seeds = [1.5]", "{grid}: seeds takes integers, not 1.5"),
    ([], "seeds = [true]", "{grid}: seeds takes integers, not True"),
    # an item with a comma was read as two (two models; a file a,b.csv as files a and b.csv)
    ([], "model = ['mlp,lin']", "{grid}: model item 'mlp,lin' holds a comma, which separates the sweep's values; "
                                "give each value as its own list item"),
    ([], "data = ['a,b.csv']", "{grid}: data item 'a,b.csv' holds a comma, which separates the sweep's values; "
                               "rename the file"),
    # 'unrecognized arguments: --workers 2'
    ([], "[run]\nworkers = 2", "{grid}: [run] workers is the sweep's own option; give it at the top level, before "
                               "[run]"),
])
def test_grid_values_and_lists_the_sweep_would_not_use_as_written_are_refused(tmp_path, flags, grid, message):
    """Each of these ran a sweep other than the one written (the run named after it: what it did), with no word."""
    path = tmp_path / "grid.toml"
    path.write_text(f"algs = ['rand']\nout = '{tmp_path / 'res'}'\n{grid}\n")
    proc = run_cli("--grid", path, *flags, "--dry-run", script="scripts/sweep.py")
    if message:
        assert_one_line_error(proc, "sweep.py: error: " + message.format(grid=f"--grid {path}"))
    else:
        assert proc.returncode == 0 and proc.stdout.startswith("run    python run.py --alg rand"), proc.stderr


def test_a_grid_s_paths_starting_with_a_tilde_name_the_home_folder(tmp_path):
    """No shell expands a TOML file's paths: `out = '~/res'` made a folder named ~ in the current one."""
    home = tmp_path / "home"
    home.mkdir()
    grid = tmp_path / "grid.toml"
    grid.write_text("algs = ['rand']\nseeds = [1]\nout = '~/res'\n[run]\npath = '~/data'\n")
    proc = run_cli("--grid", grid, "--dry-run", script="scripts/sweep.py", env={"HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    assert f"--path {home / 'data'} --out {home / 'res'}" in proc.stdout, proc.stdout


def test_printed_commands_are_quoted_as_a_shell_reads_them(tmp_path, capsys):
    """A path with a space was printed bare: pasting the dry run's line or the log's header ran another command.
    A file whose name holds a comma is refused in one line (it was taken for two data sets)."""
    table = tmp_path / "my data" / "t.csv"
    table.parent.mkdir()
    table.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    out = tmp_path / "out dir"
    assert sweep.main(["--algs", "rand", "--seeds", "1", "--nStart", "10", "--nQuery", "10", "--nEnd", "20",
                       "--data", str(table), "--out", str(out), "--dry-run"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert shlex.split(line)[1:] == ["python", "run.py", "--alg", "rand", "--seed", "1", "--model", "mlp", "--nQuery",
                                     "10", "--data", str(table), "--nStart", "10", "--nEnd", "20", "--out", str(out)]
    comma = tmp_path / "a,b.csv"
    comma.write_text(table.read_text())
    assert sweep.main(["--algs", "rand", "--data", str(comma), "--out", str(out), "--dry-run"]) == 2
    assert capsys.readouterr().err.strip() == (f"sweep.py: error: --data {str(comma)!r}: a comma separates the "
                                               f"sweep's data sets, and this file's name holds one; rename the file")


def test_a_switch_set_false_in_a_grid_is_left_out(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(f"algs = ['rand']\nseeds = [1]\nout = '{tmp_path / 'res'}'\n[run]\nnEnd = 300\nforce = false\n")
    assert sweep.main(["--grid", str(grid), "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("run    python run.py --alg rand --seed 1 --model mlp --nQuery 100 "
                                              f"--nEnd 300 --out {tmp_path / 'res'}\n")


@pytest.mark.parametrize("flags, warnings", [
    (["--algs", "rand", "--seeds", "1,2", "--nStart", "20", "--nQuery", "20", "--nEnd", "40", "--nEmb", "64",
      "--model", "lin"], ["--nEmb is the mlp's width; --model lin ignores it"]),
    (["--algs", "rand,marg", "--seeds", "1,2", "--select-on", "input", "--dry-run"],
     ["rand draws its picks uniformly at random whatever it says",
      "marg takes the network's outputs whatever it says"]),
    # another strategy's flag: said only for a strategy with parameters of its own (powermargin), or at run.py's
    # default, --kernelSigma auto, not at all
    (["--algs", "rand,powermargin", "--seeds", "1,2", "--kmFactor", "3", "--dry-run"],
     ["--kmFactor is a flag of cluster_margin, not of rand", "--kmFactor is a flag of cluster_margin, not of "
                                                             "powermargin"]),
    (["--algs", "probcover", "--seeds", "1,2", "--kernelSigma", "auto", "--dry-run"],
     ["--kernelSigma is a flag of uherding, not of probcover"]),
])
def test_run_py_s_warnings_are_one_line_each_once(tmp_path, flags, warnings):
    """As run.py shows them (`warning: ...`), each once for the whole sweep: they were Python's two lines (the
    sweep's file and line, then its source), once more from each run's worker."""
    proc = run_cli(*flags, "--out", tmp_path, script="scripts/sweep.py", timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.replace("\r", "\n").splitlines() if "warning" in ln.lower()]
    assert len(lines) == len(warnings) and all(ln.startswith("warning: ") and w in ln
                                               for ln, w in zip(lines, warnings)), proc.stderr


def test_missing_grid_file(tmp_path, capsys):
    assert sweep.main(["--grid", str(tmp_path / "none.toml")]) == 2
    assert "cannot be read as TOML" in capsys.readouterr().err


# ---------------------------------------------------------------- stopping a sweep, two sweeps on one --out

STOP_GRID = ["--algs", "rand", "--seeds", "1,2", "--nStart", "50", "--nQuery", "50", "--nEnd", "400",
             "--maxEpochs", "20", "--workers", "1"]
NAMES = ["digits_mlp_rand_50_seed1", "digits_mlp_rand_50_seed2"]


def outcome(folder):
    """What a run decided: its rounds without the timings, its queries and its summary (without the run id, which
    names the run folder's own start)."""
    rows = rounds(folder.parent, folder.name)
    summary = json.loads((folder / "summary.json").read_text())
    return (rows[[c for c in rows.columns if not c.endswith("_seconds")]], (folder / "queries.csv").read_text(),
            {k: v for k, v in summary.items() if k != "run_id"})


def assert_same_outcome(folder, reference):
    mine, ref = outcome(folder), outcome(reference)
    pd.testing.assert_frame_equal(mine[0], ref[0])
    assert mine[1:] == ref[1:]


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory):
    out = tmp_path_factory.mktemp("undisturbed")
    assert sweep.main([*STOP_GRID, "--out", str(out)]) == 0
    return out


def sweep_caught_mid_run(out, *grid, rows=0):
    """(sweep, worker): a sweep of `grid` into `out` whose worker running the first run is caught (frozen, see
    procs.caught_mid_run) once that run has `rows` rows, before it ends and before the second run starts."""
    folder = out / NAMES[0]

    def start(_):
        shutil.rmtree(out, ignore_errors=True)
        return start_cli(*grid, "--out", out, script="scripts/sweep.py")

    def worker(sweep):
        pid = lock_pid(folder)
        return pid if pid in children(sweep.pid) and rows_written(folder) >= rows else None

    return caught_mid_run(start, worker, lambda: not (folder / "summary.json").exists() and
                          not (out / NAMES[1]).exists())


def test_a_worker_whose_sweep_is_gone_interrupts_itself_where_the_kernel_cannot_kill_it(tmp_path):
    """macOS has no PR_SET_PDEATHSIG: a worker whose sweep was killed ran on for hours, holding its run's lock (a
    restarted sweep reported the run busy). watch_parent interrupts it (SIGINT, as a Ctrl-C) once its parent is
    gone; here a process that starts it and exits stands for the sweep."""
    ready, interrupted = tmp_path / "ready", tmp_path / "interrupted"
    (tmp_path / "worker.py").write_text(
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from scripts.sweep import watch_parent\n"
        "watch_parent(os.getppid(), every=0.05)\n"
        f"open({str(ready)!r}, 'w').close()\n"
        "try:\n"
        "    time.sleep(120)\n"
        "except KeyboardInterrupt:\n"
        f"    open({str(interrupted)!r}, 'w').close()\n")
    sweep_stand_in = ("import os, subprocess, sys, time\n"
                      f"subprocess.Popen([sys.executable, {str(tmp_path / 'worker.py')!r}])\n"
                      "deadline = time.monotonic() + 120\n"
                      f"while not os.path.exists({str(ready)!r}) and time.monotonic() < deadline: time.sleep(0.05)")
    subprocess.run([sys.executable, "-c", sweep_stand_in], timeout=180, check=True)
    assert ready.exists()
    deadline = time.monotonic() + 10
    while not interrupted.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert interrupted.exists()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGKILL", "SIGINT", "SIGTERM", "SIGHUP"])
def test_a_stopped_sweep_leaves_no_process_behind_and_its_rerun_matches_an_undisturbed_one(undisturbed, tmp_path,
                                                                                          sig):
    out = tmp_path / "out"
    proc, worker = sweep_caught_mid_run(out, *STOP_GRID, rows=2)
    try:
        helpers = children(proc.pid)  # the worker and multiprocessing's resource tracker
        stopped = time.monotonic()
        os.kill(proc.pid, sig)
        if sig == signal.SIGKILL:  # the kernel kills the worker (PR_SET_PDEATHSIG) once the sweep has exited, which
            proc.wait(timeout=30)  # can take a second under load: a worker resumed before could finish its run
        resume_frozen(worker)
        proc.wait(timeout=30)
        assert wait_until_gone(helpers) == [] and time.monotonic() - stopped < 10
    finally:
        proc.kill()
    if sig != signal.SIGKILL:  # SIGTERM (`kill`) was multiprocessing's warning of a leaked semaphore, no line
        code, line = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "terminated"),
                      signal.SIGHUP: (129, "hung up")}[sig]
        err = proc.stderr.read()
        assert proc.returncode == code and f"sweep.py: {line}; run the same command again" in err
        assert "leaked" not in err and "Traceback" not in err, err
        log = (out / "logs" / f"{NAMES[0]}.log").read_text()
        assert "run.py: interrupted; " in log and "continue with --resume" in log
    assert worker in helpers and not (out / NAMES[1]).exists()  # the queued run never started

    assert sweep.main([*STOP_GRID, "--out", str(out)]) == 0
    log = (out / "logs" / f"{NAMES[0]}.log").read_text()
    headers = [line for line in log.split("\n") if "python run.py --" in line]
    assert "resuming" in log and len(headers) == 2 and all(line.startswith("# ") for line in headers)  # own line
    for name in NAMES:
        assert_same_outcome(out / name, undisturbed / name)


def test_two_sweeps_into_one_out_never_write_the_same_run_folder(undisturbed, tmp_path, capsys):
    out, grid = tmp_path / "out", [*STOP_GRID[:2], "--seeds", "1", *STOP_GRID[4:]]
    first, worker = sweep_caught_mid_run(out, *grid)
    try:
        try:
            code = sweep.main([*grid, "--out", str(out)])
        finally:
            resume_frozen(worker)
        assert first.wait(timeout=300) == 0
    finally:
        first.kill()
    assert code == 0
    out_text, err = capsys.readouterr()
    assert f"BUSY {NAMES[0]}: another process (pid {worker}) is running it; left to it" in err
    assert "1 run: 0 ran, 0 skipped (finished before), 1 left to other processes running them, 0 failed" in out_text
    assert "FAILED" not in err
    assert_same_outcome(out / NAMES[0], undisturbed / NAMES[0])


def test_each_run_is_planned_again_when_it_starts(undisturbed, tmp_path):
    """Planned on an empty --out, then another process finishes the first run and starts the second before the
    sweep reaches them: the first is skipped, the second resumed, and it ends as an undisturbed run."""
    out = tmp_path / "out"
    jobs = sweep.plan(*sweep.parse_args([*STOP_GRID, "--out", str(out)]))
    assert [j.action for j in jobs] == ["run", "run"]
    shutil.copytree(undisturbed / NAMES[0], out / NAMES[0])
    assert run.main([*jobs[1].argv, "--rounds", "2"]) == 0
    assert sweep.replan(jobs[1].argv)[:2] == ("resume", [*jobs[1].argv, "--resume"])
    assert sweep.run_job(jobs[0].argv, jobs[0].log) == ("skip", 0, "")
    assert sweep.run_job(jobs[1].argv, jobs[1].log) == ("ran", 0, "")
    assert "resuming" in Path(jobs[1].log).read_text()
    assert_same_outcome(out / NAMES[1], undisturbed / NAMES[1])


def test_a_run_finished_between_its_replan_and_its_start_is_skipped(undisturbed, tmp_path, monkeypatch):
    """The race of two sweeps into one --out: replan finds the folder empty, another process then runs the run to
    its end before run.py starts, and run.py refuses the filled folder; the job is planned once more and skipped,
    not reported as failed."""
    out = tmp_path / "out"
    job = sweep.plan(*sweep.parse_args([*STOP_GRID, "--out", str(out)]))[0]
    real_replan, calls = sweep.replan, []

    def stale_then_real(argv):
        calls.append(argv)
        if len(calls) == 1:
            shutil.copytree(undisturbed / NAMES[0], out / NAMES[0])  # the other sweep's finished run
            return "run", argv, ""
        return real_replan(argv)

    monkeypatch.setattr(sweep, "replan", stale_then_real)
    assert sweep.run_job(job.argv, job.log) == ("skip", 0, "")
    assert len(calls) == 2
    assert "already holds results" in Path(job.log).read_text()
    assert_same_outcome(out / NAMES[0], undisturbed / NAMES[0])


def test_a_worker_that_ends_without_sending_its_result_is_reported_not_raised(tmp_path):
    """A worker that died before it sent its result leaves a pipe at its end (poll() is true, recv() raises
    EOFError, which stopped the whole sweep); a worker killed by a signal other than SIGKILL is no memory
    suspect."""
    log = tmp_path / "run.log"
    log.write_text("# header\nrun.py: error: something\n")
    receive, send = mp.Pipe(duplex=False)
    send.close()
    with receive:
        assert sweep.worker_outcome(1, receive, str(log)) == ("ran", 1, "run.py: error: something")
    receive, send = mp.Pipe(duplex=False)
    with receive, send:
        assert sweep.worker_outcome(-signal.SIGTERM, receive, str(log)) == (
            "ran", 1, "its worker process was killed by SIGTERM")
        assert sweep.worker_outcome(-signal.SIGKILL, receive, str(log))[2].endswith("SIGKILL (out of memory?)")
        assert sweep.worker_outcome(3, receive, str(tmp_path / "no.log")) == ("ran", 3, "(no output)")


def test_a_run_whose_log_cannot_be_opened_fails_alone(tmp_path, capsys):
    """A planted link (or FIFO, or folder) in place of one run's log: that run fails naming it, the others run,
    and nothing is written through the link (the worker's StateError stopped the whole sweep with a traceback)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "out" / "logs").mkdir(parents=True)
    (tmp_path / "out" / "logs" / "digits_mlp_rand_50_seed1.log").symlink_to(victim)
    assert sweep.main(["--algs", "rand", "--seeds", "1,2", *TINY, "--nEnd", "50", "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and victim.read_text() == "precious\n"
    assert "FAILED digits_mlp_rand_50_seed1 (exit 2): " in captured.err
    assert "digits_mlp_rand_50_seed1.log is a symbolic link, which a run never follows; remove it" in captured.err
    assert (tmp_path / "out" / "digits_mlp_rand_50_seed2" / "summary.json").is_file()
    assert "2 runs: 1 ran, 0 skipped (finished before), 1 failed" in captured.out


def test_a_planted_link_for_a_run_folder_or_the_logs_is_refused_and_nothing_lands_where_it_points(tmp_path, capsys):
    """A run folder or OUT/logs that is a symbolic link made the sweep run (or reuse) the run wherever it
    pointed."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    (elsewhere / "run").mkdir(parents=True)
    (elsewhere / "logs").mkdir()
    out.mkdir()
    (out / "digits_mlp_rand_50_seed1").symlink_to(elsewhere / "run")
    flags = ["--algs", "rand", "--seeds", "1", *TINY, "--nEnd", "50", "--out", str(out)]
    assert sweep.main(flags) == 1
    assert (f"REFUSED digits_mlp_rand_50_seed1: {out / 'digits_mlp_rand_50_seed1'} is a symbolic link, which a run "
            f"never follows; remove it") in capsys.readouterr().err
    (out / "digits_mlp_rand_50_seed1").unlink()
    shutil.rmtree(out / "logs")
    (out / "logs").symlink_to(elsewhere / "logs")
    assert sweep.main(flags) == 2
    assert capsys.readouterr().err == (f"sweep.py: error: {out / 'logs'} is a symbolic link, which a sweep never "
                                       f"follows; remove it\n")
    assert not any((elsewhere / "run").iterdir()) and not any((elsewhere / "logs").iterdir())
    assert sorted(p.name for p in out.iterdir()) == ["logs"]


@pytest.mark.parametrize("changes, message", [
    ({"alg": ["rand"]}, "config.json names no strategy (alg), which run.py always records"),
    ({"nQuery": {"n": 50}}, "config.json: nQuery is not a plain value"),
])
def test_a_config_json_with_values_run_py_never_writes_is_refused_not_a_crash(tmp_path, capsys, changes, message):
    """Planning compared such a config.json's flags and stopped the whole sweep with a TypeError traceback."""
    flags = ["--algs", "rand", "--seeds", "1,2", *TINY, "--nEnd", "50", "--out", str(tmp_path)]
    assert sweep.main(flags) == 0
    config = tmp_path / "digits_mlp_rand_50_seed1" / "config.json"
    config.write_text(json.dumps(dict(json.loads(config.read_text()), **changes)))
    capsys.readouterr()
    assert sweep.main([*flags[:-3], "100", *flags[-2:]]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and f"REFUSED digits_mlp_rand_50_seed1: {tmp_path}" in captured.err
    assert message in captured.err and "2 runs: 1 ran" in captured.out


def test_a_summary_that_says_the_pool_ran_out_is_checked_against_the_data_not_config_json(tmp_path, capsys):
    """config.json's n_pool is outside the run's identity hash: lowered to agree with a forged 'pool exhausted'
    summary, it made the sweep skip an unfinished run as finished."""
    flags = ["--algs", "rand", "--seeds", "1", *TINY, "--nEnd", "100", "--out", str(tmp_path)]
    assert sweep.main(flags) == 0
    folder = tmp_path / "digits_mlp_rand_50_seed1"
    for name, changes in (("config.json", {"n_pool": 120}), ("summary.json", {"stopped_by": "pool exhausted"})):
        (folder / name).write_text(json.dumps(dict(json.loads((folder / name).read_text()), **changes)))
    capsys.readouterr()
    assert sweep.main([*flags[:-3], "150", *flags[-2:]]) == 1
    captured = capsys.readouterr()
    assert "0 skipped" in captured.out and "FAILED digits_mlp_rand_50_seed1 (exit 2): run.py: error: " in captured.err
    assert "summary.json disagrees with the run's other files on stopped_by" in captured.err


@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_while_a_worker_starts_stops_the_sweep_without_a_traceback(tmp_path, attempt):
    """The sweep's SIGINT reached a worker still importing (before worker_main), which printed a
    KeyboardInterrupt traceback, or came while the sweep wrote a worker's work, which then read none (about half
    of such interrupts did one or the other)."""
    proc = start_cli("--algs", "rand", "--seeds", "1,2", *TINY, "--nEnd", "500", "--workers", "2",
                     "--out", tmp_path, script="scripts/sweep.py")
    try:
        deadline = time.monotonic() + 120
        while not any(b"spawn_main" in command_line(pid) for pid in children(proc.pid)):
            assert time.monotonic() < deadline, "no worker started"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
    err = proc.stderr.read()
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "sweep.py: interrupted" in err


def command_line(pid):
    """The bytes of /proc/<pid>/cmdline (empty when the process is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_an_empty_out_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sweep.main(["--algs", "rand", "--out", " "]) == 2
    assert capsys.readouterr().err.strip() == ("sweep.py: error: --out is empty; name a results folder, "
                                               "e.g. --out results")
    assert not any(tmp_path.iterdir())


def test_ctrl_c_of_a_ray_sweep_cancels_its_running_task(tmp_path, ray_alone):
    pytest.importorskip("ray")
    out = tmp_path / "out"
    proc = start_cli("--algs", "rand", "--seeds", "1", "--did", "6", "--path", SHARED_DATA, "--nEnd", "10000",
                     "--out", out, "--backend", "ray", script="scripts/sweep.py")  # minutes of training: mid-run
    folder = out / "openml6_mlp_rand_100_seed1"
    try:
        task = wait_for_holder(folder, lambda pid: pid != proc.pid, timeout=300)  # the Ray worker running the run
        stopped = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130
        assert wait_until_gone([task], timeout=60) == [] and time.monotonic() - stopped < 60
    finally:
        proc.kill()
    assert not (folder / "summary.json").exists()  # stopped mid-run, resumable


# ---------------------------------------------------------------- reusing only runs made with the same settings

def test_a_run_made_with_other_settings_is_refused_not_skipped(tmp_path, capsys):
    import run
    out = tmp_path / "res"
    by_hand = ["--alg", "rand", "--seed", "1", "--nQuery", "50", "--nEnd", "50", "--maxEpochs", "5",
               "--out", str(out)]
    assert run.main(by_hand + ["--nStart", "50", "--lr", "1e-3"]) == 0
    folder = out / "digits_mlp_rand_50_seed1"
    stamps = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    capsys.readouterr()
    grid = ["--algs", "rand", "--seeds", "1", "--nQuery", "50", "--nEnd", "50", "--maxEpochs", "5", "--out", str(out)]
    assert sweep.main(grid + ["--nStart", "0"]) == 1  # a cold start: the first batch is --nQuery 50, all of --nEnd
    captured = capsys.readouterr()
    refused = [ln for ln in captured.err.splitlines() if ln.startswith("REFUSED")]
    assert refused == [f"REFUSED digits_mlp_rand_50_seed1: {folder} was made with --nStart 50 --lr 0.001, the sweep "
                       f"would run --nStart 0 --lr 0.0001; not reused: run the sweep with those flags, move the "
                       f"folder away or use another --out"]
    assert ("1 run: 0 ran, 0 skipped (finished before), 1 refused (made with other settings, or unreadable), "
            "0 failed") in captured.out
    assert stamps == {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    # the same settings (and a --beta and a --select-on input that rand does not use: they refused it): skipped
    assert sweep.main(grid + ["--nStart", "50", "--lr", "0.001", "--beta", "2", "--select-on", "input"]) == 0
    assert "1 skipped (finished before)" in capsys.readouterr().out
    assert stamps == {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    # flags as run.py spells them (it said --select_on), a flag not given as such (it said --imbalance None)
    assert run.main(["--alg", "kmeans", *by_hand[2:], "--nStart", "50", "--imbalance", "2", "--select-on", "input",
                     "--out", str(tmp_path / "other")]) == 0
    capsys.readouterr()
    assert sweep.main(["--algs", "kmeans", *grid[2:-1], str(tmp_path / "other"), "--nStart", "50"]) == 1
    assert ("was made with --imbalance 2.0 --select-on input, the sweep would run no --imbalance --select-on model; "
            "not reused") in capsys.readouterr().err


def test_a_run_resumed_with_other_threads_is_refused_naming_both_values(tmp_path, capsys):
    """Its line said 'made with --threads 1, the sweep would run --threads 1' and advised running the sweep with
    those flags, which no sweep can: the run's parts ran with 1 and 2 threads."""
    import run
    by_hand = ["--alg", "rand", "--seed", "1", "--nQuery", "50", "--nStart", "50", "--maxEpochs", "5", "--out",
               str(tmp_path)]
    assert run.main([*by_hand, "--nEnd", "100"]) == 0
    with pytest.warns(UserWarning, match="--threads 2"):
        assert run.main([*by_hand, "--nEnd", "150", "--threads", "2", "--resume"]) == 0
    capsys.readouterr()
    grid = ["--algs", "rand", "--seeds", "1", "--nQuery", "50", "--nStart", "50", "--nEnd", "150", "--maxEpochs", "5",
            "--out", str(tmp_path)]
    assert sweep.main(grid) == 1
    assert (f"REFUSED digits_mlp_rand_50_seed1: {tmp_path / 'digits_mlp_rand_50_seed1'} was made with --threads 1+2 "
            f"(resumed with another value), the sweep would run --threads 1; not reused: move the folder away or use "
            f"another --out") in capsys.readouterr().err


def test_a_dry_run_makes_the_checks_a_sweep_makes_before_its_runs(tmp_path, capsys):
    """A dry run printed 'run ...' and exit 0 for sweeps that then stopped with exit 2 (a pool the flags do not fit,
    --device cuda without one, a missing data file)."""
    grid = ["--algs", "rand", "--seeds", "1", "--out", str(tmp_path / "res"), "--dry-run"]
    for flags, message in ((["--nStart", "5000"], "--nStart 5000 is larger than the pool of 1617 points"),
                           (["--imbalance", "1000"], "--imbalance 1000"),
                           (["--data", str(tmp_path / "missing.csv")], "not found")):
        assert sweep.main([*grid, *flags]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("sweep.py: error: ") and message in err[0], err
    assert not (tmp_path / "res").exists()
    # data the sweep would download first is not downloaded by a dry run: it says so
    assert sweep.main([*grid, "--data", "SVHN", "--model", "resnet", "--path", str(tmp_path / "data")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("run    python run.py --alg rand --seed 1 --model resnet --nQuery 100 --data SVHN"), out
    assert err.splitlines()[0] == ("sweep.py: --data SVHN is neither under --path nor in the cache: the sweep "
                                   "downloads it first (not done, and its pools not checked, in a dry run)")
    assert not (tmp_path / "res").exists()


def test_a_finished_run_whose_config_was_edited_is_refused_not_resumed(tmp_path, capsys):
    """--lr edited in a finished run's config.json: its summary.json no longer matches the run's identity, the
    sweep planned a resume on that alone, and run.py's refusal made it a FAILED run."""
    import run
    out = tmp_path / "res"
    assert run.main(["--alg", "rand", "--nStart", "50", "--nQuery", "50", "--nEnd", "50", "--maxEpochs", "5",
                     "--out", str(out)]) == 0
    config = out / "digits_mlp_rand_50_seed1" / "config.json"
    config.write_text(config.read_text().replace('"lr": 0.0001', '"lr": 0.001'))
    capsys.readouterr()
    argv = ["--algs", "rand", "--seeds", "1", "--nStart", "50", "--nQuery", "50", "--nEnd", "50",
            "--maxEpochs", "5", "--out", str(out)]
    assert sweep.main(argv) == 1
    captured = capsys.readouterr()
    assert [ln.split(":")[0] for ln in captured.err.splitlines() if ln.startswith(("REFUSED", "FAILED"))] == [
        "REFUSED digits_mlp_rand_50_seed1"]
    assert "would run --lr 0.0001; not reused" in captured.err


def test_a_run_made_with_another_strategy_parameter_is_refused_not_skipped(tmp_path, capsys):
    """The planned flags the sweep compared had lost the strategy's name, so none of its parameters (--beta of
    powermargin here) was compared: a finished run made with --beta 2 was skipped for a sweep of the default β (and
    an unfinished one resumed, to fail in run.py)."""
    import run
    out = tmp_path / "res"
    flags = ["--seed", "1", "--nQuery", "50", "--nStart", "50", "--nEnd", "50", "--maxEpochs", "5", "--out", str(out)]
    assert run.main(["--alg", "powermargin", *flags, "--beta", "2"]) == 0
    folder = out / "digits_mlp_powermargin_50_seed1"
    capsys.readouterr()
    grid = ["--algs", "powermargin", "--seeds", "1", *flags[2:], "--dry-run"]
    assert sweep.main(grid) == 1  # a refusal: the sweep's exit code
    planned = capsys.readouterr()
    assert planned.out.startswith("refuse ") and f"{folder} was made with --beta 2.0, the sweep would run --beta " \
        "1.0; not reused" in planned.err, planned
    assert sweep.main([*grid, "--beta", "2"]) == 0
    assert capsys.readouterr().out.startswith("skip ")


def test_a_run_of_an_older_version_counts_as_made_with_the_defaults_of_the_flags_it_lacks(tmp_path, capsys):
    """A finished run made before --imbalance and --select-on existed records neither: the sweep skipped it for a
    sweep of --imbalance 2 (the balanced run reused as a long-tailed one), where run.py --resume and the analysis
    take a flag not recorded as its default."""
    out = tmp_path / "res"
    flags = ["--seed", "1", "--nQuery", "50", "--nStart", "50", "--nEnd", "50", "--maxEpochs", "5", "--out", str(out)]
    assert run.main(["--alg", "kmeans", *flags]) == 0
    config = out / "digits_mlp_kmeans_50_seed1" / "config.json"
    recorded = json.loads(config.read_text())
    config.write_text(json.dumps({k: v for k, v in recorded.items() if k not in ("imbalance", "select_on")}))
    capsys.readouterr()
    grid = ["--algs", "kmeans", "--seeds", "1", *flags[2:], "--dry-run"]
    for extra, was, now in ((["--imbalance", "2"], "no --imbalance", "--imbalance 2.0"),
                            (["--select-on", "input"], "--select-on model", "--select-on input")):
        assert sweep.main([*grid, *extra]) == 1
        planned = capsys.readouterr()
        assert planned.out.startswith("refuse ") and f"was made with {was}, the sweep would run {now};" in planned.err
    assert sweep.main(grid) == 0
    assert capsys.readouterr().out.startswith("skip ")


def test_a_run_folder_holding_another_run_is_refused_not_skipped(tmp_path, capsys):
    """A folder renamed or copied from another run's (seed 1's copied as seed 2's, rand's renamed as marg's) was
    skipped as finished, its run counted as the one its name says, where run.py --resume refuses it."""
    out = tmp_path / "res"
    flags = ["--nQuery", "50", "--nStart", "50", "--nEnd", "50", "--maxEpochs", "5", "--out", str(out)]
    assert run.main(["--alg", "rand", "--seed", "1", *flags]) == 0
    shutil.copytree(out / "digits_mlp_rand_50_seed1", out / "digits_mlp_rand_50_seed2")
    shutil.copytree(out / "digits_mlp_rand_50_seed1", out / "digits_mlp_marg_50_seed1")
    capsys.readouterr()
    assert sweep.main(["--algs", "rand,marg", "--seeds", "1,2", *flags, "--dry-run"]) == 1
    planned = capsys.readouterr()
    assert [ln.split()[0] for ln in planned.out.splitlines()] == ["skip", "refuse", "refuse", "run"], planned.out
    assert (f"{out / 'digits_mlp_marg_50_seed1'} was made with --alg rand, the sweep would run --alg marg; not "
            "reused") in planned.err
    assert f"{out / 'digits_mlp_rand_50_seed2'} was made with --seed 1, the sweep would run --seed 2;" in planned.err


def write_digits_csv(path, rows):
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(X[rows]).assign(label=y[rows]).to_csv(path, index=False)
    return path


def test_a_finished_run_is_reused_only_for_the_data_file_it_read(tmp_path, capsys):
    """Two files of one name in two folders give one run folder: a finished run of the first is not skipped for
    the second; its resume compares their content and refuses other data, and finds a copy of the same finished."""
    first = write_digits_csv(tmp_path / "a" / "d.csv", slice(0, 600))
    other = write_digits_csv(tmp_path / "b" / "d.csv", slice(600, 1200))
    copy = tmp_path / "c" / "d.csv"
    copy.parent.mkdir()
    shutil.copy(first, copy)
    grid = ["--algs", "rand", "--seeds", "1", *TINY, "--nEnd", "50", "--out", str(tmp_path / "res")]
    assert sweep.main(grid + ["--data", str(first)]) == 0
    folder = tmp_path / "res" / "d_mlp_rand_50_seed1"
    kept = ("config.json", "summary.json", "rounds.csv", "queries.csv", "checkpoint.pt")
    stamps = {name: (folder / name).stat().st_mtime_ns for name in kept}
    capsys.readouterr()
    assert sweep.main(grid + ["--data", str(first), "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("skip ")
    assert sweep.main(grid + ["--data", str(other), "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("resume ")
    assert sweep.main(grid + ["--data", str(other)]) == 1
    failed = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("FAILED")]
    assert len(failed) == 1 and f"was started on other data ({first.resolve()}: " in failed[0]
    assert sweep.main(grid + ["--data", str(copy)]) == 0
    assert "already finished" in (tmp_path / "res" / "logs" / "d_mlp_rand_50_seed1.log").read_text()
    assert stamps == {name: (folder / name).stat().st_mtime_ns for name in kept}


def test_a_finished_run_is_not_skipped_when_its_data_file_was_rewritten_since(tmp_path, capsys):
    """A data file rewritten in place kept its path, so its finished runs were skipped while new strategies ran on
    the new rows: a sweep mixing two data sets, silently. Now such a run is resumed, and run.py compares the content:
    other rows fail with its line; the same rows (a file touched) find the run finished."""
    data = write_digits_csv(tmp_path / "d.csv", slice(0, 600))
    grid = ["--algs", "rand", "--seeds", "1", *TINY, "--nEnd", "50", "--data", str(data), "--out", str(tmp_path / "r")]
    assert sweep.main(grid) == 0
    os.utime(data, (time.time() + 5, time.time() + 5))  # the same rows, written again
    capsys.readouterr()
    assert sweep.main([*grid, "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("resume ")
    assert sweep.main(grid) == 0
    assert "already finished" in (tmp_path / "r" / "logs" / "d_mlp_rand_50_seed1.log").read_text()
    # the resume found it finished: counted as skipped, not as a run that ran ('1 ran')
    assert "1 run: 0 ran, 1 skipped (finished before), 0 failed" in capsys.readouterr().out
    write_digits_csv(data, slice(600, 1200))
    os.utime(data, (time.time() + 10, time.time() + 10))
    capsys.readouterr()
    assert sweep.main(grid) == 1
    failed = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("FAILED")]
    assert len(failed) == 1 and "was started on other data" in failed[0], failed


def test_a_finished_run_is_not_skipped_when_another_file_was_moved_over_its_data_file(tmp_path, capsys):
    """A file moved (or copied with cp -p, unpacked, rsync'ed) over the data file keeps its older modification time:
    the finished run of the old rows was skipped while the sweep meant the new ones. Its inode change time tells."""
    data = write_digits_csv(tmp_path / "d.csv", slice(0, 600))
    newer = write_digits_csv(tmp_path / "new" / "d.csv", slice(600, 1200))
    os.utime(newer, (time.time() - 3600, time.time() - 3600))  # made an hour before the run
    grid = ["--algs", "rand", "--seeds", "1", *TINY, "--nEnd", "50", "--data", str(data), "--out", str(tmp_path / "r")]
    assert sweep.main(grid) == 0
    os.replace(newer, data)
    capsys.readouterr()
    assert sweep.main([*grid, "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("resume ")
    assert sweep.main(grid) == 1
    failed = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("FAILED")]
    assert len(failed) == 1 and "was started on other data" in failed[0], failed


def test_a_finished_run_is_not_skipped_when_files_of_a_built_in_data_set_were_replaced_since(tmp_path, capsys):
    """The files of --data MNIST under --path were not looked at: a finished run was skipped after its idx files
    had been replaced by others (moved over them with their older times). Now it is resumed, and run.py refuses
    the other data."""
    raw = write_mnist_slice(tmp_path / "data", "MNIST", 200, 100)
    other = write_mnist_slice(tmp_path / "other", "MNIST", 300, 100)
    grid = ["--algs", "rand", "--seeds", "1", *TINY, "--nEnd", "50", "--data", "MNIST", "--path",
            str(tmp_path / "data"), "--out", str(tmp_path / "r")]
    assert sweep.main(grid) == 0
    capsys.readouterr()
    assert sweep.main([*grid, "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("skip ")
    for kind in ("images-idx3", "labels-idx1"):
        moved = other / f"train-{kind}-ubyte"
        os.utime(moved, (time.time() - 3600, time.time() - 3600))
        os.replace(moved, raw / moved.name)
    assert sweep.main([*grid, "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("resume ")
    assert sweep.main(grid) == 1
    failed = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("FAILED")]
    assert len(failed) == 1 and "was started on other data" in failed[0], failed


@pytest.mark.parametrize("data, write, replaced", [
    ("SVHN", write_svhn, "test_32x32.mat"), ("CIFAR10", write_cifar10, "cifar-10-batches-py/data_batch_3")])
def test_image_files_replaced_after_a_run_started_count_as_changed(tmp_path, data, write, replaced):
    """SVHN's and CIFAR-10's files under --path were not looked at either; now, as MNIST's, they count."""
    write(tmp_path)
    config = tmp_path / "config.json"
    time.sleep(0.05)  # past the clock tick of the files' change times
    config.write_text("{}")
    ns = sweep.parse_run_argv(["--data", data, "--path", str(tmp_path)])
    assert not sweep.data_changed_since(config, ns)
    time.sleep(0.05)
    shutil.copy2(tmp_path / replaced, tmp_path / "copy")  # the same bytes and times, another inode
    os.replace(tmp_path / "copy", tmp_path / replaced)
    assert sweep.data_changed_since(config, ns)


def test_a_run_folder_whose_config_cannot_be_read_is_refused_naming_it(tmp_path, capsys):
    flags = ["--algs", "rand", "--seeds", "1", "--nQuery", "50", "--nStart", "50", "--nEnd", "100", "--maxEpochs",
             "20", "--out", str(tmp_path)]
    assert sweep.main(flags) == 0
    config = tmp_path / "digits_mlp_rand_50_seed1" / "config.json"
    config.write_text('{"alg": ')
    capsys.readouterr()
    assert sweep.main(flags + ["--dry-run"]) == 1  # the exit code of the sweep it describes
    assert capsys.readouterr().out.startswith("refuse ")
    assert sweep.main(flags) == 1
    assert f"REFUSED digits_mlp_rand_50_seed1: {config} is not valid JSON; move the folder away (or run it by hand " \
           f"with run.py --force), then run the sweep again" in capsys.readouterr().err
    assert config.read_text() == '{"alg": '


def test_an_alias_runs_as_the_strategy_it_names(tmp_path, capsys):
    grid = ["--seeds", "1", "--out", str(tmp_path), "--dry-run"]
    assert sweep.main(grid + ["--algs", "kcenter,learning_loss"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[4] for line in lines] == ["coreset", "lpl"]
    assert sweep.main(grid + ["--algs", "coreset,kcenter"]) == 2
    assert capsys.readouterr().err.strip() == ("sweep.py: error: --algs names coreset and kcenter, one strategy "
                                               "(kcenter is an alias of coreset); keep one")


def test_test_files_and_paths_are_made_absolute_for_every_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_digits_csv(tmp_path / "train.csv", slice(0, 600))
    write_digits_csv(tmp_path / "t.csv", slice(600, 800))
    for test_flag in (["--test", "t.csv"], ["--test=t.csv"]):
        assert sweep.main(["--algs", "rand", "--data", "train.csv", *test_flag, "--path=d", "--out", "res",
                           "--dry-run"]) == 0
        line = capsys.readouterr().out
        assert f"{tmp_path / 't.csv'}" in line and f"--path={tmp_path / 'd'}" in line, line


def test_differing_settings_compares_the_result_changing_flags_the_run_records():
    from results import differing_settings
    recorded = {"alg": "powerbald", "nStart": 100, "lr": 1e-4, "beta": 1.0, "nConfigs": 1000, "device": "cpu",
                "nEnd": 300, "out": "a", "path": "data"}
    assert differing_settings(recorded, dict(recorded, nEnd=900, out="b", path="x", nConfigs=5)) == []
    assert differing_settings(recorded, dict(recorded, beta=2.0, lr=1e-3, threads=2)) == ["lr", "beta"]
    assert differing_settings(dict(recorded, alg="rand"), dict(recorded, alg="rand", beta=2.0)) == []
    assert differing_settings(recorded, dict(recorded, device="cuda")) == ["device"]


@pytest.mark.parametrize("script, args", [("scripts/sweep.py", ["--grid", "scripts/grids/mnist.toml", "--dry-run"]),
                                          ("scripts/agg_results.py", ["docs/paper/results.csv", "--fig", "{tmp}"])])
def test_a_reader_that_stops_early_ends_the_command_quietly(script, args, tmp_path):
    """`sweep.py --dry-run | head -1`: the reader closes the pipe before the command writes; exit 1, no traceback."""
    read, write = os.pipe()
    os.close(read)
    args = [a.format(tmp=tmp_path) for a in args]
    proc = subprocess.run([sys.executable, script, *args], cwd=ROOT, stdout=write, stderr=subprocess.PIPE,
                          text=True, timeout=300)
    os.close(write)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("flags, message", [
    (["--nStart", "5000"], "--nStart 5000 is larger than the pool of 1617 points; lower it"),
    (["--nQuery", "1600", "--nEnd", "1650"], "--nQuery 1600 is larger than the 1567 unlabelled points left after "
                                              "the first batch of 50 (pool of 1617); lower --nQuery"),
    (["--did", "6", "--path", str(SHARED_DATA), "--nQuery", "30000", "--nEnd", "30050"],
     "--nQuery 30000 is larger than the 17950 unlabelled points left after the first batch of 50 (pool of 18000); "
     "lower --nQuery"),
], ids=["nStart", "nQuery", "openml_csv"])
def test_batches_the_pool_cannot_take_are_refused_once_before_any_run(tmp_path, capsys, flags, message):
    """run.py's check after loading the data: each run of the grid failed with it, one failure line per run."""
    out = tmp_path / "res"
    assert sweep.main(["--algs", "rand,entropy", "--seeds", "1,2", *TINY, *flags, "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"sweep.py: error: {message}"]
    assert not out.exists()


def test_a_convolutional_model_on_a_table_is_refused_once_before_any_run(tmp_path, capsys):
    """run.py's check after loading the data (resnet takes any image data, so only the load tells): a failure a run."""
    (tmp_path / "table.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 3},{'xy'[i % 2]}\n" for i in range(60)))
    out = tmp_path / "res"
    argv = ["--algs", "rand", "--seeds", "1,2", "--data", str(tmp_path / "table.csv"), "--model", "resnet",
            "--nStart", "10", "--nQuery", "10", "--nEnd", "20", "--out", str(out)]
    assert sweep.main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        "sweep.py: error: --model resnet needs image data (MNIST, FashionMNIST, SVHN, CIFAR10: a table's features, an "
        ".npz's too, are flattened); use --model mlp or lin for table"]
    assert not out.exists()


def test_a_data_file_that_does_not_load_is_refused_once_before_any_run(tmp_path, capsys):
    """A CSV with a text feature cell, the sweep's only data: it ran every run, each failing with the same line.
    (Beside data that loads, its runs fail and the others go on: test_local_backend_skips_resumes_and_reports_...)"""
    (tmp_path / "bad.csv").write_text("1,2,a\n3,abc,b\n" + "".join(f"{i},{i % 3},{'ab'[i % 2]}\n" for i in range(60)))
    out = tmp_path / "res"
    argv = ["--algs", "rand,entropy", "--seeds", "1,2", "--data", str(tmp_path / "bad.csv"), "--nStart", "10",
            "--nQuery", "10", "--nEnd", "20", "--out", str(out)]
    assert sweep.main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"sweep.py: error: {tmp_path / 'bad.csv'}: column 2 is not numeric (row 2: 'abc'); features must be numbers, "
        "the label goes in the last column"]
    assert not out.exists()


def test_a_cache_that_cannot_be_written_stops_the_sweep_in_one_line(tmp_path, monkeypatch, capsys):
    """The sweep reads each data set before its runs start: MNIST's archives are extracted into the cache, and a
    cache that could not be created there (read-only, or a file in the way) escaped as an OSError traceback."""
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("BADGE_CACHE", str(tmp_path / "afile" / "cache"))
    code = sweep.main(["--data", "MNIST", "--path", str(SHARED_DATA), "--algs", "rand", "--seeds", "1",
                       "--nQuery", "10", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("sweep.py: error: creating ")
    assert "the cache (" in err[0] and "set BADGE_CACHE to a folder that has them" in err[0]
    assert not (tmp_path / "out").exists()


def test_a_run_folder_this_user_cannot_read_is_refused_not_a_traceback(tmp_path, monkeypatch, capsys):
    """Another user's run folder (mode 700) in --out: planning the sweep, even --dry-run, stopped with a
    PermissionError traceback from Path.is_file. Root reads every folder, so the refusal is what is_file raises
    on one; the other runs go on."""
    out = tmp_path / "out"
    (out / "digits_mlp_rand_50_seed1").mkdir(parents=True)
    closed = out / "digits_mlp_rand_50_seed1"
    is_file = Path.is_file

    def denied(path):
        if path.parent == closed:
            raise PermissionError(13, "Permission denied", str(path))
        return is_file(path)

    monkeypatch.setattr(Path, "is_file", denied)
    code = sweep.main(["--algs", "rand", "--seeds", "1,2", *TINY, "--nEnd", "50", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert f"{closed} cannot be read (Permission denied); fix its permissions or move it away" in captured.err
    assert (out / "digits_mlp_rand_50_seed2" / "summary.json").is_file()


def test_a_worker_that_cannot_be_started_stops_the_sweep_in_one_line(tmp_path):
    """Out of file descriptors (ulimit -n) or processes (ulimit -u), starting a worker raised an OSError traceback
    from multiprocessing. 10 descriptors leave the sweep its own but not a worker's pipe."""
    import resource

    proc = subprocess.run([sys.executable, "scripts/sweep.py", "--algs", "rand", "--seeds", "1,2", *TINY, "--nEnd",
                           "100", "--workers", "2", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (10, 10)))
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert re.fullmatch(r"sweep\.py: error: a worker process for digits_mlp_rand_50_seed\d could not be started "
                        r"\(Too many open files\); raise the limit \(ulimit -n, ulimit -u\) or lower --workers, then "
                        r"run the same command again \(finished runs are kept\)", last), last
