"""One writer per run folder: an exclusive `fcntl.flock` on OUT/<run>/.lock, held from before the folder is read or
written until the run ends. The kernel drops the lock when its holder exits or is killed, so a crashed run never
leaves a stale lock; a second process on the same folder (run, --resume, --force or a sweep's worker) stops at
once and names the holder's pid, which the holder writes into the lock file. is_run_folder / enclosing_run_folder:
the one test of a run folder (config.json beside rounds.csv), used by run.py's --out and agg_results' --fig checks."""
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: the run folders' locks, and much else, need a POSIX system
    sys.exit(f"{os.path.basename(sys.argv[0]) or 'python'}: error: this project runs on Linux and macOS; on Windows, "
             f"run it under WSL (see README, 'Install')")

from errors import UserError
from statefile import StateError, link_refusal, open_regular

LOCK_NAME = ".lock"
TRIES, PAUSE = 10, 0.01  # a busy lock is tried again for ~0.1 s: another process's holder() probe holds it briefly


@contextmanager
def run_folder_lock(folder):
    """Hold the exclusive lock of `folder` (created if missing) for the body of the `with`; UserError naming the
    folder and the holder's pid when another process holds it, StateError when the folder is a symbolic link (the
    run would write where it points)."""
    folder = Path(folder)
    if folder.is_symlink():
        raise StateError(link_refusal(folder))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = open_regular(path, os.O_RDWR | os.O_CREAT)
    try:
        take(fd, path, folder)
        yield
    finally:
        os.close(fd)


def take(fd, path, folder):
    """Lock the open lock file `path` and write this process's pid into it; UserError when another process still
    holds it after TRIES tries, an OSError naming `path` when the write fails (a full disk)."""
    try:
        for _ in range(TRIES):
            if locked_now(fd):
                break
            time.sleep(PAUSE)
        else:
            raise UserError(f"{folder} is in use by another process (pid {holder_pid(fd)}); wait for it to end "
                            f"(or stop it) and run again, or use another --out")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from None


def locked_now(fd):
    """Whether this process now holds the exclusive lock of the open file `fd` (False: another process does)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def holder(folder):
    """The pid (text) of the process that holds `folder`'s lock, or None when none does (or there is no lock file
    yet). The probe takes and drops the lock in microseconds."""
    path = Path(folder) / LOCK_NAME
    try:
        fd = open_regular(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return holder_pid(fd)
    finally:
        os.close(fd)
    return None


def holder_pid(fd, tries=20):
    """The pid written in the lock file by its holder ('unknown' when it has not written it within ~1 s)."""
    for _ in range(tries):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return text
        time.sleep(0.05)
    return "unknown"


def is_run_folder(folder):
    """Whether `folder` is a run folder as run.py writes one: config.json next to rounds.csv (not one this user
    cannot search: another user's, mode 700)."""
    try:
        return (folder / "config.json").is_file() and (folder / "rounds.csv").is_file()
    except OSError:
        return False


def enclosing_run_folder(path):
    """The nearest folder at or above `path`, resolved, that is a run folder (is_run_folder), or None (also when the
    path cannot be looked at: making the folder then says why)."""
    try:
        return next((folder for folder in (Path(path).resolve(), *Path(path).resolve().parents)
                     if is_run_folder(folder)), None)
    except OSError:
        return None
