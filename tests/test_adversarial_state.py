"""Adversarial state: a run folder damaged in every way we know, runs killed or crashed at every write and at
random moments, write errors and bad flags. Each must end in one of two ways: exit 2 with one line on stderr that
names the problem (no traceback, no finished row lost or altered), or a resume whose rows and queries equal an
undisturbed run's.

Not provoked here: ENOSPC, EROFS and EACCES need a small or read-only mount or a non-root user; EFBIG (a
file-size limit) takes the same code path (an OSError naming the file)."""
import itertools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import results
import resume
from resume import run_owner
from errors import interrupted_line, starting_line
from runlock import LOCK_NAME
import run
import procs
from cli import ROOT, SHARED_DATA, run_cli, run_main
from ctrl_c import ctrl_c_at, record_bar_finalized
from scripts import agg_read, agg_results
from scripts import sweep

ARGS = ["--alg", "entropy", "--seed", "3", "--nStart", "20", "--nQuery", "20", "--nEnd", "400", "--nEmb", "16",
        "--maxEpochs", "10"]
FOLDER = "digits_mlp_entropy_20_seed3"
DETERMINISTIC = ["round", "n_labeled", "test_acc", "train_acc", "train_epochs", "restarts"]
pytestmark = pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")


def main(capsys, *argv):
    """run.main in this process: (exit code, stderr lines)."""
    capsys.readouterr()
    code = run.main([*map(str, argv)])
    return code, capsys.readouterr().err.strip().splitlines()


def assert_refused(code, err, *fragments):
    assert code == 2, err
    assert len(err) == 1, err
    assert all(f in err[0] for f in fragments), err[0]


def outcome(folder):
    """The deterministic columns of rounds.csv and the whole of queries.csv."""
    lines = [ln.split(",") for ln in (folder / "rounds.csv").read_text().splitlines()]
    keep = [lines[0].index(c) for c in DETERMINISTIC]
    return [[ln[i] for i in keep] for ln in lines], (folder / "queries.csv").read_text()


def snapshot(folder):
    """Bytes of every file in the folder (nothing may change when a resume is refused)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} if folder.is_dir() else None


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A run of rounds 0–2 (--rounds 2), finished."""
    out = tmp_path_factory.mktemp("finished")
    assert run.main([*ARGS, "--rounds", "2", "--out", str(out)]) == 0
    return out / FOLDER


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The undisturbed run of rounds 0–3."""
    out = tmp_path_factory.mktemp("reference")
    assert run.main([*ARGS, "--rounds", "3", "--out", str(out)]) == 0
    return outcome(out / FOLDER)


@pytest.fixture
def stopped(finished, tmp_path):
    """A copy of `finished` that still has round 3 to do under --rounds 3."""
    shutil.copytree(finished, tmp_path / FOLDER)
    return tmp_path / FOLDER


def other_checkpoint(folder):
    """The checkpoint of another run with the same flags (and so the same folder name)."""
    out = folder.parent.parent / "other"
    assert run.main([*ARGS, "--rounds", "2", "--out", str(out)]) == 0
    shutil.copy(out / FOLDER / "checkpoint.pt", folder / "checkpoint.pt")


def planted_snapshot(**changes):
    """Plant training.pt: a training snapshot of round 3 of this run (its run id and identity) with `changes`."""
    def plant(folder):
        config = json.loads((folder / "config.json").read_text())
        state = {**run_owner(config), "round": 3, "key": "k", "training": {"progress": [1, 0.5, 1, 0]}}
        torch.save(dict(state, **changes), folder / "training.pt")
    return plant


def then(*steps):
    """The mutations `steps`, one after the other."""
    def apply(folder):
        for step in steps:
            step(folder)
    return apply


def replace_line(path, number, text):
    lines = path.read_bytes().split(b"\n")
    lines[number] = text
    path.write_bytes(b"\n".join(lines))


def into_directory(path):
    path.unlink()
    path.mkdir()


def into_file(folder):
    shutil.rmtree(folder)
    folder.write_text("not a folder\n")


VICTIM = b"precious\n"


def victim(folder):
    """A file outside the run folder that no run may write."""
    path = folder.parent / "victim.txt"
    path.write_bytes(VICTIM)
    return path


def link_to_victim(name):
    """Plant `name` as a symbolic link to a file outside the folder."""
    def plant(folder):
        (folder / name).unlink(missing_ok=True)
        (folder / name).symlink_to(victim(folder))
    return plant


def link_to_copy(name):
    """Replace `name` with a symbolic link to an identical copy outside the folder."""
    def plant(folder):
        copy = folder.parent / f"copy-{name}"
        shutil.copy(folder / name, copy)
        (folder / name).unlink()
        (folder / name).symlink_to(copy)
    return plant


def hard_link_to_victim(name):
    """Plant `name` as a hard link to a file outside the folder (O_NOFOLLOW does not see it)."""
    def plant(folder):
        (folder / name).unlink(missing_ok=True)
        os.link(victim(folder), folder / name)
    return plant


def flipped_byte(name, at):
    """Flip one bit of `name`'s byte at fraction `at` of its length (bit rot, a bad copy): torch.load reads it."""
    def flip(folder):
        data = bytearray((folder / name).read_bytes())
        data[int(at * len(data))] ^= 1
        (folder / name).write_bytes(bytes(data))
    return flip


def forged_labelled(folder):
    """A checkpoint whose labelled mask marks one pool point more than queries.csv names (a valid archive)."""
    state = torch.load(folder / "checkpoint.pt", weights_only=True)
    labeled = state["strategy"]["labeled"]
    labeled[int((~labeled).nonzero()[0])] = True
    torch.save(state, folder / "checkpoint.pt")


def fifo(name):
    """Put a FIFO (a named pipe nothing writes to) in place of `name`."""
    def plant(folder):
        (folder / name).unlink(missing_ok=True)
        os.mkfifo(folder / name)
    return plant


def forged_checkpoint(**changes):
    """Change only the entries `changes` of the checkpoint (a weights-only file, so torch can write it back)."""
    def forge(folder):
        state = torch.load(folder / "checkpoint.pt", weights_only=True)
        torch.save(dict(state, **changes), folder / "checkpoint.pt")
    return forge


def forged_mark(size):
    """Change the size the checkpoint recorded of rounds.csv to `size` (a crafted file's)."""
    def forge(folder):
        state = torch.load(folder / "checkpoint.pt", weights_only=True)
        state["files"]["rounds"]["bytes"] = size
        torch.save(state, folder / "checkpoint.pt")
    return forge


def misfit_checkpoint(folder):
    """A checkpoint of this run (its id and identity) whose network weights are of another shape."""
    state = torch.load(folder / "checkpoint.pt", weights_only=True)
    model = state["learner"]["model"]
    model[next(iter(model))] = torch.zeros(3, 3)
    torch.save(state, folder / "checkpoint.pt")


def edit_summary(**changes):
    def edit(folder):
        summary = json.loads((folder / "summary.json").read_text())
        (folder / "summary.json").write_text(json.dumps(dict(summary, **changes)))
    return edit


def edit_config(**changes):
    def edit(folder):
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps(dict(config, **changes)))
    return edit


