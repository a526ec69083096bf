"""Wall time of a whole run.py experiment, split into start-up (imports, data, set-up) and rounds (training, test,
inference and query).

    python bench/run_time.py                      # the issue's MNIST configuration
    python bench/run_time.py --with-load 1        # the same while one CPU-bound process runs beside it
    python bench/run_time.py --compare OLD_CHECKOUT --repeats 3   # this checkout and another, alternating
    python bench/run_time.py -- --data digits --alg badge --nEnd 600
    python bench/run_time.py --path /data         # the MNIST files under /data

Everything after `--` is passed to run.py (replacing the default configuration) but --out, --resume and --force,
which the benchmark sets itself; each run.py gets --path before those flags (a --path among them wins). Prints a
table per round, the split of the wall time, the fixed cost (the wall time outside training, test, inference and
selection) beside the time of `python -c "import torch"` measured in between, and for the default configuration the
original code's time beside it: about 130 s on the 2-core CPU where BENCHMARKS.md measured it (per-image
PIL transforms and data loading), so the ratio holds for a machine like that one only. The first run of a
configuration decodes its data into the project cache; the figures are the medians over --repeats runs after one
unreported warm-up run each."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # the project's modules, from the repository root

from bench import flags  # noqa: E402

flags.starting(__name__)

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import pandas as pd  # noqa: E402

from run import usable_cores  # noqa: E402
from strategy_params import non_negative, positive  # noqa: E402

DEFAULT = ["--model", "mlp", "--data", "MNIST", "--nStart", "100", "--nQuery", "100", "--nEnd", "400",
           "--alg", "entropy"]
ORIGINAL_SECONDS = 130  # the original code on DEFAULT, on the 2-core CPU of BENCHMARKS.md (the docstring says 130 s)
PHASES = ["train_seconds", "test_seconds", "infer_seconds", "select_seconds"]
STARTUP = ["imports", "data", "setup"]
BUSY = "while True: pass"
OWNED = ("--out", "--resume", "--force")  # run.py flags of each run the benchmark sets itself
LOAD_PER_CORE = 4  # --with-load takes at most this many busy loops per core this process may use


def load_count(text):
    """argparse type: --with-load's number of busy loops, 0 or a positive int of at most LOAD_PER_CORE per core
    this process may use (else a one-line error, before any starts: a typo such as 10**30 would start processes
    until the machine gives out)."""
    count, cores = non_negative(int)(text), usable_cores()
    if count > LOAD_PER_CORE * cores:
        raise argparse.ArgumentTypeError(f"{count} is more than {LOAD_PER_CORE} per core ({LOAD_PER_CORE * cores} for "
                                         f"the {cores} cores here); give at most {LOAD_PER_CORE * cores}")
    return count


def busy_processes(n):
    """n CPU-bound Python processes (a busy loop each), to be killed by the caller; a terminal's Ctrl-C, which
    reaches them too, ends them without a word (their stderr is discarded: it would hold their tracebacks)."""
    return [subprocess.Popen([sys.executable, "-c", BUSY], stderr=subprocess.DEVNULL) for _ in range(n)]


def timed(argv, what):
    """Wall seconds of the process `argv`, which must succeed (else the benchmark stops: flags.run_or_stop)."""
    start = time.perf_counter()
    flags.run_or_stop(argv, what)
    return time.perf_counter() - start


def one_run(root, run_args):
    """{wall, rounds (table), startup (dict, empty for checkouts that do not record it)} of one run.py process."""
    with tempfile.TemporaryDirectory() as out:
        wall = timed([sys.executable, str(root / "run.py"), *run_args, "--out", out], f"run.py of {root}")
        made = list(Path(out).glob("*/rounds.csv"))
        if not made:
            sys.exit(f"{flags.prog()}: error: run.py {' '.join(run_args)} made no run to time; give it the flags "
                     f"of an experiment")
        folder = made[0].parent
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        return {"wall": wall, "rounds": pd.read_csv(folder / "rounds.csv"),
                "startup": config.get("startup_seconds", {})}


def split(run):
    """The run's wall time in parts: start-up phases, rounds (the four phases) and the rest (interpreter start,
    parsing, writing results, exit)."""
    parts = {k: run["startup"].get(k, float("nan")) for k in STARTUP}
    parts["rounds"] = float(run["rounds"][PHASES].sum().sum())
    parts["fixed"] = run["wall"] - parts["rounds"]
    parts["rest"] = parts["fixed"] - sum(parts[k] for k in STARTUP)
    return dict(parts, wall=run["wall"])


def medians(rows):
    """Per key, the median over the dicts in rows."""
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def describe(name, m, torch_import, original):
    """Lines describing one checkout's median split."""
    s = {k: "?" if math.isnan(v) else f"{v:.2f}" for k, v in m.items()}  # ?: not recorded by that checkout
    lines = [f"{name}: wall {s['wall']} s = rounds {s['rounds']} s (training, test, inference, selection) "
             f"+ fixed cost {s['fixed']} s",
             f"  fixed cost: imports {s['imports']} s, data {s['data']} s, set-up {s['setup']} s, rest {s['rest']} s "
             f"(interpreter, parsing, results, exit); beyond `import torch` ({torch_import:.2f} s): "
             f"{m['fixed'] - torch_import:.2f} s"]
    if original:
        lines.append(f"  the original took ~{ORIGINAL_SECONDS} s on BENCHMARKS.md's 2-core CPU "
                     f"({ORIGINAL_SECONDS / m['wall']:.1f}x this run's wall time; compare on one machine)")
    return lines


