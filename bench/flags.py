"""What the benchmarks share on their command line: a parser whose errors are one line (errors.Parser), a
comma-separated subset of known names (or list of values), a thread count as run.py takes it, the data folder
(--path, default DATA), another checkout of this project for --compare, the CUDA and compiled-kernel checks, the
machine and date a benchmark's figures are taken on (`conditions`), the hidden `--worker` entry of a benchmark that
times each measurement in a fresh process, run.py flags a benchmark sets itself, running a command that must
succeed (its error line pointing at its own help), and the command's end (`command`: a warning, Ctrl-C and a failed
allocation as one line).

Importing this module imports no other module of the project, so that a worker can take its modules from the
checkout it measures (the other checkout of --compare) rather than from this one."""
import argparse
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT_FILES = ("run.py", "learner.py")
DATA = str(ROOT.parent / "shared" / "data")  # the data folder the benchmarks read by default (run.py's --path)
SEE_HELP = " (see --help)"  # how errors.Parser ends an error line: the help of the command that printed it


def prog():
    """The running benchmark's file name, as its messages start."""
    return Path(sys.argv[0]).name


def parser(doc):
    """A one-line-error parser described by a benchmark's docstring: its first paragraph, then the rest (its usage
    examples) after the flags, whose help names their defaults."""
    import textwrap

    from errors import ExamplesHelpFormatter, Parser

    first, _, rest = (doc or "").partition("\n\n")  # no docstring under python -OO
    return Parser(description=textwrap.fill(" ".join(first.split()), 100), epilog=rest or None,
                  formatter_class=ExamplesHelpFormatter)


def subset(known, what="name"):
    """argparse type: the list of comma-separated names in the text, each one of `known` and named once (else a
    one-line error naming the first unknown `what` and the closest known names, or all of them, or the first one
    named twice, which would be measured twice)."""
    def names(text):
        from errors import did_you_mean

        chosen = text.split(",")
        for i, name in enumerate(chosen):
            if name not in known:
                hint = did_you_mean(name, known) or f"; give a comma-separated subset of {', '.join(known)}"
                raise argparse.ArgumentTypeError(f"unknown {what} {name!r}{hint}")
            if name in chosen[:i]:
                raise argparse.ArgumentTypeError(f"{what} {name!r} named twice; name each once")
        return chosen
    return names


def values(kind):
    """argparse type: the list of comma-separated values in the text, each converted by the argparse type `kind`
    (whose one-line error names the first bad value)."""
    return lambda text: [kind(value) for value in text.split(",")]


def threads(text):
    """argparse type: a thread count as run.py takes its --threads: a positive int, at most run.MAX_THREADS (else a
    one-line error), with run.py's warning when it is more than the cores this process may use (run.check_threads)."""
    from run import check_threads
    from strategy_params import positive

    count = positive(int)(text)
    try:
        check_threads(count)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return count


def add_path(p, holding):
    """Add --path to parser `p`: the data folder, default DATA, holding `holding` (words for its help)."""
    p.add_argument("--path", default=DATA, help=f"the data folder holding {holding}, as run.py's --path "
                                                "(default: %(default)s)")


def load_data(p, data, did, path, rng=None):
    """dataset.load of `data` (`did`) from folder `path` (rng: default a fresh one of seed 0); one line (p.error)
    when it cannot be read."""
    import numpy as np

    import dataset
    from errors import UserError

    try:
        return dataset.load(data, did, path, np.random.default_rng(0) if rng is None else rng)
    except UserError as e:
        p.error(str(e))


def checkout(text):
    """argparse type: the root of another checkout of this project (a folder holding run.py and learner.py)."""
    try:
        root = Path(text).expanduser().resolve()
        missing = [f for f in CHECKOUT_FILES if not (root / f).is_file()]
    except (OSError, RuntimeError) as e:  # a name too long, an unknown ~user
        raise argparse.ArgumentTypeError(f"{text[:80]!r} cannot be read as a folder ({e.__class__.__name__})")
    if missing:
        raise argparse.ArgumentTypeError(f"{text} is not a checkout of this project (no {' or '.join(missing)} "
                                         f"there); give the root folder of the other checkout")
    if root == ROOT:
        raise argparse.ArgumentTypeError(f"{text} is this checkout; give another one to compare it with")
    return root


def check_device(p, device):
    """Stop with run.py's one line when `device` is cuda and torch sees no CUDA device."""
    from errors import UserError
    from run import pick_device

    try:
        pick_device(device)
    except UserError as e:
        p.error(str(e))


def stop_without_kernel(reason):
    """Stop the benchmark with one line: the compiled mlp epoch is not available here, and `reason`."""
    sys.exit(f"{prog()}: error: the compiled mlp epoch is not available here ({reason})")


def require_kernel():
    """Stop with stop_without_kernel's line unless the compiled mlp epoch builds (or is built) and loads here."""
    import kernels

    built = kernels.state()
    if built.kernel is None:
        stop_without_kernel(built.reason)


def machine():
    """The CPU's model name (the first `model name` of /proc/cpuinfo, else platform.processor()) and its number of
    cores: what BENCHMARKS.md names a figure's machine by."""
    import platform

    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    except OSError:
        cpu = ""
    return f"{cpu or platform.processor() or 'unknown CPU'}, {os.cpu_count()} cores"


