"""Running the real CLI in a subprocess, as a user would."""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
ACC_LINE = re.compile(r"(\d+(?:\.\d+)?)\s+testing accuracy\s+(\d+(?:\.\d+)?)")
SMALL = ["--nStart", "50", "--nQuery", "50", "--nEnd", "150", "--maxEpochs", "100"]
LETTER = ["--did", "6", "--path", SHARED_DATA, "--nStart", "100", "--nQuery", "50", "--nEnd", "200",
          "--maxEpochs", "50"]  # OpenML letter: two query rounds of 50 on the 18,000-point pool


def run_cli(*args, script="run.py", timeout=600, env=None):
    """`python <script> args…` from the project root; returns the CompletedProcess (text)."""
    env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


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