def into_link_to_copy(folder):
    """Move the run folder outside --out and leave a symbolic link to it in its place."""
    moved = folder.parent.parent / f"moved-{folder.parent.name}"
    shutil.move(folder, moved)
    folder.symlink_to(moved)


def drop_from_summary(*keys):
    def drop(folder):
        summary = json.loads((folder / "summary.json").read_text())
        (folder / "summary.json").write_text(json.dumps({k: v for k, v in summary.items() if k not in keys}))
    return drop


def other_summary(folder):
    """summary.json of another seed's finished run of rounds 0-3."""
    out = folder.parent.parent / "other"
    other = out / FOLDER.replace("seed3", "seed4")
    if not (other / "summary.json").is_file():  # made once per test session's temporary root
        assert run.main([*ARGS[:3], "4", *ARGS[4:], "--rounds", "3", "--out", str(out)]) == 0
    shutil.copy(other / "summary.json", folder / "summary.json")


RESUMES = "resumes to the reference run"  # the expected outcome of a mutation that a run must shrug off

# Each case: a mutation of a run folder that has finished rounds 0-2 (summary.json removed first unless the case's
# name starts with "summary" or "run folder"), then --resume --rounds 3; the outcome is either one line naming
# the fragments (exit 2, nothing in the folder changed) or RESUMES.
CORRUPTIONS = {
    "rounds.csv deleted": (lambda f: (f / "rounds.csv").unlink(), ["rounds.csv", "missing", "--force"]),
    "rounds.csv emptied": (lambda f: (f / "rounds.csv").write_text(""), ["rounds.csv", "differs", "--force"]),
    "rounds.csv header only": (lambda f: (f / "rounds.csv").write_text(",".join(results.ROUND_COLUMNS) + "\n"),
                               ["rounds.csv", "differs"]),
    "rounds.csv row garbled": (lambda f: replace_line(f / "rounds.csv", 2, b"1,40,0.x"), ["rounds.csv", "differs"]),
    "rounds.csv binary row": (lambda f: replace_line(f / "rounds.csv", 1, b"\x00\xff\xfe"), ["rounds.csv", "differs"]),
    "rounds.csv row appended": (lambda f: open(f / "rounds.csv", "a").write("nonsense\n"),
                                ["rounds.csv", "line 5 is garbled", "the checkpoint covers its first 4 lines: "
                                 "delete the lines after them to resume"]),
    "rounds.csv later round appended": (
        lambda f: open(f / "rounds.csv", "a").write(
            "7," + ",".join("target" if c == "train_stop" else "1" for c in results.ROUND_COLUMNS[1:]) + "\n"),
        ["rounds.csv", "after round 2"]),
    "queries.csv deleted": (lambda f: (f / "queries.csv").unlink(), ["queries.csv", "missing"]),
    "queries.csv non-numeric": (lambda f: replace_line(f / "queries.csv", 5, b"0,abc"), ["queries.csv", "differs"]),
    "queries.csv binary appended": (lambda f: open(f / "queries.csv", "ab").write(b"\xff\xfe\n"),
                                    ["queries.csv", "not text"]),
    "checkpoint.pt a directory": (lambda f: into_directory(f / "checkpoint.pt"),
                                  ["checkpoint.pt", "not a regular file"]),
    "checkpoint.pt deleted": (lambda f: (f / "checkpoint.pt").unlink(), ["checkpoint.pt", "missing", "rounds.csv"]),
    "checkpoint.pt garbage": (lambda f: (f / "checkpoint.pt").write_bytes(b"PK\x03\x04junk"),
                              ["checkpoint.pt", "cannot be read"]),
    "checkpoint.pt of another run": (other_checkpoint, ["checkpoint.pt", "another run"]),
    "checkpoint.pt of another identity": (forged_checkpoint(identity="0" * 64), ["checkpoint.pt", "another run"]),
    "checkpoint.pt of another network": (misfit_checkpoint, ["checkpoint.pt", "does not fit this run"]),
    "checkpoint.pt of another network, rounds.csv torn": (  # the torn line stays: the refusal changes nothing
        then(misfit_checkpoint, lambda f: open(f / "rounds.csv", "a").write("3,7")),
        ["checkpoint.pt", "does not fit this run"]),
    "config.json truncated": (lambda f: (f / "config.json").write_text('{"alg": "ent'),
                              ["config.json", "not valid JSON"]),
    "config.json deleted": (lambda f: (f / "config.json").unlink(), ["config.json", "missing"]),
    "config.json a list": (lambda f: (f / "config.json").write_text("[1, 2]"), ["config.json", "not an object"]),
    "config.json empty object": (lambda f: (f / "config.json").write_text("{}"), ["config.json", "names no strategy"]),
    "config.json alg a list": (edit_config(alg=["entropy"]), ["config.json", "names no strategy (alg)"]),
    "config.json nQuery a record": (edit_config(nQuery={"n": 20}), ["config.json", "nQuery is not a plain value"]),
    "config.json nQuery as text": (edit_config(nQuery="20"), ["was started with --nQuery 20 (str), and this command "
                                                              "has --nQuery 20 (int)"]),
    "config.json data identity a list": (edit_config(data_identity=[1617]), ["data_identity is not a record"]),
    "summary.json garbage": (lambda f: (f / "summary.json").write_bytes(b"\x00garbage"),
                             ["summary.json", "JSON", "delete it to resume from the checkpoint"]),
    "summary.json empty": (lambda f: (f / "summary.json").write_text(""), ["summary.json", "JSON"]),
    "summary.json without stopped_by": (lambda f: (f / "summary.json").write_text('{"rounds": 2}'),
                                        ["summary.json", "stopped_by"]),
    "run folder a file": (into_file, [FOLDER, "is a file"]),
    "run folder a link to a copy": (into_link_to_copy, [FOLDER, "is a symbolic link", "remove it"]),
    ".lock a link out of the folder": (link_to_victim(LOCK_NAME), [LOCK_NAME, "symbolic link"]),
    ".lock a FIFO": (fifo(LOCK_NAME), [LOCK_NAME, "not a regular file"]),
    ".lock a hard link out of the folder": (hard_link_to_victim(LOCK_NAME), [LOCK_NAME, "is a hard link (one of 2"]),
    "rounds.csv a hard link out of the folder (a backup by cp -al)": (
        lambda f: os.link(f / "rounds.csv", f.parent / "backup-rounds.csv"), ["rounds.csv is a hard link (one of 2"]),
    "checkpoint.pt a bit flipped": (flipped_byte("checkpoint.pt", 0.5), ["checkpoint.pt is damaged", "CRC-32"]),
    "checkpoint.pt a bit flipped early": (flipped_byte("checkpoint.pt", 0.1), ["checkpoint.pt", "damaged"]),
    "checkpoint.pt labelling one point more": (forged_labelled, ["checkpoint.pt's labelled points are not the 60"]),
    "training.pt a bit flipped": (then(planted_snapshot(), flipped_byte("training.pt", 0.3)),
                                  ["training.pt is damaged", "CRC-32", "delete it to train round 3"]),
    "rounds.csv a link to a copy": (link_to_copy("rounds.csv"), ["rounds.csv", "symbolic link"]),
    "queries.csv a link to a copy": (link_to_copy("queries.csv"), ["queries.csv", "symbolic link"]),
    "config.json a link to a copy": (link_to_copy("config.json"), ["config.json", "symbolic link"]),
    "checkpoint.pt a link to a copy": (link_to_copy("checkpoint.pt"), ["checkpoint.pt", "symbolic link"]),
    "summary.json a link to a copy": (link_to_copy("summary.json"), ["summary.json", "symbolic link"]),
    "temporary summary.json a link out of the folder": (link_to_victim(".summary.json.tmp"), RESUMES),
    "temporary checkpoint a link out of the folder": (link_to_victim(".checkpoint.pt.tmp"), RESUMES),
    "config.json a FIFO": (fifo("config.json"), ["config.json", "not a regular file"]),
    "rounds.csv a FIFO": (fifo("rounds.csv"), ["rounds.csv", "not a regular file"]),
    "queries.csv a FIFO": (fifo("queries.csv"), ["queries.csv", "not a regular file"]),
    "checkpoint.pt a FIFO": (fifo("checkpoint.pt"), ["checkpoint.pt", "not a regular file"]),
    "summary.json a FIFO": (fifo("summary.json"), ["summary.json", "not a regular file"]),
    "summary.json hand-written": (lambda f: (f / "summary.json").write_text('{"stopped_by": "budget", "rounds": 7}'),
                                  ["summary.json", "rounds (7 in it, 2 in them)", "delete it"]),
    "summary.json of an older version (no run id, no labels)": (drop_from_summary("run_id", "n_labeled"), RESUMES),
    "summary.json with a run id but no labels": (drop_from_summary("n_labeled"), ["summary.json", "labelled points"]),
    "summary.json of another seed": (other_summary, ["summary.json", "run id"]),
    "summary.json with more rounds": (edit_summary(rounds=7), ["summary.json", "rounds (7 in it, 2 in them)"]),
    "summary.json says the pool ran out": (edit_summary(stopped_by="pool exhausted"), ["summary.json", "pool"]),
    "summary.json says the pool ran out, config.json's n_pool agrees": (
        then(edit_summary(stopped_by="pool exhausted"), edit_config(n_pool=70)), ["summary.json", "pool"]),
    "summary.json says the pool ran out, config.json's data identity agrees": (
        then(edit_summary(stopped_by="pool exhausted"), lambda f: edit_config(data_identity=dict(
            json.loads((f / "config.json").read_text())["data_identity"], n_train=70))(f)),
        ["was started on other data", "70+180 points"]),
    "summary.json with a row after the checkpoint": (
        lambda f: open(f / "rounds.csv", "a").write(
            "3," + ",".join("target" if c == "train_stop" else "1" for c in results.ROUND_COLUMNS[1:]) + "\n"),
        ["summary.json", "rows after the last round (0 in it, 1 in them)"]),
    "training.pt a directory": (lambda f: (f / "training.pt").mkdir(), ["training.pt", "not a regular file"]),
    "training.pt a FIFO": (fifo("training.pt"), ["training.pt", "not a regular file"]),
    "training.pt garbage": (lambda f: (f / "training.pt").write_bytes(b"PK\x03\x04junk"),
                            ["training.pt", "cannot be read", "delete it to train round 3"]),
    "training.pt of another run": (planted_snapshot(run_id="another"), ["training.pt", "another run"]),
    "training.pt of another identity": (planted_snapshot(identity="0" * 64), ["training.pt", "another run"]),
    "training.pt without a training": (planted_snapshot(training=[1, 2]), ["training.pt", "no training snapshot"]),
    "training.pt a link to a copy": (then(planted_snapshot(), link_to_copy("training.pt")),
                                     ["training.pt", "symbolic link"]),
    "training.pt of a finished round": (planted_snapshot(round=2), RESUMES),
    "training.pt of another training of the round": (planted_snapshot(), RESUMES),
    "checkpoint size of rounds.csv a text": (forged_mark("x"), ["rounds.csv", "differs from the"]),  # a TypeError
    "checkpoint size of rounds.csv a float": (forged_mark(1.5), ["rounds.csv", "differs from the"]),
    "checkpoint size of rounds.csv none": (forged_mark(None), ["rounds.csv", "differs from the"]),
    "checkpoint round -1": (forged_checkpoint(round=-1), ["checkpoint.pt", "round -1", "rounds.csv"]),
    "checkpoint round 1 of 2": (forged_checkpoint(round=1), ["checkpoint.pt", "round 1"]),
    "checkpoint round 7": (forged_checkpoint(round=7), ["checkpoint.pt", "round 7"]),
    "checkpoint round 50": (forged_checkpoint(round=50), ["checkpoint.pt", "round 50"]),
    "checkpoint round 10**15": (forged_checkpoint(round=10**15), ["checkpoint.pt", "round 1000000000000000"]),
    "checkpoint round 2**70": (forged_checkpoint(round=2**70), ["checkpoint.pt", f"round {2**70}"]),
}


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_a_damaged_run_folder_is_refused_with_one_line(case, stopped, reference, capsys):
    damage, fragments = CORRUPTIONS[case]
    if case.startswith("summary") or case.startswith("run folder"):
        damage(stopped)
    else:
        (stopped / "summary.json").unlink()
        damage(stopped)
    before = snapshot(stopped)
    code, err = main(capsys, *ARGS, "--rounds", "3", "--out", stopped.parent, "--resume")
    if fragments == RESUMES:
        assert code == 0, err
        assert outcome(stopped) == reference
    else:
        assert_refused(code, err, *fragments)
        assert snapshot(stopped) == before
    victim_file = stopped.parent / "victim.txt"
    assert not victim_file.exists() or victim_file.read_bytes() == VICTIM


