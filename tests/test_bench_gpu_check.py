"""bench/gpu_check.sh without a GPU: its checks of the input, its order, its deadline and its summary, with a stand-in
interpreter (a shell script that answers the CUDA check and does nothing else) in place of a CUDA python3."""
import os
import subprocess
import tarfile

import pytest

from cli import ROOT, assert_one_line_error

STAND_IN = """#!/bin/bash
# A CUDA python3 that runs nothing: the smoke run takes 2 s, the strategy list names two strategies.
case "$*" in
    *cuda.is_available*) exit 0 ;;
    *get_device_name*) echo "stand-in GPU"; exit 0 ;;
    *query_strategies*) {listing} ;;
    */smoke*) sleep 2; {smoke} ;;
esac
"""


def gpu_check(tmp_path, listing="echo rand badge", smoke="exit 0", **env):
    """bash bench/gpu_check.sh with the stand-in interpreter (its strategy listing and smoke run as given), a data
    folder with MNIST/raw and openml/6.csv, TMPDIR and OUT in tmp_path and `env`; the CompletedProcess."""
    python = tmp_path / "python3"
    python.write_text(STAND_IN.format(listing=listing, smoke=smoke))
    python.chmod(0o755)
    data = tmp_path / "data"
    (data / "MNIST" / "raw").mkdir(parents=True)
    (data / "openml").mkdir()
    (data / "openml" / "6.csv").write_text("")
    (tmp_path / "tmp").mkdir()
    env = {"DATA": str(data), "OUT": str(tmp_path / "out"), "TMPDIR": str(tmp_path / "tmp"), **env}
    return subprocess.run(["bash", "bench/gpu_check.sh", str(python)], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, **env), timeout=60)


def logs(tmp_path):
    """The names in the logs' archive under OUT; the temporary work folder must be gone."""
    assert list((tmp_path / "tmp").iterdir()) == []
    with tarfile.open(tmp_path / "out" / "gpu_check_logs.tar.gz") as archive:
        return {os.path.normpath(name) for name in archive.getnames()}


@pytest.mark.parametrize("env, fragments", [
    ({"DATA": "nowhere"}, ["nowhere has no MNIST/raw; set DATA"]),  # every MNIST run failed, one by one
    ({"DEADLINE": "8m"}, ["DEADLINE must be a positive whole number, got '8m'"]),
    ({"JOBS": "0"}, ["JOBS must be a positive whole number, got '0'"]),
])
def test_bad_settings_are_one_line_errors_before_any_step(env, fragments, tmp_path):
    proc = gpu_check(tmp_path, **env)
    assert_one_line_error(proc, "gpu_check.sh: error:", *fragments)
    assert proc.returncode == 1 and "==" not in proc.stdout and list((tmp_path / "tmp").iterdir()) == []


def test_a_failed_smoke_run_stops_the_script_with_its_logs(tmp_path):
    """Nothing after the smoke run is started; the summary counts it and its log comes back under OUT."""
    proc = gpu_check(tmp_path, smoke="echo 'RuntimeError: built for another torch' >&2; exit 1")
    assert_one_line_error(proc, "gpu_check.sh: error: the smoke run failed")
    assert "RuntimeError: built for another torch" in proc.stdout and "== 1." not in proc.stdout
    assert proc.stdout.splitlines()[-2] == "gpu_check.sh: 0 passed, 1 failed, 0 not run"
    assert logs(tmp_path) == {".", "smoke.log", "verdicts", "summary.txt"}


def test_steps_after_the_deadline_are_not_run_and_the_summary_says_so(tmp_path):
    """With DEADLINE=1 and a 2-second smoke run, every later step, each strategy included, is `skipped
    (deadline)`: counted as not run, not as failed (exit 0). The cheap checks come first, the strategies last."""
    proc = gpu_check(tmp_path, DEADLINE="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert [line[:5] for line in lines if line.startswith("==")] == ["== 0.", "== 1.", "== 2.", "== 3.", "== 4."]
    assert lines[-2] == ("gpu_check.sh: 1 passed, 0 failed, 12 not run (deadline of 1 s reached: the check is "
                         "incomplete)")
    last = [lines[-6], *lines[-4:-2]]  # run_select, then (after the `== 4.` heading) the strategies in any order
    assert lines[-5].startswith("== 4.") and all(line.endswith("skipped (deadline)") for line in last)
    assert last[0].startswith("run_select ") and sorted(line.split()[0] for line in last[1:]) == ["badge", "rand"]
    assert lines[-1] == f"logs: {tmp_path / 'out' / 'gpu_check_logs.tar.gz'}"
    assert logs(tmp_path) == {".", "smoke.log", "strategy_list.log", "verdicts", "summary.txt"}


def test_a_step_whose_limit_would_pass_the_deadline_is_not_run_and_shorter_ones_are(tmp_path):
    """DEADLINE=40: every step may end by 100 s. The 120- and 150-second steps, started a few seconds in, are
    `skipped (deadline)` (they were started and, stopped at 100 s, counted as failed); the 60-second ones run."""
    proc = gpu_check(tmp_path, DEADLINE="40")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdicts = {line.split()[0]: line for line in proc.stdout.splitlines() if line.split()[:1]}
    for name in ("twice_resnet_a", "twice_cnn_b", "snapshot", "train_speed", "run_select"):
        assert verdicts[name].endswith("skipped (deadline)"), verdicts[name]
    for name in ("smoke", "cuda_agreement", "rand", "badge"):
        assert verdicts[name].split()[1] == "ok", verdicts[name]
    assert proc.stdout.splitlines()[-2].startswith("gpu_check.sh: 4 passed, 0 failed, 9 not run")


def test_a_failed_strategy_listing_is_a_failure_not_zero_strategies(tmp_path):
    """The loop over the strategies ran over nothing and the script passed."""
    proc = gpu_check(tmp_path, listing="echo 'ImportError: cannot import name STRATEGIES' >&2; exit 1", DEADLINE="1")
    assert proc.returncode == 1
    assert "strategy list FAIL: ImportError: cannot import name STRATEGIES" in proc.stdout
    assert proc.stdout.splitlines()[-2].startswith("gpu_check.sh: 1 passed, 1 failed, 10 not run")
