"""Nothing lost: a run killed at any moment continues with --resume and ends with exactly the rows (and queries)
of an uninterrupted run with the same seed.

Moments tried: SIGKILL after 1 and after 3 finished rounds (in training or querying the next one); a torn last
line in rounds.csv and queries.csv (a kill while appending); a crash after the round's rows were written but
before its checkpoint was saved; a kill before the first round finished; a kill in the middle of a round's training,
continued from its snapshot (training.pt)."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings

import pytest
import torch

import results
import run
import procs
from cli import ROOT, accuracy_lines, assert_one_line_error, run_main
from runlock import run_folder_lock
from scripts import sweep

ARGS = ["--alg", "bald", "--seed", "7", "--nStart", "40", "--nQuery", "40", "--nEnd", "200", "--maxEpochs", "150"]
FOLDER = "digits_mlp_bald_40_seed7"
DETERMINISTIC = ["round", "n_labeled", "test_acc", "balanced_acc", "rarest_labeled", "train_acc", "train_epochs",
                 "train_stop", "restarts"]
OLD_DETERMINISTIC = [c for c in DETERMINISTIC if c in results.OLD_ROUND_COLUMNS]


def deterministic_columns(folder, columns=DETERMINISTIC):
    """rounds.csv restricted to the `columns` that do not depend on timing, as text."""
    lines = (folder / "rounds.csv").read_text().splitlines()
    header = lines[0].split(",")
    keep = [header.index(c) for c in columns]
    return [",".join(line.split(",")[i] for i in keep) for line in lines]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    proc = run_main(*ARGS, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out / FOLDER, proc


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """stopped_run(n, out): out/FOLDER becomes a copy of a run of ARGS stopped by --rounds n (made once per module
    for each n); returns out."""
    made = {}

    def copy(n, out):
        if n not in made:
            made[n] = tmp_path_factory.mktemp(f"rounds{n}")
            assert run_main(*ARGS, "--out", made[n], "--rounds", n).returncode == 0
        shutil.copytree(made[n] / FOLDER, out / FOLDER)
        return out
    return copy


def same_as_reference(folder, reference):
    ref_folder, _ = reference
    assert deterministic_columns(folder) == deterministic_columns(ref_folder)
    assert (folder / "queries.csv").read_text() == (ref_folder / "queries.csv").read_text()
    assert (folder / "summary.json").is_file()


def kill_after_rounds(out, n_rounds, part_of_a_round):
    """Start a real run, SIGKILL it once `n_rounds` rounds are finished, i.e. once it reports round n_rounds − 1 on
    stderr (the line follows that round's rows and checkpoint), plus `part_of_a_round` times the CPU time the round
    before took (so the kill lands inside the next round, at the same point of its work however loaded the
    machine is). A test that reads the line late on a loaded machine may find the run ended: it then starts again,
    up to five times."""
    for _ in range(5):
        shutil.rmtree(out / FOLDER, ignore_errors=True)
        proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *ARGS, "--out", str(out)], cwd=ROOT,
                                text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        reported = {}  # round -> CPU seconds the run had used when it reported the round
        for line in proc.stderr:
            if m := re.match(r"round (\d+): ", line):
                reported[int(m[1])] = procs.cpu_seconds(proc.pid)
                if int(m[1]) == n_rounds - 1:
                    break
        assert n_rounds - 1 in reported, "the run ended before it reported the round"
        now = reported[n_rounds - 1]
        procs.wait_for_cpu(proc, now + part_of_a_round * (now - reported.get(n_rounds - 2, now)))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        if proc.returncode == -signal.SIGKILL:
            return
    raise AssertionError("the run finished before it could be killed, in each of 5 tries")


@pytest.mark.slow
@pytest.mark.parametrize("n_rounds,delay", [(1, 0.0), (3, 0.3)])  # delay: a part of a round's CPU time
def test_sigkill_then_resume_matches_an_uninterrupted_run(n_rounds, delay, tmp_path, reference):
    kill_after_rounds(tmp_path, n_rounds, delay)
    assert not (tmp_path / FOLDER / "summary.json").exists()
    checkpointed = (tmp_path / FOLDER / "checkpoint.pt").exists()  # a kill before round 0's checkpoint: afresh
    proc = run_main(*ARGS, "--out", tmp_path, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert ("resuming" in proc.stderr) == checkpointed
    same_as_reference(tmp_path / FOLDER, reference)
    assert accuracy_lines(proc.stdout) == accuracy_lines(reference[1].stdout)  # the whole log, earlier rounds too


@pytest.mark.slow
def test_torn_last_lines_are_repaired(tmp_path, reference):
    kill_after_rounds(tmp_path, 2, 0.0)
    folder = tmp_path / FOLDER
    with open(folder / "rounds.csv", "a") as f:
        f.write("9,123,0.5")  # a row cut off mid-write
    with open(folder / "queries.csv", "a") as f:
        f.write("9,1")
    assert run_main(*ARGS, "--out", tmp_path, "--resume").returncode == 0
    same_as_reference(folder, reference)


class Crash(Exception):
    pass


@pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")
def test_crash_between_rows_and_checkpoint(tmp_path, reference, monkeypatch, capsys):
    save = results.RunDir.save_checkpoint

    def crash_in_round_2(self, state):
        if state["round"] == 2:
            raise Crash
        save(self, state)

    monkeypatch.setattr(results.RunDir, "save_checkpoint", crash_in_round_2)
    with pytest.raises(Crash):
        run.main([*ARGS, "--out", str(tmp_path)])
    assert len((tmp_path / FOLDER / "rounds.csv").read_text().splitlines()) == 4  # rows of round 2 written
    monkeypatch.setattr(results.RunDir, "save_checkpoint", save)
    assert run.main([*ARGS, "--out", str(tmp_path), "--resume"]) == 0
    same_as_reference(tmp_path / FOLDER, reference)


def test_resume_before_any_round_finished_starts_afresh(tmp_path, reference):
    folder = tmp_path / FOLDER
    folder.mkdir(parents=True)
    (folder / "rounds.csv").write_text("round,n_labeled\n0,4")
    proc = run_main(*ARGS, "--out", tmp_path, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "run.py: no checkpoint: starting from round 0" in proc.stderr.splitlines()
    same_as_reference(folder, reference)


def test_resume_of_a_finished_run_changes_nothing(reference):
    folder, _ = reference
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".lock"}  # the lock names its holder
    proc = run_main(*ARGS, "--out", folder.parent, "--resume")
    assert proc.returncode == 0 and "already finished" in proc.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".lock"} == before


@pytest.mark.slow
def test_resume_extends_a_finished_run_to_a_larger_budget(tmp_path, reference):
    short = [a if a != "200" else "160" for a in ARGS]
    assert run_main(*short, "--out", tmp_path).returncode == 0
    assert run_main(*ARGS, "--out", tmp_path, "--resume").returncode == 0
    same_as_reference(tmp_path / FOLDER, reference)


def test_a_checkpoint_written_on_cuda_resumes_on_a_machine_without_it(tmp_path, reference, stopped_run, monkeypatch):
    """checkpoint.pt as a --device cuda run writes it (torch.save tags each storage with the location that
    torch.serialization.location_tag gives: here CUDA's, as on a GPU) resumes on this CPU-only machine to the
    reference's rows. It was refused as unreadable (torch.load put the tensors back on a CUDA device)."""
    folder = stopped_run(1, tmp_path) / FOLDER
    state = results.load_state(folder / "checkpoint.pt", "a checkpoint", "")
    with monkeypatch.context() as patched:
        patched.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        results.save_state(folder / "checkpoint.pt", state)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(folder / "checkpoint.pt", weights_only=True)
    proc = run_main(*ARGS, "--out", tmp_path, "--resume")
    assert proc.returncode == 0, proc.stderr
    same_as_reference(folder, reference)


def test_resume_with_other_flags_is_refused(tmp_path, stopped_run):
    stopped_run(1, tmp_path)
    changed = [a if a != "150" else "151" for a in ARGS]
    assert_one_line_error(run_main(*changed, "--out", tmp_path, "--resume"), "maxEpochs", "same flags")


def test_resume_below_the_rounds_a_run_has_made_is_refused_and_changes_nothing(tmp_path, stopped_run):
    """An unfinished run of 2 query rounds (120 labels) resumed with --nEnd 80: refused, its folder as it was (it
    ended at once as "done ... budget reached" with 120 labelled and config.json saying nEnd 80)."""
    stopped_run(2, tmp_path)
    (tmp_path / FOLDER / "summary.json").unlink()
    before = {p.name: p.read_bytes() for p in (tmp_path / FOLDER).iterdir() if p.name != ".lock"}
    smaller = [a if a != "200" else "80" for a in ARGS]
    assert_one_line_error(run_main(*smaller, "--out", tmp_path, "--resume"), "has run 2 query rounds (120 labelled), "
                          "more than --nEnd and --rounds now allow (1); raise them to continue it")
    assert {p.name: p.read_bytes() for p in (tmp_path / FOLDER).iterdir() if p.name != ".lock"} == before


def test_corrupt_checkpoint_is_reported(tmp_path, stopped_run):
    stopped_run(1, tmp_path)
    (tmp_path / FOLDER / "checkpoint.pt").write_bytes(b"not a checkpoint")
    (tmp_path / FOLDER / "summary.json").unlink()
    assert_one_line_error(run_main(*ARGS, "--out", tmp_path, "--resume"), "cannot be read", "--force")


@pytest.mark.slow
def test_resume_accepts_the_same_data_spelled_differently(tmp_path, stopped_run):
    stopped_run(1, tmp_path)
    (tmp_path / FOLDER / "summary.json").unlink()
    assert run_main(*ARGS, "--out", tmp_path, "--rounds", "2", "--data", "digits", "--resume").returncode == 0
    config = (tmp_path / FOLDER / "config.json").read_text()
    assert '"rounds": 2' in config  # the budget a resumed run went on to is recorded


def test_resume_trains_as_the_run_started(tmp_path, reference, stopped_run):
    """A run started with --kernel off continues with PyTorch when resumed without the flag, and ends as an
    uninterrupted --kernel off run; one started with the compiled epoch and resumed with --kernel off warns."""
    torch_out, torch_ref = tmp_path / "torch", tmp_path / "torch-reference"
    assert run_main(*ARGS, "--kernel", "off", "--out", torch_ref).returncode == 0
    assert run_main(*ARGS, "--kernel", "off", "--out", torch_out, "--rounds", "2").returncode == 0
    proc = run_main(*ARGS, "--out", torch_out, "--resume")
    assert proc.returncode == 0 and "compiled" not in proc.stderr, proc.stderr
    same_as_reference(torch_out / FOLDER, (torch_ref / FOLDER, None))
    weights = [torch.load(out / FOLDER / "checkpoint.pt", weights_only=True)["learner"]["model"]
               for out in (torch_out, torch_ref)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])  # the same last network, bit for bit
    assert json.loads((torch_out / FOLDER / "config.json").read_text())["trainer"] == "torch"
    if json.loads((reference[0] / "config.json").read_text())["trainer"] == "compiled":
        compiled_out = stopped_run(2, tmp_path / "compiled")
        proc = run_main(*ARGS, "--out", compiled_out, "--resume", "--kernel", "off")
        assert proc.returncode == 0, proc.stderr
        assert "started with the compiled mlp epoch" in proc.stderr and "continues with PyTorch" in proc.stderr


@pytest.mark.parametrize("width", [2, 3])
def test_a_run_of_an_older_version_resumes_in_its_own_queries_format(width, tmp_path, reference, stopped_run, capsys):
    """A run folder an older version wrote (queries.csv without its `score` column, or without `row` too;
    rounds.csv without balanced_acc and rarest_labeled; summary.json without run id and labels) is resumed and
    extended in that format, ending with the reference run's rows and picks."""
    stopped_run(2, tmp_path)
    folder, ref_folder = tmp_path / FOLDER, reference[0]
    queries, rounds = folder / "queries.csv", folder / "rounds.csv"
    queries.write_text("".join(",".join(line.split(",")[:width]) + "\n" for line in queries.read_text().splitlines()))
    lines = [line.split(",") for line in rounds.read_text().splitlines()]
    old = [lines[0].index(c) for c in results.OLD_ROUND_COLUMNS]
    rounds.write_text("".join(",".join(fields[i] for i in old) + "\n" for fields in lines))
    state = torch.load(folder / "checkpoint.pt", weights_only=True)
    torch.save(dict(state, files=results.RunDir(folder).file_marks()), folder / "checkpoint.pt")
    summary = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps({k: summary[k] for k in ("stopped_by", "rounds")}))
    assert run.main([*ARGS, "--out", str(tmp_path), "--resume"]) == 0, capsys.readouterr().err
    assert rounds.read_text().splitlines()[0] == ",".join(results.OLD_ROUND_COLUMNS)
    assert deterministic_columns(folder, OLD_DETERMINISTIC) == deterministic_columns(ref_folder, OLD_DETERMINISTIC)
    assert queries.read_text() == "".join(",".join(line.split(",")[:width]) + "\n"
                                          for line in (ref_folder / "queries.csv").read_text().splitlines())