def test_damage_is_refused_through_the_real_cli(stopped):
    (stopped / "summary.json").unlink()
    replace_line(stopped / "rounds.csv", 2, b"1,40,0.x")
    proc = run_cli(*ARGS, "--rounds", "3", "--out", stopped.parent, "--resume")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "rounds.csv" in proc.stderr and "--force" in proc.stderr


def test_force_starts_a_damaged_run_over(stopped, reference, capsys):
    (stopped / "rounds.csv").write_text("")
    assert run.main([*ARGS, "--rounds", "3", "--out", str(stopped.parent), "--force"]) == 0
    assert outcome(stopped) == reference


def test_a_clean_stop_resumes_to_the_reference(stopped, reference, capsys):
    (stopped / "summary.json").unlink()
    assert run.main([*ARGS, "--rounds", "3", "--out", str(stopped.parent), "--resume"]) == 0
    assert outcome(stopped) == reference


def npz(path, seed):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True)
    np.savez(path, X=rng.normal(size=(300, 5)), y=rng.integers(0, 3, 300))
    return path


def test_resume_on_other_data_of_the_same_name_is_refused(tmp_path, capsys):
    a, b = npz(tmp_path / "a" / "x.npz", 0), npz(tmp_path / "b" / "x.npz", 1)
    flags = [*ARGS, "--out", tmp_path / "out"]
    assert main(capsys, *flags, "--data", a, "--rounds", "1")[0] == 0
    (tmp_path / "out" / "x_mlp_entropy_20_seed3" / "summary.json").unlink()
    assert_refused(*main(capsys, *flags, "--data", b, "--rounds", "2", "--resume"), "other data", "x.npz")
    config = json.loads((tmp_path / "out" / "x_mlp_entropy_20_seed3" / "config.json").read_text())
    assert config["data_identity"]["source"] == str(a.resolve())
    assert config["data_identity"]["shape"] == [5] and config["data_identity"]["n_train"] == 270
    shutil.copy(a, tmp_path / "x.npz")  # the same data under another path is the same data
    assert main(capsys, *flags, "--data", tmp_path / "x.npz", "--rounds", "2", "--resume")[0] == 0


