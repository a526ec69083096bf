"""Shared test setup: the project root is importable, each test session has its own project cache, and torch
runs one thread per process (on the shared 2-core machine more threads oversubscribe the cores and make small
trainings several times slower)."""
import fcntl
import os
import signal
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session", autouse=True)
def ctrl_c_raises():
    """Ctrl-C (SIGINT) raises KeyboardInterrupt, as in a terminal, even when the session was started in the
    background by a non-interactive shell (which starts it with SIGINT ignored, and every subprocess would inherit
    that): the interrupt tests need it live."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.fixture(scope="session", autouse=True)
def badge_cache(tmp_path_factory):
    """$BADGE_CACHE is a fresh folder for the whole session, so no test reads or writes ~/.cache/badge and MNIST
    is extracted at most once per session; subprocesses inherit it and OMP_NUM_THREADS=1."""
    import torch

    path = tmp_path_factory.mktemp("badge-cache")
    before, threads = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS", "1")
    torch.set_num_threads(int(threads))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BADGE_CACHE", str(path))
        mp.setenv("OMP_NUM_THREADS", threads)
        yield path
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def kernel():
    """The compiled mlp kernel (kernels/), built into the session's cache when a test first needs it; skips where it
    cannot be."""
    import kernels

    built = kernels.state()
    if built.kernel is None:
        pytest.skip(f"the compiled epoch cannot be built here: {built.reason}")
    return built.kernel


@pytest.fixture(scope="session")
def letter(tmp_path_factory):
    """cli.LETTER's flags on a --path holding the first 2,000 rows of the real letter data (26 classes, 16 features,
    a 1,800-point pool): the strategies' letter runs check the CLI on letter's shape, not its size, at a ninth of
    the full set's selection cost (tests/test_cli_data.py loads the whole set)."""
    from cli import LETTER, SHARED_DATA
    from data_files import write_letter_slice

    path = write_letter_slice(tmp_path_factory.mktemp("letter"))
    return [path if flag == SHARED_DATA else flag for flag in LETTER]


@pytest.fixture
def ray_alone():
    """A Ray test's environment variables restored after it: `ray.init` leaves RAY_AUTH_MODE=token (and more) in
    os.environ, and a `ray start --head` started later by the same process then never came up. And an exclusive lock
    on <temp dir>/badge-tests-ray.lock meanwhile, so that the suite's two pytest-xdist workers never run two Ray
    instances side by side (they share default ports, such as the dashboard's 8265)."""
    saved = dict(os.environ)
    with open(os.path.join(tempfile.gettempdir(), "badge-tests-ray.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)