def snapshot_in_flight(folder):
    """training.pt's content when it holds the training of the round after the last checkpoint (round 0 without
    one), else None."""
    if not (folder / "training.pt").exists():
        return None
    snap = torch.load(folder / "training.pt", weights_only=True)
    checkpoint = folder / "checkpoint.pt"
    done = torch.load(checkpoint, weights_only=True)["round"] if checkpoint.exists() else -1
    return snap if snap["round"] == done + 1 else None


def kill_mid_training(out, first_round=1, extra=()):
    """Start a real run (ARGS and `extra`) saving its training after every epoch; freeze it (SIGSTOP) when
    training.pt holds the training in flight of round `first_round` or a later one, then SIGKILL it. Returns
    (round, epoch) of that snapshot."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *ARGS, *extra, "--snapshotEvery", "1e-6", "--out",
                             str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = out / FOLDER
    try:
        while proc.poll() is None:
            if (folder / "training.pt").exists():
                proc.send_signal(signal.SIGSTOP)
                snap = snapshot_in_flight(folder)
                if snap and snap["round"] >= first_round:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    return snap["round"], snap["training"]["progress"][0]
                proc.send_signal(signal.SIGCONT)
            time.sleep(0.001)
    finally:
        proc.kill()
        proc.wait()
    pytest.fail(f"the run ended before a snapshot of round {first_round}'s training or a later one was seen")


@pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")
@pytest.mark.parametrize("first_round", [0, 1])
def test_a_kill_mid_training_continues_that_training_from_its_snapshot(first_round, tmp_path, reference):
    """Saving the training every epoch changes no result; killed mid-round, --resume continues that round's
    training from its snapshot (said on stderr) and ends as the uninterrupted run, its snapshot removed. In the
    first round, before any checkpoint, the resume starts afresh but keeps the run's id and its snapshot."""
    rd, epoch = kill_mid_training(tmp_path, first_round)
    run_id = json.loads((tmp_path / FOLDER / "config.json").read_text())["run_id"]
    proc = run_main(*ARGS, "--out", tmp_path, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert f"run.py: round {rd} continues its training from epoch {epoch} (training.pt)" in proc.stderr, proc.stderr
    assert ("no checkpoint: starting from round 0" in proc.stderr) == (rd == 0)
    same_as_reference(tmp_path / FOLDER, reference)
    assert json.loads((tmp_path / FOLDER / "config.json").read_text())["run_id"] == run_id
    assert not (tmp_path / FOLDER / "training.pt").exists()


@pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")
def test_a_first_round_snapshot_resumed_with_other_flags_is_refused_and_kept(tmp_path):
    """Resumed with other result-changing flags before its first checkpoint, a run started afresh, throwing away
    the first round's training (hours for a cnn), where a round later the same typo is refused: it is refused now
    too, naming the flag, with the folder unchanged; --force starts afresh, with another run id."""
    kill_mid_training(tmp_path, 0)
    folder = tmp_path / FOLDER
    files = lambda: {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".lock"}  # noqa: E731
    before = files()
    other = [a if a != "150" else "2" for a in ARGS]
    proc = run_main(*other, "--out", tmp_path, "--resume")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"run.py: error: {folder} was started with --maxEpochs 150, and this command has --maxEpochs 2; resume with "
        f"the same flags or use another --out"], proc.stderr
    assert files() == before and "training.pt" in before
    proc = run_main(*other, "--out", tmp_path, "--force")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((folder / "config.json").read_text())["run_id"] != json.loads(before["config.json"])["run_id"]


@pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")
@pytest.mark.parametrize("first_round", [0, 1])
def test_a_run_resumed_with_another_kernel_flag_continues_its_snapshot_with_the_trainer_it_started_with(
        first_round, tmp_path):
    """Started with --kernel off and resumed with the default (the compiled epoch where it builds): the run goes on
    with PyTorch, from its snapshot. Round 0 (no checkpoint yet) took today's --kernel and failed on the snapshot
    (KeyError), after rewriting config.json's trainer; and its segments began with the resume, whose --kernel the
    top level named."""
    rd, epoch = kill_mid_training(tmp_path, first_round, extra=["--kernel", "off"])
    proc = run_main(*ARGS, "--out", tmp_path, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert f"run.py: round {rd} continues its training from epoch {epoch} (training.pt)" in proc.stderr
    config = json.loads((tmp_path / FOLDER / "config.json").read_text())
    assert config["trainer"] == "torch" and config["kernel"] == "off"
    assert [(s["from_round"], s["kernel"]) for s in config["segments"]] == [(0, "off"), (rd, "auto")]


@pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")
def test_a_first_round_resumed_with_other_threads_warns_and_keeps_the_first_start_at_the_top(tmp_path):
    """Killed in round 0's training and resumed with --threads 2, the run continues that training as any resume
    does: with a warning that its rounding can differ from here on, config.json's top level naming the first
    start's --threads and device (it named the resume's, without a warning) and each segment its own."""
    kill_mid_training(tmp_path, 0)
    proc = run_main(*ARGS, "--out", tmp_path, "--resume", "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    assert "continues its training" in proc.stderr
    assert f"{FOLDER} started with --threads 1 and continues with --threads 2; its float rounding" in proc.stderr
    config = json.loads((tmp_path / FOLDER / "config.json").read_text())
    assert config["threads"] == 1 and config["device"] == "cpu"
    assert [(s["from_round"], s["threads"]) for s in config["segments"]] == [(0, 1), (0, 2)]


@pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")
def test_a_snapshot_of_the_compiled_epoch_is_dropped_when_the_run_goes_on_with_pytorch(tmp_path):
    """Started with the compiled epoch and resumed with --kernel off (or without a C compiler): the run continues
    with PyTorch, whose optimizer state has another form, so the round trains from its first epoch with a warning
    (it stopped with 'training.pt does not fit round 1's training (KeyError)')."""
    kill_mid_training(tmp_path)
    if json.loads((tmp_path / FOLDER / "config.json").read_text())["trainer"] != "compiled":
        pytest.skip("the compiled mlp epoch does not build here")
    proc = run_main(*ARGS, "--out", tmp_path, "--resume", "--kernel", "off")
    assert proc.returncode == 0, proc.stderr
    assert "with the compiled epoch, and this run trains with the torch one" in proc.stderr
    assert "continues its training" not in proc.stderr and not (tmp_path / FOLDER / "training.pt").exists()


@pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")
def test_a_snapshot_that_does_not_fit_its_training_is_refused(tmp_path):
    """A training.pt of this run, round and training whose content is not a training of this network (a forged or
    mangled state) stops the resume with one line saying to delete it."""
    kill_mid_training(tmp_path)
    path = tmp_path / FOLDER / "training.pt"
    state = torch.load(path, weights_only=True)
    state["training"]["model"] = {"lm1.weight": torch.zeros(3, 3)}
    torch.save(state, path)
    proc = run_main(*ARGS, "--out", tmp_path, "--resume")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and proc.stderr.strip().endswith(errors[0]), proc.stderr
    error = errors[0]
    assert re.fullmatch(r"run\.py: error: .*training\.pt does not fit round \d+'s training \(RuntimeError\); delete "
                        r"it to train round \d+ from its first epoch", error), error


def snapshot_of(folder, rd=1, key="k", owner=None):
    """A TrainingSnapshot of round `rd` in run folder `folder` (owner: the run id and identity it belongs to)."""
    owner = owner or {"run_id": "r1", "identity": "i1"}
    return results.TrainingSnapshot(folder / "training.pt", owner, rd, 60.0)


def test_a_training_snapshot_is_loaded_only_by_its_own_training(tmp_path, capsys):
    """The saved state comes back for the same run, round and key; one of another round is removed silently, one
    of another key of the same round with a warning; another run's or a garbled file is refused with one line."""
    state = {"progress": [7, 0.5, 6, 0], "model": {"w": torch.ones(2)}}
    snapshot_of(tmp_path).save("k", state)
    loaded = snapshot_of(tmp_path).load("k", "torch")
    assert loaded["progress"] == [7, 0.5, 6, 0] and torch.equal(loaded["model"]["w"], torch.ones(2))
    assert "round 1 continues its training from epoch 7 (training.pt)" in capsys.readouterr().err
    assert snapshot_of(tmp_path, rd=2).load("k", "torch") is None and not (tmp_path / "training.pt").exists()
    snapshot_of(tmp_path).save("k", state)
    with pytest.warns(UserWarning, match="round 1 on other points or from another generator state"):
        assert snapshot_of(tmp_path).load("other key", "torch") is None
    assert not (tmp_path / "training.pt").exists()
    snapshot_of(tmp_path).save("k", dict(state, trainer="compiled"))
    with pytest.warns(UserWarning, match="round 1 with the compiled epoch, and this run trains with the torch one"):
        assert snapshot_of(tmp_path).load("k", "torch") is None
    assert not (tmp_path / "training.pt").exists()
    snapshot_of(tmp_path).save("k", state)
    with pytest.raises(results.StateError, match="belongs to another run .* delete it to train round 1 from its first"):
        snapshot_of(tmp_path, owner={"run_id": "r2", "identity": "i1"}).load("k", "torch")
    (tmp_path / "training.pt").write_bytes(b"garbled")
    with pytest.raises(results.StateError, match="cannot be read as a training snapshot"):
        snapshot_of(tmp_path).load("k", "torch")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert snapshot_of(tmp_path / "nothing").load("k", "torch") is None


def test_a_negative_snapshot_interval_is_refused():
    assert_one_line_error(run_main(*ARGS, "--snapshotEvery", "-1"), "--snapshotEvery", "at least 0")


@pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")
def test_a_sweep_dry_run_says_how_far_a_run_to_resume_got(tmp_path, capsys):
    """`sweep.py --dry-run` follows a run it would resume with the query rounds done and its snapshot's epochs and
    best epoch accuracy; a garbled snapshot leaves that part out (the resume itself names the file)."""
    rd, epoch = kill_mid_training(tmp_path)
    best = torch.load(tmp_path / FOLDER / "training.pt", weights_only=True)["training"]["progress"][1]
    flags = ["--algs", "bald", "--seeds", "7", "--nQuery", "40", "--nStart", "40", "--nEnd", "200", "--maxEpochs",
             "150", "--out", str(tmp_path), "--dry-run"]
    assert sweep.main(flags) == 0
    out, err = capsys.readouterr()
    assert out.startswith("resume ") and out.endswith(f" --resume  # {rd - 1} of 4 query rounds done; round {rd}: "
                                                      f"{epoch:,} epochs trained (0 min), best epoch accuracy "
                                                      f"{best:.3f}\n"), out
    assert err == "1 run: 0 finished (skip), 1 to resume, 0 to run, 0 refused\n"
    (tmp_path / FOLDER / "training.pt").write_bytes(b"garbled")
    with run_folder_lock(tmp_path / FOLDER):
        assert sweep.main(flags) == 0
    assert capsys.readouterr().out.endswith(f" --resume  # {rd - 1} of 4 query rounds done; another process "
                                            f"(pid {os.getpid()}) runs it now\n")


def test_a_sweep_dry_run_says_when_a_run_has_done_more_rounds_than_its_budget_allows(tmp_path, stopped_run, capsys):
    """An unfinished run of 2 query rounds planned with --nEnd 80 (1 round): the dry run said '2 of 1 query rounds
    done' and counted it as a resume, which run.py then refused."""
    stopped_run(2, tmp_path)
    (tmp_path / FOLDER / "summary.json").unlink()
    flags = ["--algs", "bald", "--seeds", "7", "--nQuery", "40", "--nStart", "40", "--nEnd", "80", "--maxEpochs",
             "150", "--out", str(tmp_path), "--dry-run"]
    assert sweep.main(flags) == 0
    assert capsys.readouterr().out.endswith(" --resume  # 2 query rounds done, more than --nEnd and --rounds now "
                                            "allow (1): run.py will refuse to resume it (raise them to continue it)\n")


@pytest.mark.parametrize("alg", ["entropy", "albl"])
def test_a_resume_reads_its_saved_state_without_numpy_s_deprecation(alg, tmp_path):
    """np.array(tensor, dtype) of the checkpoint's labelled mask (and ALBL's query probabilities) raised numpy's
    DeprecationWarning ('__array__ implementation doesn't accept a copy keyword'): a `warning:` line on every
    resume under PYTHONWARNINGS=default, and a traceback under PYTHONWARNINGS=error (each resume of a sweep
    failed)."""
    small = ["--alg", alg, "--nStart", "20", "--nQuery", "20", "--maxEpochs", "5", "--out", str(tmp_path)]
    assert run_main(*small, "--nEnd", "60").returncode == 0
    strict = dict(os.environ, PYTHONWARNINGS="error::DeprecationWarning")
    proc = subprocess.run([sys.executable, "run.py", *small, "--nEnd", "80", "--resume"], cwd=ROOT, text=True,
                          capture_output=True, timeout=300, env=strict)
    assert proc.returncode == 0 and "Deprecation" not in proc.stderr, proc.stderr
    assert [n for n, _ in accuracy_lines(proc.stdout)] == [20, 40, 60, 80]