# ---------------------------------------------------------------- crashes inside writes, kills, Ctrl-C

class Crash(BaseException):
    """Stands for the process dying: nothing in run.py catches it."""


def crash_at_write(monkeypatch, n):
    """Make the n-th file write of the run (write_atomic or append_rows) write half its bytes, then die."""
    calls = itertools.count()
    atomic, append = results.write_atomic, results.append_rows

    def half_atomic(path, data):
        if next(calls) == n:
            data = data if isinstance(data, bytes) else data.encode()
            Path(path).with_name(f".{Path(path).name}.tmp").write_bytes(data[: len(data) // 2])
            raise Crash
        atomic(path, data)

    def half_append(path, rows):
        if next(calls) == n:
            text = "".join(",".join(map(str, r)) + "\n" for r in rows)
            with open(path, "a") as f:
                f.write(text[: len(text) // 2 + 1])
            raise Crash
        append(path, rows)

    monkeypatch.setattr(results, "write_atomic", half_atomic)
    monkeypatch.setattr(results, "append_rows", half_append)


# rounds 0-3: 3 writes at the start, 3 per round (queries, row, checkpoint), summary.json at the end
@pytest.mark.parametrize("n", range(3 + 3 * 4 + 1))
def test_a_crash_inside_any_write_resumes_to_the_reference(n, tmp_path, reference, monkeypatch, capsys):
    crash_at_write(monkeypatch, n)
    with pytest.raises(Crash):
        run.main([*ARGS, "--rounds", "3", "--out", str(tmp_path)])
    monkeypatch.undo()
    code, err = main(capsys, *ARGS, "--rounds", "3", "--out", tmp_path, "--resume")
    assert code == 0, err
    assert outcome(tmp_path / FOLDER) == reference


def start_cli(*argv, limit_bytes=None, hangup=signal.SIG_DFL):
    """run.py in a subprocess (stderr piped), with SIGHUP's handler `hangup` (default: as in a terminal, whether or
    not this test process runs under `nohup`; SIG_IGN: as `nohup` starts it), optionally under a file-size limit
    (`ulimit -f`)."""
    def prepare():
        signal.signal(signal.SIGHUP, hangup)
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes,) * 2)

    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), *map(str, argv)], cwd=ROOT, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=prepare)


def cpu_to_end(proc):
    """CPU seconds the Popen `proc` (stderr piped) takes to its end, with every descendant it waited for (os.wait4's
    usage); its exit code must be 0."""
    err = proc.stderr.read()  # to its end, when the process exits
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, err
    return usage.ru_utime + usage.ru_stime


def test_kills_at_random_moments_resume_to_the_reference(tmp_path, reference):
    """Each kill lands after a random part (20–95 %) of the CPU time a whole run takes (start-up included), not of
    wall time, so that a loaded machine does not move every kill into the start-up, and the first kill lands before
    the run's end on any machine."""
    whole = cpu_to_end(start_cli(*ARGS, "--rounds", "3", "--out", tmp_path / "whole"))
    rng = np.random.default_rng(11)
    for cpu in rng.uniform(0.2, 0.95, size=2) * whole:
        proc = start_cli(*ARGS, "--rounds", "3", "--out", tmp_path, *(["--resume"] if (tmp_path / FOLDER).exists()
                                                                      else []))
        procs.wait_for_cpu(proc, cpu)
        proc.kill()
        proc.communicate()
    resume = ["--resume"] if (tmp_path / FOLDER).exists() else []  # killed before its folder existed: start
    proc = run_main(*ARGS, "--rounds", "3", "--out", tmp_path, *resume)
    assert proc.returncode == 0, proc.stderr
    assert outcome(tmp_path / FOLDER) == reference


def interrupt_caught(out, ready, mid_run, *flags):
    """Ctrl-C (SIGINT) to a run into `out` caught (ctrl_c.ctrl_c_at) once ready(pid) holds, at a moment when
    mid_run() holds; (exit code, stderr lines)."""
    def start():
        shutil.rmtree(out, ignore_errors=True)
        return start_cli(*ARGS, *flags, "--out", out)

    code, err = ctrl_c_at(start, ready, mid_run, timeout=60)
    return code, err.strip().splitlines()


def test_ctrl_c_during_start_up_prints_one_line(tmp_path):
    """Caught 0.3 CPU seconds in (importing torch, reading the data), before it writes its run folder."""
    out = tmp_path / "out"
    code, err = interrupt_caught(out, lambda pid: procs.cpu_seconds(pid) >= 0.3,
                                 lambda: not (out / FOLDER / "rounds.csv").exists())
    assert code == 130 and err in ([starting_line("run.py")], [f"run.py: interrupted; {run.NOTHING_SAVED}"],
                                   [interrupted_line("run.py")]), (code, err)
    assert not (out / FOLDER / "rounds.csv").exists()


def test_ctrl_c_during_the_start_up_of_a_resume_says_its_folder_is_as_it_was(tmp_path, finished):
    """Caught 0.3 CPU seconds into a --resume (importing torch, reading the data), before it opens its run folder:
    the folder and its finished rounds are as they were (it said that nothing was saved, which invited --force)."""
    out = tmp_path / "out"

    def start():
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(finished, out / FOLDER)
        return start_cli(*ARGS, "--rounds", "3", "--out", out, "--resume")

    code, err = ctrl_c_at(start, lambda pid: procs.cpu_seconds(pid) >= 0.3,
                          lambda: snapshot(out / FOLDER) == snapshot(finished))
    assert code == 130 and err.strip().splitlines() in ([starting_line("run.py")], [
        "run.py: interrupted; the run folder was not opened yet, so nothing in it changed; continue with --resume"],
        [interrupted_line("run.py")]), (code, err)
    assert snapshot(out / FOLDER) == snapshot(finished)