def revision(root):
    """The commit checked out in `root`: git's short hash, with `+` when tracked files differ from it; `unknown`
    where git cannot tell."""
    git = ["git", "-C", str(root)]
    try:
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=60)
        changed = subprocess.run([*git, "diff", "--quiet", "HEAD", "--"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return head.stdout.strip() + "+" * (changed.returncode == 1) if head.returncode == 0 else "unknown"


def conditions(compare=None):
    """The line a benchmark prints with its figures, for a reader to record beside them: date and time (UTC), the
    machine, the 1-minute load average and the commit measured (and that of the checkout `compare`, --compare's)."""
    line = (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}; "
            f"load average {os.getloadavg()[0]:.1f}; commit {revision(ROOT)}")
    return line + (f", compared with {compare} at commit {revision(compare)}" if compare else "")


def worker_args(names):
    """The arguments after `--worker` when the benchmark runs as its own worker (`BENCH --worker NAME…`), checked
    against `names`; None when it runs as the benchmark."""
    if sys.argv[1:2] != ["--worker"]:
        return None
    if len(sys.argv) != 2 + len(names):
        sys.exit(f"{prog()}: error: --worker takes {' '.join(names)} (the benchmark starts its workers itself)")
    return sys.argv[2:]


def run_or_stop(argv, what, **options):
    """subprocess.run(argv, capture_output, text) when it exits 0; otherwise the benchmark stops with one line:
    `what` and the process's last line on stderr (or its exit code)."""
    proc = subprocess.run(argv, capture_output=True, text=True, **options)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        if last.endswith(SEE_HELP):  # shown under the benchmark's name, it would point at the benchmark's help
            last = last.removesuffix(SEE_HELP) + (f" (see {where})" if (where := help_command(argv)) else "")
        sys.exit(f"{prog()}: error: {what}: {last}")
    return proc


def help_command(argv):
    """How to ask the command `argv` for its help, where it runs a Python script (`python run.py --help`, the
    script's path relative to this checkout's root where it lies in it); None otherwise."""
    if len(argv) < 2 or not str(argv[1]).endswith(".py"):
        return None
    script = Path(argv[1]).resolve()
    return f"python {script.relative_to(ROOT) if script.is_relative_to(ROOT) else script} --help"


def refuse_run_flags(p, run_args, owned, why):
    """Stop with one line (p.error) when the run.py flags `run_args` (given after --) name one of `owned`, the flags
    the benchmark sets itself (`why`: how, after 'the benchmark')."""
    named = sorted({a.split("=")[0] for a in run_args} & set(owned))
    if named:
        p.error(f"{' and '.join(named)} after -- cannot be used: the benchmark {why}; remove it from the run.py flags")


def starting(name):
    """Under `python bench/x.py` (name == "__main__"): Ctrl-C during the imports that follow (torch's: seconds)
    prints `x.py: interrupted` and exits 130 at once, as `command` does from main on, not a KeyboardInterrupt
    traceback."""
    if name == "__main__":
        signal.signal(signal.SIGINT, interrupted_while_starting)


def interrupted_while_starting(signum, frame):
    """SIGINT during the imports: `x.py: interrupted` and exit 130 at once (flags.starting)."""
    sys.stderr.write(f"{prog()}: interrupted\n")
    os._exit(130)


def stdout_closed():
    """Exit 1 without a word once the reader of stdout has gone (`| head`): what is left to print goes to
    /dev/null, so that the interpreter's last flush does not fail too."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(1)


OVERFLOWS = ("Overflow when unpacking long long", "Storage size calculation overflowed")  # torch, before allocating


def failed_allocation(e):
    """Whether the exception is a failed allocation, as run.out_of_memory tells it (kept here because a worker's
    run.py is the measured checkout's, which may be older than that function), or torch's refusal of a size or a
    tensor beyond what 64-bit sizes count (OVERFLOWS: a TypeError or RuntimeError), which no allocation could hold."""
    torch = sys.modules.get("torch")
    return isinstance(e, (MemoryError,) + ((torch.OutOfMemoryError,) if torch else ())) \
        or "can't allocate memory" in str(e) or any(overflow in str(e) for overflow in OVERFLOWS)


def command(main):
    """The benchmark's command: main(); a warning is one line (`x.py: warning: ...`, not Python's two with the
    source line that raised it), Ctrl-C stops it with one line and exit code 130 (even when a non-interactive shell
    started it with SIGINT ignored), a failed allocation (failed_allocation: sizes too large for the memory, or for
    torch to count) with one line and exit code 2, and a closed stdout (stdout_closed) without a traceback."""
    warnings.formatwarning = lambda message, *rest, **options: f"{prog()}: warning: {message}\n"
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        main()
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
    except BrokenPipeError:
        stdout_closed()
    except KeyboardInterrupt:
        print(f"{prog()}: interrupted", file=sys.stderr)
        sys.exit(130)
    except (MemoryError, RuntimeError, TypeError) as e:
        if not failed_allocation(e):
            raise
        print(f"{prog()}: error: out of memory; give the benchmark smaller sizes (see --help)", file=sys.stderr)
        sys.exit(2)
