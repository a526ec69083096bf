"""Processes in tests: a CLI started in the background, the holder of a run folder's lock, a process's children,
whether a process is still running and the CPU time it has used (from /proc, Linux)."""
import contextlib
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
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=as_background_job,
                            env={**os.environ, "PYTHONFAULTHANDLER": "1"})


def as_background_job():
    """The child's signals as a non-interactive shell's background job in a terminal has them: SIGINT ignored,
    SIGHUP at its default (whatever this test process has: under `nohup` it is ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def wait_for_holder(folder, accept, timeout=120):
    """The pid in `folder`'s lock file once it is one that accept(pid) takes (polled every 10 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = lock_pid(folder)
        if pid is not None and accept(pid):
            return pid
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


def freeze(pid):
    """Stop process `pid` (SIGSTOP) and return once /proc shows it stopped, so that what a test then reads of its
    files stays true until the test acts; False when the process has ended."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        return False
    while (fields := stat_fields(pid)) and fields[0] not in "TtZX":
        time.sleep(0.001)
    return bool(fields) and fields[0] in "Tt"


def resume_frozen(pid):
    """SIGCONT to a process `freeze` stopped (signals sent to it meanwhile are then delivered); nothing when it has
    ended (a SIGKILL ends a stopped process too)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


def caught_mid_run(start, target, mid_run, attempts=5, timeout=300):
    """(process, pid): a process `start(attempt)` started, with its process `pid` = target(process) (polled every
    10 ms until not None) frozen (`freeze`) at a moment when mid_run() holds. A test that polls late on a loaded
    machine can find the work already past the moment it wants; the process is then killed and started afresh, so
    the test acts on the moment it names however late it polls. The caller signals, then `resume_frozen(pid)`."""
    for attempt in range(attempts):
        proc = start(attempt)
        deadline = time.monotonic() + timeout
        while (pid := target(proc)) is None and proc.poll() is None:
            assert time.monotonic() < deadline, f"process {proc.pid}: nothing to catch within {timeout} s"
            time.sleep(0.01)
        if pid is not None and freeze(pid) and mid_run():
            return proc, pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.communicate()
    raise AssertionError(f"the process ran past the moment to catch in each of {attempts} tries")


def lock_pid(folder):
    """The pid written in `folder`'s lock file, or None (no lock file yet, or not a pid yet)."""
    lock = Path(folder) / ".lock"
    text = lock.read_text().strip() if lock.is_file() else ""
    return int(text) if text.isdigit() else None


def rows_written(folder):
    """The complete rows of `folder`'s rounds.csv (its lines ended by a newline, less the header); 0 before it
    exists."""
    path = Path(folder) / "rounds.csv"
    return max(path.read_text().count("\n") - 1, 0) if path.is_file() else 0


def group_of(pid):
    """The process group of `pid`, or None when it has ended."""
    fields = stat_fields(pid)
    return int(fields[2]) if fields and fields[0] != "Z" else None