@pytest.mark.parametrize("sig,code,stopped", [(signal.SIGTERM, 143, "terminated"), (signal.SIGHUP, 129, "hung up")])
def test_sigterm_mid_run_says_what_is_saved_and_the_resume_ends_as_an_undisturbed_run(tmp_path, finished, sig, code,
                                                                                      stopped):
    """SIGTERM (`kill`, a batch scheduler's time limit) or SIGHUP (a closed terminal) once a round is saved, before
    the run ends: one line saying what is saved and exit 143 or 129, as Ctrl-C's (each ended the process without a
    line); --resume then ends with the rows and queries of the undisturbed run."""
    out = tmp_path / "out"
    rounds = out / FOLDER / "rounds.csv"

    def start():
        shutil.rmtree(out, ignore_errors=True)
        return start_cli(*ARGS, "--rounds", "2", "--out", out)

    exit_code, err = ctrl_c_at(start, lambda pid: rounds.exists() and len(rounds.read_text().splitlines()) > 1,
                               lambda: not (out / FOLDER / "summary.json").exists(), timeout=60, sig=sig)
    n = len(rounds.read_text().splitlines()) - 1
    saved = f"{n} finished round{'s' * (n > 1)} saved in {out / FOLDER}; continue with --resume"
    assert (exit_code, err.strip().splitlines()[-1]) == (code, f"run.py: {stopped}; {saved}"), err
    assert "Traceback" not in err and n in (1, 2)
    proc = run_main(*ARGS, "--rounds", "2", "--out", out, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert outcome(out / FOLDER) == outcome(finished)


def test_a_run_under_nohup_outlives_a_sighup(tmp_path, finished):
    """A run started with SIGHUP ignored (`nohup`) keeps ignoring it: SIGHUP once a round is saved, before the run
    ends, and the run still ends as the undisturbed one, exit 0."""
    out = tmp_path / "out"

    def start():
        shutil.rmtree(out, ignore_errors=True)
        return start_cli(*ARGS, "--rounds", "2", "--out", out, hangup=signal.SIG_IGN)

    code, err = ctrl_c_at(start, lambda pid: procs.rows_written(out / FOLDER) >= 1,
                          lambda: not (out / FOLDER / "summary.json").exists(), timeout=60, sig=signal.SIGHUP)
    assert code == 0 and "hung up" not in err, err
    assert outcome(out / FOLDER) == outcome(finished)


@pytest.mark.parametrize("delay", [0.0, 0.1])
def test_ctrl_c_as_the_run_ends_says_it_had_ended_or_goes_unnoticed(tmp_path, delay):
    """Ctrl-C `delay` seconds after the run's last line (`run.py: done`), as main returns or Python shuts down: the
    run has ended, so the line says so (exit 130), or the exit is main's 0 with nothing more said. It said that
    nothing was saved, printed a KeyboardInterrupt traceback, or killed the process without a line."""
    ended = f"run.py: interrupted; the run had already ended; its 2 finished rounds are saved in {tmp_path / FOLDER}\n"
    for _ in range(3):
        proc = start_cli(*ARGS, "--rounds", "1", "--out", tmp_path, "--force")
        for line in proc.stderr:
            if line.startswith("run.py: done"):
                time.sleep(delay)
                proc.send_signal(signal.SIGINT)
                break
        rest = proc.stderr.read()
        assert (proc.wait(), rest) in ((0, ""), (130, ended)), (proc.returncode, rest)


def test_the_round_bar_is_finalized_with_ctrl_c_held_before_the_run_says_it_is_done(tmp_path, monkeypatch, capsys):
    """The run's progress bar is deleted, with Ctrl-C held (run.interrupt_held), before the `run.py: done` line. It
    was deleted as run_rounds returned, after that line: a Ctrl-C landing in its __del__ was printed by Python
    ("Exception ignored in: <function tqdm.__del__ ...> KeyboardInterrupt") and lost, and the run exited 0."""
    events, stop_note = [], run.stop_note
    record_bar_finalized(monkeypatch, events, "entropy on digits")
    monkeypatch.setattr(run, "stop_note", lambda *a: events.append(("done",)) or stop_note(*a))
    code, err = main(capsys, *ARGS, "--rounds", "1", "--out", tmp_path)
    assert code == 0 and err[-1].startswith("run.py: done"), err
    assert events == [("bar deleted", True), ("done",)]


def test_ctrl_c_mid_run_prints_one_line_and_resumes(tmp_path, reference):
    """Caught once round 0 is saved, before the run ends."""
    out = tmp_path / "out"
    code, err = interrupt_caught(out, lambda _: procs.rows_written(out / FOLDER) >= 1,
                                 lambda: not (out / FOLDER / "summary.json").exists(), "--rounds", "3")
    assert code == 130 and err[-1].startswith("run.py: interrupted; ") and "continue with --resume" in err[-1], err
    assert not any("Traceback" in line for line in err)
    assert run_main(*ARGS, "--rounds", "3", "--out", out, "--resume").returncode == 0
    assert outcome(out / FOLDER) == reference


@pytest.mark.parametrize("ended", [True, False])
def test_ctrl_c_while_a_resume_checks_the_folder_says_what_it_holds(stopped, monkeypatch, capsys, ended):
    """A Ctrl-C outside the rounds (here while a resume checks the folder; or after the summary is written) reports
    what the folder holds, not that nothing was saved."""
    if not ended:
        (stopped / "summary.json").unlink()

    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "open_run_dir", interrupted)
    code, err = main(capsys, *ARGS, "--rounds", "3", "--out", stopped.parent, "--resume")
    saved = f"3 finished rounds saved in {stopped}; continue with --resume"
    if ended:
        saved = f"the run had already ended; its 3 finished rounds are saved in {stopped}"
    assert code == 130 and err[-1] == f"run.py: interrupted; {saved}", err


# ---------------------------------------------------------------- write errors

def test_file_size_limit_stops_with_one_line_and_keeps_finished_rounds(stopped, reference):
    (stopped / "summary.json").unlink()
    before = outcome(stopped)
    proc = start_cli(*ARGS, "--rounds", "3", "--out", stopped.parent, "--resume",
                     limit_bytes=(stopped / "checkpoint.pt").stat().st_size - 1)
    _, err = proc.communicate(timeout=120)
    line = err.strip().splitlines()[-1]
    assert proc.returncode == 2 and "Traceback" not in err
    assert line.startswith("run.py: error: ") and "checkpoint.pt: File too large" in line
    assert line.endswith("fix the cause (the file-size limit: ulimit -f) and continue with --resume (every finished "
                         "round is kept)"), line
    rows, queries = outcome(stopped)
    assert rows[: len(before[0])] == before[0] and queries.startswith(before[1])  # round 3's rows may follow
    assert [p.name for p in stopped.iterdir() if p.name.startswith(".")] == [LOCK_NAME]  # no temporary file left
    assert run_main(*ARGS, "--rounds", "3", "--out", stopped.parent, "--resume").returncode == 0
    assert outcome(stopped) == reference


def test_a_first_round_stopped_by_a_file_size_limit_says_to_run_it_again_with_resume(tmp_path):
    """Round 0's rows were written and its checkpoint was not: the line said "run it again", and the same command
    was then refused (the folder holds the run's files); with --resume, as it now says, round 0 runs again."""
    proc = start_cli(*ARGS, "--kernel", "off", "--rounds", "1", "--out", tmp_path, limit_bytes=10_000)
    _, err = proc.communicate(timeout=120)
    line = err.strip().splitlines()[-1]
    assert proc.returncode == 2 and "checkpoint.pt: File too large" in line, err
    assert line.endswith("and run it again with --resume (no round had finished; it starts from round 0)"), line
    assert run_main(*ARGS, "--kernel", "off", "--rounds", "1", "--out", tmp_path, "--resume").returncode == 0


