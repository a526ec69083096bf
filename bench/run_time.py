"""Wall time of a whole run.py experiment, split per round into training, test, inference and query.

    python bench/run_time.py                      # the issue's MNIST configuration
    python bench/run_time.py --with-load 1        # the same while one CPU-bound process runs beside it
    python bench/run_time.py -- --data digits --alg badge --nEnd 600

Everything after `--` is passed to run.py (replacing the default configuration). Prints a table per round and
the totals; the original code takes about 130 s for the default configuration on a 2-core CPU."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # the project's modules, from the repository root

import argparse  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import pandas as pd  # noqa: E402

DEFAULT = ["--model", "mlp", "--data", "MNIST", "--path", str(ROOT.parent / "shared" / "data"), "--nStart", "100",
           "--nQuery", "100", "--nEnd", "400", "--alg", "entropy"]
PHASES = ["train_seconds", "test_seconds", "infer_seconds", "select_seconds"]
BUSY = "while True: pass"


def busy_processes(n):
    """n CPU-bound Python processes (a busy loop each), to be killed by the caller."""
    return [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(n)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_args", nargs="*", help="run.py flags (after --)")
    p.add_argument("--with-load", type=int, default=0, metavar="N",
                   help="run N CPU-bound processes beside the experiment (a busy machine)")
    args = p.parse_args()
    run_args = args.run_args or DEFAULT
    load = busy_processes(args.with_load)
    try:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, str(ROOT / "run.py"), *run_args, "--out", out],
                                  capture_output=True, text=True)
            wall = time.perf_counter() - start
            load_avg = os.getloadavg()[0]
            rounds = pd.read_csv(next(Path(out).glob("*/rounds.csv"))) if proc.returncode == 0 else None
    finally:
        for q in load:
            q.kill()
    if proc.returncode != 0:
        sys.exit(proc.stderr.strip().splitlines()[-1])
    table = rounds[["round", "n_labeled", "test_acc", "train_epochs", *PHASES]]
    print("run.py " + " ".join(run_args))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    totals = rounds[PHASES].sum()
    print(f"\n{args.with_load} CPU-bound process(es) beside it; load average {load_avg:.1f} on {os.cpu_count()} cores")
    print(f"wall {wall:.2f} s (process start, data loading and imports included); "
          + ", ".join(f"{k.replace('_seconds', '')} {v:.2f} s" for k, v in totals.items()))


if __name__ == "__main__":
    main()
