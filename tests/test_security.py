"""A checkpoint can never run code: crafted checkpoint.pt files (torch's zip format and the legacy pickle format)
are refused with one line by `run.py --resume` and by a sweep that resumes the folder, and their payload never
runs. A real checkpoint holds only tensors and plain values and loads with torch's restricted unpickler.
One writer per run folder: a second run, --resume or --force on a locked folder is refused naming the holder's
pid. Odd data file names give safe run names and nothing is written outside --out; contradictory flags, an empty
--out and a data path that is not a regular file are refused with one line."""
import fcntl
import os
import pickle
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import results
import run
import runlock
from cli import ROOT, assert_one_line_error, run_main
from errors import UserError
from procs import caught_mid_run, lock_pid, rows_written, start_cli
from scripts import sweep

ARGS = ["--alg", "albl", "--seed", "3", "--nStart", "40", "--nQuery", "40", "--nEnd", "120", "--maxEpochs", "30"]
FOLDER = "digits_mlp_albl_40_seed3"


class Payload:
    """Unpickling this calls os.system, which creates the file `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def zip_payload(path, marker):
    torch.save({"round": 0, "model": Payload(marker)}, path)


def legacy_payload(path, marker):
    with open(path, "wb") as f:
        pickle.dump({"round": 0, "model": Payload(marker)}, f, protocol=2)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A run stopped after round 1 (rounds 0 and 1 done, checkpoint of round 1), to be resumed."""
    out = tmp_path_factory.mktemp("sec")
    proc = run_main(*ARGS, "--rounds", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out


def test_a_real_checkpoint_loads_with_the_restricted_unpickler(finished_run):
    state = torch.load(finished_run / FOLDER / "checkpoint.pt", weights_only=True)
    assert state["round"] == 1
    assert state["strategy"]["query_prob"].dtype == torch.float64  # ALBL's numpy state saved as a tensor
    assert state["strategy"]["labeled"].sum() == 80


@pytest.mark.parametrize("craft", [zip_payload, legacy_payload])
def test_crafted_checkpoint_is_refused_and_runs_nothing(finished_run, tmp_path, craft):
    out = tmp_path / "out"
    copy_run(finished_run / FOLDER, out)
    marker = tmp_path / "pwned"
    craft(out / FOLDER / "checkpoint.pt", marker)

    proc = run_main(*ARGS, "--out", out, "--resume")
    assert_one_line_error(proc, "checkpoint.pt cannot be read", "--force")
    assert proc.returncode == 2
    assert not marker.exists()

    (out / FOLDER / "summary.json").unlink()  # an unfinished run: the sweep resumes it by itself
    code = sweep.main(["--algs", "albl", "--seeds", "3", "--nStart", "40", "--nQuery", "40", "--nEnd", "120",
                       "--maxEpochs", "30", "--out", str(out), "--workers", "1"])
    assert code == 1
    assert "checkpoint.pt cannot be read" in (out / "logs" / f"{FOLDER}.log").read_text()
    assert not marker.exists()


def test_plain_turns_numpy_into_tensors_and_keeps_containers():
    import numpy as np
    state = results.plain({"a": np.arange(3), "b": (np.float64(0.5), 2), "c": [np.bool_(True)], "d": "x"})
    assert torch.equal(state["a"], torch.arange(3)) and state["b"] == (0.5, 2)
    assert state["c"] == [True] and type(state["c"][0]) is bool and state["d"] == "x"


# ---------------------------------------------------------------- one writer per run folder

def copy_run(src, out):
    (out / FOLDER).mkdir(parents=True)
    for f in src.iterdir():
        (out / FOLDER / f.name).write_bytes(f.read_bytes())
    return out / FOLDER


def test_a_second_writer_is_refused_and_a_killed_holder_leaves_no_stale_lock(finished_run, tmp_path):
    folder = tmp_path / FOLDER
    longer = [*ARGS, "--nEnd", "200", "--out", tmp_path]

    def start(_):
        shutil.rmtree(folder, ignore_errors=True)
        copy_run(finished_run / FOLDER, tmp_path)
        return start_cli(*longer, "--resume")  # rounds 2..4 left to run

    holder, _ = caught_mid_run(start, lambda p: p.pid if lock_pid(folder) == p.pid else None,
                               lambda: rows_written(folder) < 5)  # round 4 still to do
    try:
        before = {p.name: p.read_bytes() for p in folder.iterdir()}
        for extra in (["--resume"], ["--force"], []):
            proc = run_main(*longer, *extra)
            assert_one_line_error(proc, f"{folder} is in use by another process (pid {holder.pid})")
            assert proc.returncode == 2
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing touched
    finally:
        holder.kill()
        holder.wait()
    proc = run_main(*longer, "--resume")  # the kernel dropped the dead holder's lock
    assert proc.returncode == 0, proc.stderr
    rounds = pd.read_csv(folder / "rounds.csv")
    assert rounds["round"].tolist() == list(range(5)) and rounds.n_labeled.tolist() == list(range(40, 201, 40))
    queries = pd.read_csv(folder / "queries.csv")
    assert len(queries) == 200 and queries["index"].is_unique


def test_a_lock_held_for_a_moment_is_waited_for_and_one_held_longer_is_refused(tmp_path):
    """Another process's probe (sweep.py's lock_holder) holds the lock for microseconds: a run that starts then takes
    the lock once the probe drops it (it failed with 'in use by another process'); a holder that keeps the lock past
    runlock's tries is still refused."""
    with runlock.run_folder_lock(tmp_path):
        pass
    fd = os.open(tmp_path / runlock.LOCK_NAME, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        threading.Timer(0.03, fcntl.flock, (fd, fcntl.LOCK_UN)).start()
        with runlock.run_folder_lock(tmp_path):
            assert lock_pid(tmp_path) == os.getpid()
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(UserError, match="is in use by another process"):
            with runlock.run_folder_lock(tmp_path):
                pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------- nothing written outside --out

ODD_NAMES = {"UPPER.CSV": "UPPER", "two words;$(touch x).csv": "two_words___touch_x_", "-flag.Csv": "flag",
             "..dots.NPZ": "dots", "....csv": "data", "new\nline.csv": "new_line", "ünï.csv": "_n_"}


def tree(*roots):
    """Every path under the roots, but Python's bytecode caches."""
    return {p for r in roots for p in Path(r).rglob("*") if "__pycache__" not in p.parts}


def write_table(path, rng):
    """60 points, 4 features, 3 classes, as .npz (X, y) or as .csv (label last)."""
    X, y = rng.normal(size=(60, 4)), np.arange(60) % 3
    if path.suffix.lower() == ".npz":
        with open(path, "wb") as f:
            np.savez(f, X=X, y=y)
    else:
        path.write_text("".join(",".join(map(str, [*row, label])) + "\n" for row, label in zip(X, y)))


def test_odd_data_names_give_safe_run_names_and_every_file_stays_under_out(tmp_path, monkeypatch, badge_cache):
    data, out, cwd = tmp_path / "data dir", tmp_path / "out", tmp_path / "cwd"
    data.mkdir()
    cwd.mkdir()
    rng = np.random.default_rng(0)
    for name in ODD_NAMES:
        write_table(data / name, rng)
    monkeypatch.chdir(cwd)
    before = tree(tmp_path, ROOT, badge_cache)
    for name in ODD_NAMES:
        assert run.main(["--data", str(data / name), "--nStart", "20", "--nQuery", "20", "--nEnd", "20",
                         "--maxEpochs", "5", "--out", str(out)]) == 0
    new = tree(tmp_path, ROOT, badge_cache) - before
    cached = {p for p in new if badge_cache in p.parents}  # the project cache (decoded data, the built kernel)
    assert new - cached and all(p == out or out in p.parents for p in new - cached), sorted(new - cached)
    assert all(re.fullmatch(r"[\w.-]+", p.name) for p in cached), sorted(cached)  # named by hashes, not data names
    assert sorted(os.listdir(out)) == sorted(f"{label}_mlp_rand_20_seed1" for label in ODD_NAMES.values())


@pytest.mark.parametrize("argv, message", [
    (["--out", ""], "--out is empty; name a results folder"),
    (["--resume", "--force"], "--resume continues a run and --force overwrites it; pass only one of them"),
    (["--resume", "--alg", "conf"], "--resume: there is no run folder"),
    (["--did", "-3"], "--did is an OpenML data set id, at least 1 (0: use --data), got -3"),
])
def test_contradictory_or_empty_flags_are_refused_and_write_nothing(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    run.main(["--nStart", "20", "--nQuery", "20", "--nEnd", "20", "--maxEpochs", "5", "--out", "out"])
    capsys.readouterr()
    before = tree(tmp_path)
    assert run.main(["--nStart", "20", "--nQuery", "20", "--nEnd", "40", "--maxEpochs", "5", "--out", "out",
                     *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("run.py: error: ") and message in err[0]
    assert tree(tmp_path) == before


@pytest.mark.parametrize("make", [os.mkfifo, os.mkdir])
def test_a_data_path_that_is_not_a_regular_file_is_named_so(tmp_path, capsys, make):
    make(tmp_path / "table.csv")
    assert run.main(["--data", str(tmp_path / "table.csv"), "--out", str(tmp_path / "out"), "--maxEpochs", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "table.csv is not a regular file (a folder, FIFO or device)" in err[0]
    assert not (tmp_path / "out").exists()