def test_a_run_folder_this_user_may_not_read_is_not_said_to_hold_no_round(finished, monkeypatch):
    """Another user's run folder (mode 700) hid its checkpoint, and the error's advice said that no round had
    finished ("run it again"). Root reads every folder, so the refusal is what os.access answers for it."""
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: access(path, mode) and Path(path) != finished)
    assert run.after_failure(results.RunDir(finished)) == (
        f"continue with --resume (this user may not read {finished}, so its finished rounds are unknown)")


def test_a_failed_write_of_the_lock_names_the_lock_file(tmp_path):
    proc = start_cli(*ARGS, "--kernel", "off", "--rounds", "1", "--out", tmp_path, limit_bytes=0)  # no byte fits
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in err, err  # joblib warns that it cannot make semaphores
    assert err.strip().splitlines()[-1].startswith(f"run.py: error: {tmp_path / FOLDER / LOCK_NAME}: File too large")
    assert err.strip().endswith("and run it again (no round had finished)"), err


def test_an_out_folder_that_cannot_be_made_is_one_error_that_does_not_offer_resume(capsys):
    code, err = main(capsys, *ARGS, "--rounds", "1", "--out", "/proc/no/out")
    assert code == 2 and err == ["run.py: error: /proc/no: No such file or directory; fix the cause (disk space, "
                                 "permissions, --out) and run it again (no round had finished)"], err


def test_an_out_folder_in_a_run_folder_is_refused(tmp_path, capsys):
    """--out naming a run folder (or a folder in one) put a second run inside the first, which the analysis of the
    results folder then dropped as a duplicate."""
    (tmp_path / FOLDER).mkdir()
    (tmp_path / FOLDER / "config.json").write_text("{}")
    (tmp_path / FOLDER / "rounds.csv").write_text("round\n")
    for out in (tmp_path / FOLDER, tmp_path / FOLDER / "more"):
        assert_refused(*main(capsys, *ARGS, "--out", out), f"--out {out} lies in the run folder {tmp_path / FOLDER}; "
                       f"give the results folder that holds the runs (e.g. {tmp_path})")
    assert sorted(p.name for p in (tmp_path / FOLDER).iterdir()) == ["config.json", "rounds.csv"]


def test_a_file_that_cannot_be_read_names_the_flag_that_chose_it(tmp_path):
    """An OSError's file is named with the flag that chose it (an unreadable --data file blamed --out)."""
    args = run.build_parser().parse_args(["--data", str(tmp_path / "d.csv"), "--test", str(tmp_path / "t.csv"),
                                          "--path", str(tmp_path / "data"), "--out", str(tmp_path / "data" / "out")])
    assert [run.where_written(str(tmp_path / f), args) for f in ("d.csv", "t.csv", "data/MNIST/x",
                                                                  "data/out/r/rounds.csv", "elsewhere")] \
        == ["--data", "--test", "--path", "--out", "--out"]


@pytest.mark.parametrize("mode", ["fresh", "--force"])
def test_a_start_keeps_the_files_of_the_folder_that_run_py_never_writes(mode, tmp_path, capsys):
    """A fresh start (into a folder without a run) and --force deleted every file in the run folder: a user's
    notes, a hidden file."""
    folder = tmp_path / FOLDER
    folder.mkdir()
    (folder / "NOTES.txt").write_text("seed 3: the rerun\n")
    (folder / ".hidden").write_text("x\n")
    argv = [*ARGS, "--rounds", "1", "--out", tmp_path]
    if mode == "--force":
        assert main(capsys, *argv)[0] == 0
    code, err = main(capsys, *argv, *(["--force"] if mode == "--force" else []))
    assert code == 0, err
    assert (folder / "NOTES.txt").read_text() == "seed 3: the rerun\n" and (folder / ".hidden").read_text() == "x\n"
    assert len((folder / "rounds.csv").read_text().splitlines()) == 3


@pytest.mark.parametrize("mode", ["fresh", "--force"])
def test_a_planted_lock_link_is_never_followed(mode, tmp_path, capsys):
    (tmp_path / FOLDER).mkdir()
    link_to_victim(LOCK_NAME)(tmp_path / FOLDER)
    argv = [*ARGS, "--rounds", "1", "--out", tmp_path, *(["--force"] if mode == "--force" else [])]
    assert_refused(*main(capsys, *argv), LOCK_NAME, "symbolic link")
    assert (tmp_path / "victim.txt").read_bytes() == VICTIM


# ---------------------------------------------------------------- flags and data

@pytest.mark.parametrize("flags,fragment", [
    (["--seed", "-1"], "--seed"),
    (["--dummy", "-1"], "--dummy"),
    (["--nEmb", str(10**12)], "lower --nEmb"),
    (["--threads", "2147483648"], "--threads 2147483648"),
])
def test_bad_flags_are_one_line(flags, fragment, tmp_path, capsys):
    argv = [a for a in ARGS if a not in ("--seed", "3")] if "--dummy" in flags else ARGS
    assert_refused(*main(capsys, *argv, *flags, "--out", tmp_path), fragment)
    assert not any(tmp_path.iterdir())


def test_zero_feature_data_is_refused(tmp_path, capsys):
    np.savez(tmp_path / "empty.npz", X=np.zeros((100, 0)), y=np.arange(100) % 2)
    assert_refused(*main(capsys, *ARGS, "--data", tmp_path / "empty.npz", "--out", tmp_path / "out"), "no columns")


@pytest.mark.parametrize("y", [np.zeros(300, dtype=[("a", "i4"), ("b", "f8")]), np.zeros(300, dtype="V4")],
                         ids=["structured", "void"])
def test_labels_of_an_odd_dtype_are_refused(y, tmp_path, capsys):
    np.savez(tmp_path / "odd.npz", X=np.random.default_rng(0).normal(size=(300, 4)), y=y)
    assert_refused(*main(capsys, *ARGS, "--data", tmp_path / "odd.npz", "--out", tmp_path / "out"), "odd.npz",
                   "y has dtype")


