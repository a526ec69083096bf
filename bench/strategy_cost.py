"""Seconds per query of each strategy: inference on the pool + selection, the median over a run's query rounds.

    python bench/strategy_cost.py                                  # every strategy on digits, 2 query rounds
    python bench/strategy_cost.py --algs rand,badge,bait -- --did 6 --path ../shared/data --nEnd 300
    python bench/strategy_cost.py --results results/letter         # summarise finished runs (e.g. a sweep)

Without --results, each strategy runs once through run.py (the flags after -- replace the default digits
configuration) in a temporary folder. Prints a Markdown table with the load average."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # the project's modules, from the repository root

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

import pandas as pd  # noqa: E402

from query_strategies import ALIASES, STRATEGIES  # noqa: E402

DEFAULT = ["--nStart", "100", "--nQuery", "100", "--nEnd", "300"]


def query_rows(folder):
    """(data, alg, query rounds of one run folder as a DataFrame)."""
    config = json.loads((folder / "config.json").read_text())
    rounds = pd.read_csv(folder / "rounds.csv")
    return config["data_name"], config["alg"], rounds[rounds["round"] > 0]


def summarise(folders):
    """One row per (data, alg): median inference, selection and query seconds over all query rounds."""
    parts = []
    for folder in folders:
        data, alg, rows = query_rows(folder)
        parts.append(rows.assign(data=data, alg=alg))
    table = pd.concat(parts).groupby(["data", "alg"])[["infer_seconds", "select_seconds", "query_seconds"]]
    return table.median().reset_index().sort_values(["data", "query_seconds"])


def run_each(algs, run_args, out):
    for alg in algs:
        proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "--alg", alg, *run_args, "--out", out],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{alg}: {proc.stderr.strip().splitlines()[-1]}")
    return [p for p in Path(out).iterdir() if (p / "rounds.csv").is_file()]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_args", nargs="*", help="run.py flags (after --)")
    p.add_argument("--algs", default=",".join(sorted(set(STRATEGIES) - set(ALIASES))))
    p.add_argument("--results", help="a folder of finished run folders to summarise instead of running")
    args = p.parse_args()
    if args.results:
        folders = [p for p in Path(args.results).iterdir() if (p / "summary.json").is_file()]
        table = summarise(folders)
    else:
        with tempfile.TemporaryDirectory() as out:
            table = summarise(run_each(args.algs.split(","), args.run_args or DEFAULT, out))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| data | strategy | inference s | selection s | query s |\n|---|---|---|---|---|")
    for r in table.itertuples():
        print(f"| {r.data} | {r.alg} | {r.infer_seconds:.2f} | {r.select_seconds:.2f} | {r.query_seconds:.2f} |")


if __name__ == "__main__":
    main()
