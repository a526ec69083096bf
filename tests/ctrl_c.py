"""Ctrl-C in tests: a command started in the background (procs.start_cli) sent SIGINT at a moment of its work that
a test names by the libraries it has loaded or the files it has written."""
import os
import signal
from pathlib import Path

from tqdm import tqdm

from procs import caught_mid_run, resume_frozen


def record_bar_finalized(monkeypatch, events, desc):
    """Appends ("bar deleted", held) to `events` when a tqdm bar whose description starts with `desc` is finalized
    (its __del__): held, whether Ctrl-C was held then (run.interrupt_held's handler was SIGINT's)."""
    finalize = tqdm.__del__

    def finalized(bar):
        if str(bar.desc).startswith(desc):
            handler = signal.getsignal(signal.SIGINT)
            events.append(("bar deleted", "interrupt_held" in getattr(handler, "__qualname__", "")))
        finalize(bar)

    monkeypatch.setattr(tqdm, "__del__", finalized)


def loaded(pid, name):
    """Whether process `pid` has a file whose path holds `name` mapped (/proc/<pid>/maps): a library it imported."""
    try:
        return name in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def ctrl_c_at(start, ready, mid_run=None, timeout=120, sig=signal.SIGINT):
    """(exit code, stderr) of the process start() returns, sent `sig` (Ctrl-C's SIGINT) while frozen once ready(pid)
    holds, at a moment when mid_run() holds (default: ready still holds; procs.caught_mid_run, which starts it afresh
    when it ran past that moment, so start() must leave nothing of an earlier attempt that the predicates would
    see)."""
    started = []

    def launch(attempt):
        started.append(start())
        return started[-1]

    proc, pid = caught_mid_run(launch, lambda p: p.pid if ready(p.pid) else None,
                               mid_run or (lambda: ready(started[-1].pid)))
    try:
        os.kill(pid, sig)
        resume_frozen(pid)
        _, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return proc.returncode, err
