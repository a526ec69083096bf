"""tests/cli.py's run_main stands in for `python run.py` only where it answers as the real process does."""
import pytest

from cli import run_cli, run_main


@pytest.mark.parametrize("args", [["--help"], ["--nQuery", "0"], ["--alg", "nope"]])
def test_run_main_answers_as_the_real_process(args, tmp_path):
    real, here = run_cli(*args, "--out", tmp_path), run_main(*args, "--out", tmp_path)
    assert (here.returncode, here.stdout, here.stderr) == (real.returncode, real.stdout, real.stderr)


def test_run_main_shows_warnings_as_the_command_does(tmp_path):
    """A run whose training hits the epoch cap: its warning is a `warning:` line on stderr, as run.cli shows it."""
    proc = run_main("--nStart", "20", "--nQuery", "20", "--nEnd", "20", "--maxEpochs", "1", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith("warning: training stopped after 1 epochs at the epoch cap")
               for line in proc.stderr.replace("\r", "\n").splitlines()), proc.stderr


def test_cuda_deterministic_sets_torch_s_switches(monkeypatch):
    """What run.py sets when the device is CUDA (checked here without a GPU; bench/gpu_check.sh runs it on one)."""
    import os

    import torch

    import run

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        run.cuda_deterministic()
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8" and not torch.backends.cudnn.benchmark
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
