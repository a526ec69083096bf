"""Running the CLI as a user would: in a subprocess (run_cli), or, where the process boundary is not what a test
checks, in this process with the same arguments, working folder, exit code and output (run_main)."""
import io
import os
import re
import subprocess
import sys
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
ACC_LINE = re.compile(r"(\d+(?:\.\d+)?)\s+testing accuracy\s+(\d+(?:\.\d+)?)")
SMALL = ["--nStart", "50", "--nQuery", "50", "--nEnd", "150", "--maxEpochs", "100"]
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error where there is no CUDA device")
LETTER = ["--did", "6", "--path", SHARED_DATA, "--nStart", "100", "--nQuery", "50", "--nEnd", "200",
          "--maxEpochs", "50"]  # OpenML letter: two query rounds of 50 on the 18,000-point pool


def run_cli(*args, script="run.py", timeout=600, env=None):
    """`python <script> args…` from the project root; returns the CompletedProcess (text)."""
    env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def run_main(*args, env=None):
    """`python run.py args…` run as run.main in this process: from the project root, with `env` added to the
    environment, output as wide as a pipe's (COLUMNS, else 80), Python's default warning filters and each warning
    a `warning:` line on stderr (run.cli's show_warning), as in a fresh process; returns a CompletedProcess with
    main's exit code (argparse's exit included) and the captured stdout and stderr. An exception main lets through
    (a traceback in a real process) propagates."""
    import run

    argv = [*map(str, args)]
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings(), redirect_stdout(out), redirect_stderr(err):
        mp.chdir(ROOT)
        mp.setenv("COLUMNS", os.environ.get("COLUMNS", "80"))  # what --help wraps to when stdout is a pipe
        for name, value in (env or {}).items():
            mp.setenv(name, value)
        fresh_process_warnings()
        warnings.showwarning = run.show_warning
        try:
            code = run.main(argv)
        except SystemExit as stop:
            code = stop.code or 0
    return subprocess.CompletedProcess(["run.py", *argv], code, out.getvalue(), err.getvalue())


def fresh_process_warnings():
    """The warning filters a fresh `python` process starts with (deprecations and resource warnings ignored)."""
    warnings.resetwarnings()
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category)


def accuracy_lines(stdout):
    """[(n labelled, accuracy)] parsed with the original analysis script's pattern."""
    return [(int(float(n)), float(a)) for n, a in ACC_LINE.findall(stdout)]


def assert_one_line_error(proc, *fragments):
    """A user error: non-zero exit, exactly one line on stderr that names the problem, no traceback."""
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
