"""Processes in tests: a CLI started in the background, the holder of a run folder's lock, a process's children
and whether a process is still running (from /proc, Linux)."""
import signal
import subprocess
import sys
import time
from pathlib import Path

from cli import ROOT


def start_cli(*args, script="run.py"):
    """`python <script> args…` started in the background from the project root (stdout and stderr captured), with
    SIGINT ignored as a non-interactive shell starts a background job: a Ctrl-C test then also shows that the
    command itself turns SIGINT back on."""
    return subprocess.Popen([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=ignore_sigint)


def ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def wait_for_holder(folder, accept, timeout=120):
    """The pid in `folder`'s lock file once it is one that accept(pid) takes (polled every 10 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lock = Path(folder) / ".lock"
        text = lock.read_text().strip() if lock.is_file() else ""
        if text.isdigit() and accept(int(text)):
            return int(text)
        time.sleep(0.01)
    raise AssertionError(f"no process took the lock of {folder} within {timeout} s")


def stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command name (state first, then the parent's pid); None when the
    process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def children(pid):
    """Pids of the processes whose parent is `pid`."""
    kids = []
    for entry in Path("/proc").iterdir():
        fields = stat_fields(entry.name) if entry.name.isdigit() else None
        if fields and int(fields[1]) == pid:
            kids.append(int(entry.name))
    return kids


def alive(pid):
    """Whether process `pid` exists and is not a zombie."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def wait_until_gone(pids, timeout=10.0):
    """The pids among `pids` still alive after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]
