"""Processes in tests: a CLI started in the background, the holder of a run folder's lock, a process's children,
whether a process is still running and the CPU time it has used (from /proc, Linux)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cli import ROOT


def start_cli(*args, script="run.py"):
    """`python <script> args…` started in the background from the project root (stdout and stderr captured), with
    SIGINT ignored as a non-interactive shell starts a background job: a Ctrl-C test then also shows that the
    command itself turns SIGINT back on. Python's fault handler is on, so a crash (SIGABRT, SIGSEGV) leaves the
    Python stack on the captured stderr for the failing test to show."""
    return subprocess.Popen([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=ignore_sigint,
                            env={**os.environ, "PYTHONFAULTHANDLER": "1"})


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


def cpu_seconds(pid):
    """User + system CPU seconds process `pid` has used so far (utime + stime of /proc/<pid>/stat); 0.0 when it is
    gone."""
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def tree_cpu_seconds(pid):
    """CPU seconds used by process `pid` and all its descendants: its own utime + stime, those of its ended children
    (cutime + cstime), and the same sum over its children still running (one pass over /proc)."""
    stats = {int(e.name): f for e in Path("/proc").iterdir() if e.name.isdigit() and (f := stat_fields(e.name))}

    def ticks(p):
        return sum(map(int, stats[p][11:15])) + sum(ticks(k) for k, f in stats.items() if int(f[1]) == p)
    return ticks(pid) / os.sysconf("SC_CLK_TCK") if pid in stats else 0.0


def wait_for_cpu(proc, seconds, timeout=600, used=cpu_seconds):
    """Return once the running Popen `proc` has used `seconds` CPU seconds as `used(pid)` counts them, or has ended
    (polled every 20 ms): a moment in the process's own progress, the same point of its work however loaded the
    machine is."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and used(proc.pid) < seconds:
        assert time.monotonic() < deadline, f"process {proc.pid} did not use {seconds} CPU seconds in {timeout} s"
        time.sleep(0.02)