def main(argv=None):
    """Run the experiment (after a warm-up) --repeats times per checkout, then print its rounds and time split."""
    p = flags.parser(__doc__)
    p.add_argument("run_args", nargs="*", help="run.py flags (after --)")
    p.add_argument("--with-load", type=load_count, default=0, metavar="N",
                   help=f"run N CPU-bound processes beside the experiment (a busy machine); at most {LOAD_PER_CORE} "
                        f"per core ({LOAD_PER_CORE * usable_cores()} here)")
    p.add_argument("--compare", type=flags.checkout, help="another checkout's root, run alternately with this one")
    p.add_argument("--repeats", type=positive(int), default=1,
                   help="measured runs per checkout (after one warm-up run)")
    flags.add_path(p, "the experiment's data (MNIST for the default configuration)")
    args = p.parse_args(argv)
    flags.refuse_run_flags(p, args.run_args, OWNED, "makes each run in a fresh temporary folder")
    run_args = ["--path", args.path, *(args.run_args or DEFAULT)]
    roots = {"this checkout": ROOT, **({f"{args.compare}": args.compare} if args.compare else {})}
    load = busy_processes(args.with_load)
    try:
        for root in roots.values():
            one_run(root, run_args)  # warm-up: decodes the data into the cache, fills the page cache
        runs, torch_imports, loads = {k: [] for k in roots}, [], []
        for _ in range(args.repeats):
            torch_imports.append(timed([sys.executable, "-c", "import torch"], "import torch"))
            for name, root in roots.items():
                runs[name].append(one_run(root, run_args))
            loads.append(os.getloadavg()[0])
    finally:
        for q in load:
            q.kill()
    last = runs["this checkout"][-1]["rounds"]
    print(flags.conditions(args.compare))
    print("run.py " + " ".join(run_args))
    print(last[["round", "n_labeled", "test_acc", "train_epochs", *PHASES]].to_string(
        index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\n{args.with_load} CPU-bound process(es) beside it; load average {min(loads):.1f}-{max(loads):.1f} "
          f"during the runs; medians of {args.repeats} run(s); `python -c 'import torch'` "
          f"{statistics.median(torch_imports):.2f} s")
    torch_import, original = statistics.median(torch_imports), not args.run_args
    summary = {name: medians([split(r) for r in rs]) for name, rs in runs.items()}
    for name, m in summary.items():
        print("\n".join(describe(name, m, torch_import, original)))
    if args.compare:
        this, other = summary["this checkout"], summary[str(args.compare)]
        print(f"this checkout vs {args.compare}: whole run {other['wall'] / this['wall']:.2f}x, fixed cost "
              f"{other['fixed'] / this['fixed']:.2f}x")


if __name__ == "__main__":
    flags.command(main)