def test_a_csv_too_wide_to_load_quickly_is_refused_at_once(tmp_path, capsys):
    (tmp_path / "wide.csv").write_bytes((b"0," * 1_000_000 + b"1\n") * 6 + (b"1," * 1_000_000 + b"0\n") * 6)
    started = time.monotonic()
    assert_refused(*main(capsys, *ARGS, "--data", tmp_path / "wide.csv", "--out", tmp_path / "out"), "wide.csv",
                   "more than 10000 columns", ".npz")
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("script,argv", [
    ("run.py", ["--see", "5"]),
    ("run.py", ["--forc"]),
    ("sweep.py", ["--algs", "rand", "--seeds", "1,2", "--see", "5", "--dry-run"]),
    ("sweep.py", ["--algs", "rand", "--forc", "--dry-run"]),
])
def test_no_flag_is_abbreviated(script, argv, tmp_path, capsys):
    if script == "run.py":
        with pytest.raises(SystemExit) as stop:
            run.main([*argv, "--out", str(tmp_path)])
        code = stop.value.code
    else:
        code = sweep.main([*argv, "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    abbreviated = next(a for a in argv if a in ("--see", "--forc"))
    assert code == 2 and len(err) == 1 and f"unrecognized arguments: {abbreviated}" in err[0], err
    assert not any(tmp_path.iterdir())


def test_sweep_into_an_out_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    for extra in ([], ["--dry-run"]):
        assert sweep.main(["--algs", "rand", "--seeds", "1", "--out", str(tmp_path / "afile"), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "afile is a file" in err[0], err
    assert (tmp_path / "afile").read_text() == ""


def test_a_run_into_an_out_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    for extra in ([], ["--resume"]):
        assert_refused(*main(capsys, *ARGS, "--out", tmp_path / "afile", *extra), "afile is a file, not a results "
                       "folder; move it away or use another --out")
    assert (tmp_path / "afile").read_text() == ""


@pytest.mark.parametrize("segments", [None, "x", [1], {"from_round": 0}])
def test_garbled_segments_are_refused_before_the_resume_changes_anything(tmp_path, capsys, segments):
    flags = [*ARGS, "--out", tmp_path, "--rounds", "1"]
    assert main(capsys, *flags)[0] == 0
    folder = tmp_path / FOLDER
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(config, segments=segments)))
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert_refused(*main(capsys, *ARGS, "--out", tmp_path, "--rounds", "2", "--resume"),
                   "config.json: segments is not a list of records, as run.py writes it; start the run again "
                   "with --force")
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


def test_a_run_resumed_on_another_device_warns_and_records_it(tmp_path, capsys):
    flags = [*ARGS, "--out", tmp_path]
    assert main(capsys, *flags, "--rounds", "1")[0] == 0
    path = tmp_path / FOLDER / "config.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), device="cuda")))  # as if started on a GPU
    with pytest.warns(UserWarning, match=f"{FOLDER} started on cuda and continues on cpu; its float rounding"):
        assert main(capsys, *flags, "--rounds", "2", "--resume")[0] == 0
    config = json.loads(path.read_text())
    assert config["device"] == "cuda" and config["segments"][-1]["device"] == "cpu"


def test_a_run_resumed_with_another_build_of_the_compiled_epoch_warns_and_records_it(tmp_path, capsys):
    """Resumed where the compiled epoch is another build (another CPU or compiler, as on another machine), a run
    goes on with a warning, as on another device, and each segment records its build (it went on silently)."""
    flags = [*ARGS, "--out", tmp_path]
    assert main(capsys, *flags, "--rounds", "1")[0] == 0
    path = tmp_path / FOLDER / "config.json"
    config = json.loads(path.read_text())
    if config["trainer"] != "compiled":
        pytest.skip("the compiled mlp epoch does not build here")
    built_here = config["trainer_identity"]
    other = dict(built_here, cpu_flags_sha256="0" * 64)  # as if started on another CPU
    path.write_text(json.dumps(dict(config, trainer_identity=other)))
    with pytest.warns(UserWarning, match=f"{FOLDER} started with another build of the compiled mlp epoch than this "
                                         f"one"):
        assert main(capsys, *flags, "--rounds", "2", "--resume")[0] == 0
    config = json.loads(path.read_text())
    assert config["trainer_identity"] == other and config["segments"][-1]["trainer_identity"] == built_here


def test_a_hand_edited_trainer_is_refused_before_the_resume_changes_anything(tmp_path, capsys):
    """A resume trains with the trainer config.json records; one edited there is refused, naming the checkpoint's
    (it switched a resumed run's trainer silently). A checkpoint of an older version records none and passes."""
    flags = [*ARGS, "--out", tmp_path]
    assert main(capsys, *flags, "--rounds", "1")[0] == 0
    folder = tmp_path / FOLDER
    config = json.loads((folder / "config.json").read_text())
    other = {"torch": "compiled", "compiled": "torch"}[config["trainer"]]
    (folder / "config.json").write_text(json.dumps(dict(config, trainer=other)))
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert_refused(*main(capsys, *flags, "--rounds", "2", "--resume"),
                   f"checkpoint.pt was written by a run that started with trainer {config['trainer']!r}, and its "
                   f"config.json says {other!r}; set config.json's \"trainer\" back to {config['trainer']!r} or "
                   f"start the run again with --force")
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
    resume.check_trainer({"round": 0}, {"trainer": "compiled"}, folder / "checkpoint.pt")


def test_config_records_each_segment_of_a_resumed_run(tmp_path, capsys):
    flags = [*ARGS, "--out", tmp_path]
    assert main(capsys, *flags, "--rounds", "1", "--threads", "1")[0] == 0
    assert main(capsys, *flags, "--rounds", "1", "--threads", "2", "--resume")[0] == 0  # finished: no new segment
    with pytest.warns(UserWarning, match=f"{FOLDER} started with --threads 1 and continues with --threads 2; its "
                                         f"float rounding, and so its picks, can differ from here on"):
        assert main(capsys, *flags, "--rounds", "3", "--threads", "2", "--kernel", "off", "--resume")[0] == 0
    config = json.loads((tmp_path / FOLDER / "config.json").read_text())
    segments = [{k: v for k, v in s.items() if k not in ("started", "trainer_identity")} for s in config["segments"]]
    assert [s["trainer_identity"]["path"] for s in config["segments"]] == [config["trainer"], "torch"]
    assert segments == [{"from_round": 0, "threads": 1, "trainer": config["trainer"], "kernel": "auto",
                         "device": "cpu"},
                        {"from_round": 2, "threads": 2, "trainer": "torch", "kernel": "off", "device": "cpu"}]
    assert all(time.strptime(s["started"], "%Y-%m-%dT%H:%M:%S") for s in config["segments"])
    assert config["threads"] == 1 and config["kernel"] == "auto"  # the keys of the first start stay as they were
    assert results.result_settings(config)["threads"] == "1+2"  # the analysis and a sweep never take it for one


@pytest.mark.parametrize("seed", ["-5", str(2**64)])
def test_a_seed_out_of_range_is_refused_through_the_real_cli(tmp_path, seed):
    """2^64 ran, and its run folder's seed then stopped agg_results with a traceback (pandas' OverflowError)."""
    proc = run_cli(*ARGS, "--seed", seed, "--out", tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"run.py: error: the seed must be from 0 to 2^64 - 1, got {seed} (--seed); give a seed in that range"]
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------- sweep and agg_results over damaged folders

@pytest.mark.parametrize("damage,action", [
    (lambda f: None, "skip"),
    (lambda f: (f / "summary.json").write_bytes(b"\xff"), "resume"),
    (CORRUPTIONS["summary.json hand-written"][0], "resume"),
    (other_summary, "resume"),
    (fifo("summary.json"), "resume"),
    (forged_checkpoint(round=7), "resume"),
], ids=["intact", "garbled", "hand-written", "another seed's", "FIFO", "forged round"])
def test_sweep_dry_run_skips_only_a_summary_that_agrees_with_the_run(damage, action, stopped, capsys):
    damage(stopped)
    capsys.readouterr()
    code = sweep.main(["--algs", "entropy", "--seeds", "3", "--nQuery", "20", "--out", str(stopped.parent),
                       "--dry-run", "--rounds", "2", *ARGS[4:6], *ARGS[8:]])
    assert code == 0
    assert capsys.readouterr().out.startswith(action)


def test_agg_results_skips_broken_run_folders_and_lists_them(finished, tmp_path, capsys):
    for name in ("good", "bad_config", "bad_rounds"):
        shutil.copytree(finished, tmp_path / name / FOLDER)
    (tmp_path / "bad_config" / FOLDER / "config.json").write_text("[")
    replace_line(tmp_path / "bad_rounds" / FOLDER / "rounds.csv", 2, b"1,forty,0.5")
    broken = []
    with pytest.warns(UserWarning, match="skipping broken run folder"):
        table = agg_read.load_results([tmp_path], broken=broken)
    assert table.source.unique().tolist() == [str(tmp_path / "good" / FOLDER)]
    assert sorted(broken) == [tmp_path / "bad_config" / FOLDER, tmp_path / "bad_rounds" / FOLDER]
    shutil.rmtree(tmp_path / "good")
    with pytest.warns(UserWarning):
        assert agg_results.main([str(tmp_path), "--fig", str(tmp_path / "fig")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "skipped 2 broken run folder(s)" in err[0]


def test_every_rounds_column_has_a_parser():
    assert list(results.ROUND_PARSERS) == results.ROUND_COLUMNS  # a new column needs its parser too
    header = ",".join(results.ROUND_COLUMNS) + "\n"
    good = ",".join("target" if c == "train_stop" else "1" for c in results.ROUND_COLUMNS) + "\n"
    assert results.parse_table((header + good + good[:5]).encode(), "r.csv", results.ROUND_COLUMNS,
                               results.ROUND_PARSERS)[0]["round"] == 1  # the torn tail is left out
    with pytest.raises(results.StateError, match="r.csv line 3 is garbled"):
        results.parse_table((header + good + "1,x" + good[3:]).encode(), "r.csv", results.ROUND_COLUMNS,
                            results.ROUND_PARSERS)
    with pytest.raises(results.StateError, match="r.csv line 2 is garbled"):  # an unknown stopping reason
        results.parse_table((header + good.replace("target", "tired")).encode(), "r.csv", results.ROUND_COLUMNS,
                            results.ROUND_PARSERS)


def test_a_run_without_resume_or_force_never_overwrites_a_damaged_folder(stopped, capsys):
    (stopped / "rounds.csv").unlink()
    before = snapshot(stopped)
    assert_refused(*main(capsys, *ARGS, "--rounds", "3", "--out", stopped.parent), "already holds results")
    assert snapshot(stopped) == before


def test_force_over_a_directory_in_place_of_the_checkpoint_is_one_line(stopped, capsys):
    into_directory(stopped / "checkpoint.pt")
    assert_refused(*main(capsys, *ARGS, "--rounds", "3", "--out", stopped.parent, "--force"),
                   "checkpoint.pt is a directory")


# ---------------------------------------------------------------- sweeps stopped at random moments, sweeps side by
# side, analysis beside a run, memory

SWEEP = ["--algs", "entropy", "--seeds", "3,4", *ARGS[4:], "--rounds", "2", "--workers", "2"]
SWEEP_RUNS = [FOLDER, FOLDER.replace("seed3", "seed4")]


@pytest.fixture(scope="module")
def sweep_reference(tmp_path_factory):
    """(the undisturbed sweep's output folder, the CPU seconds it took with its workers)."""
    out = tmp_path_factory.mktemp("sweep_reference")
    return out, cpu_to_end(start_sweep(out))


def start_sweep(out):
    """scripts/sweep.py in a new session (its process group is its pid); its workers make their own groups."""
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / "sweep.py"), *SWEEP, "--out", str(out)],
                            cwd=ROOT, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def group_alive(pgid):
    """Whether any process of group `pgid` is left (zombies included until reaped)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def assert_groups_end(pgids, timeout=15.0):
    deadline = time.monotonic() + timeout
    while any(group_alive(g) for g in pgids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [g for g in pgids if group_alive(g)], "a sweep worker outlived its sweep"


def assert_sweep_outcome(out, reference):
    """Every run of the sweep complete, with the reference's rows (each round once) and queries."""
    for name in SWEEP_RUNS:
        assert outcome(out / name) == outcome(reference / name), name


@pytest.mark.parametrize("sig,seed", [(signal.SIGKILL, 1), (signal.SIGINT, 2), (signal.SIGKILL, 3)])
def test_a_sweep_stopped_at_a_random_moment_reruns_to_the_reference(sig, seed, sweep_reference, tmp_path):
    """The moment is a random part (10–90 %) of the CPU time the undisturbed sweep and its workers took, not of wall
    time, so that a loaded machine does not move every stop into the workers' start-up, and the stop lands before
    the sweep's end on any machine."""
    reference, cpu = sweep_reference
    proc = start_sweep(tmp_path)
    procs.wait_for_cpu(proc, np.random.default_rng(seed).uniform(0.1, 0.9) * cpu, used=procs.tree_cpu_seconds)
    groups = {proc.pid} | set(filter(None, map(procs.group_of, procs.children(proc.pid))))
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert_groups_end(groups)
    assert sweep.main([*SWEEP, "--out", str(tmp_path)]) == 0
    assert_sweep_outcome(tmp_path, reference)


def test_two_sweeps_side_by_side_into_one_out(sweep_reference, tmp_path):
    first, second = start_sweep(tmp_path), start_sweep(tmp_path)
    for proc in (first, second):
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0 and "Traceback" not in err and "FAILED" not in err, err  # they share the runs
    assert sweep.main([*SWEEP, "--out", str(tmp_path)]) == 0
    assert_sweep_outcome(tmp_path, sweep_reference[0])


def test_analysis_beside_a_running_run_never_fails(finished, tmp_path):
    proc = start_cli(*ARGS, "--rounds", "2", "--out", tmp_path)
    reads = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a folder read between its files' writes is skipped with a warning
        while proc.poll() is None:
            agg_read.load_results([tmp_path], broken=[])
            reads += 1
    assert proc.wait() == 0 and reads > 0
    table = agg_read.load_results([tmp_path])
    assert table.test_acc.tolist() == [float(r[2]) for r in outcome(finished)[0][1:]]


def test_out_of_memory_on_a_huge_n_emb_is_one_line(tmp_path):
    # the address space of a 6 GiB machine: --nEmb 1500000 on MNIST (784 inputs, a 100-image pool) passes the check
    # (19.7 GB of physical memory needed), then the first layer's 4.7 GB of weights cannot be allocated
    limit = 6 * 2**30
    mnist = ["--data", "MNIST", "--path", SHARED_DATA, "--trunc", "100"]
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *ARGS[:10], *mnist, "--nEmb", "1500000",
                             "--maxEpochs", "2", "--kernel", "off", "--out", str(tmp_path)], cwd=ROOT, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("run.py: error: out of memory; lower --nEmb")
