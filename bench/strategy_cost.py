"""Seconds per query of each strategy: inference on the pool + selection, the median over the query rounds of
the runs of one setting (data, model, nQuery, device and the protocol: the result-changing flags in which runs of
one data, model and nQuery differ, as the analysis tells settings apart), each run counted once.

    python bench/strategy_cost.py                                  # every strategy on digits, 2 query rounds
    python bench/strategy_cost.py --algs rand,badge,bait -- --did 6 --path ../shared/data --nEnd 300
    python bench/strategy_cost.py --results results/letter         # summarise finished runs (e.g. a sweep)

Without --results, each strategy runs once through run.py (the flags after -- replace the default digits
configuration; --alg, --out, --resume and --force are refused there) in a temporary folder; with --results, --algs
and any flag after -- are refused. Prints a Markdown table with the load average: one row per setting and strategy,
with the number of runs pooled in it; its protocol column names the flags that set the row's runs apart (`–`
where no run differs), and copied run folders of one run (config.json's run_id) count once, with a warning."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # the project's modules, from the repository root

from bench import flags  # noqa: E402

flags.starting(__name__)

import json  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402

import pandas as pd  # noqa: E402

from dataset import first_line  # noqa: E402
from errors import UserError  # noqa: E402
from statefile import StateError  # noqa: E402
from query_strategies import ALIASES, STRATEGIES  # noqa: E402
from results import check_config  # noqa: E402
from scripts.agg_read import recorded_settings, split_protocols  # noqa: E402

DEFAULT = ["--nStart", "100", "--nQuery", "100", "--nEnd", "300"]
ALL = sorted(set(STRATEGIES) - set(ALIASES))  # every strategy once, without its aliases
SETTING = {"data": "data_name", "model": "model", "nQuery": "nQuery", "device": "device"}  # column: config key
SECONDS = ["infer_seconds", "select_seconds", "query_seconds"]
OWNED = ("--alg", "--out", "--resume", "--force")  # run.py flags of each run the benchmark sets itself


def run_config(folder):
    """The run in `folder` as its config.json records it: alg, run_id, the setting (SETTING's columns; the device
    of each part of a resumed run, as results.result_settings joins them) and the result-changing flags and data
    hash by which the analysis tells settings apart (agg_read.recorded_settings, with nStart)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{folder / 'config.json'} could not be read ({first_line(e)})")
    if isinstance(config, dict) and "alg" in config:
        try:
            check_config(config, folder / "config.json")
        except StateError as e:  # a list where run.py writes a plain value: the grouping would stop with a traceback
            raise UserError(f"{e.problem}; is {folder} a run folder of run.py?") from None
    keys = ["alg", *SETTING.values()]
    missing = [k for k in keys if not isinstance(config, dict) or k not in config]
    if missing:
        raise UserError(f"{folder / 'config.json'} lacks {', '.join(missing)}; is {folder} a run folder of run.py?")
    return {"alg": config["alg"], "run_id": config.get("run_id"), "nStart": config.get("nStart"),
            **{column: config[key] for column, key in SETTING.items()}, **recorded_settings(config)}


def query_rows(folder):
    """The query rounds (round > 0) of the run in `folder`: their SECONDS, as numbers, from its rounds.csv."""
    try:
        rounds = pd.read_csv(folder / "rounds.csv")
        missing = [c for c in ["round", *SECONDS] if c not in rounds.columns]
        if missing:
            raise ValueError(f"no column {', '.join(missing)}")
        rounds = rounds[["round", *SECONDS]].apply(pd.to_numeric)
    except (OSError, ValueError) as e:  # pandas' ParserError and EmptyDataError are ValueErrors
        raise UserError(f"{folder / 'rounds.csv'} could not be read ({first_line(e)})")
    return rounds.loc[rounds["round"] > 0, SECONDS]


def summarise(folders):
    """One row per setting, protocol (agg_read.split_protocols) and alg: the number of runs and the median
    inference, selection and query seconds over all their query rounds."""
    rows = one_per_run(pd.concat([query_rows(f).assign(source=str(f), **run_config(f)) for f in folders]))
    rows = split_protocols(rows)
    groups = rows.groupby([*SETTING, "protocol", "alg"], dropna=False)
    table = groups[SECONDS].median().join(groups["source"].nunique().rename("runs")).reset_index()
    return table.sort_values([*SETTING, "protocol", "query_seconds"])


def one_per_run(rows):
    """`rows` with one run folder (source) per run_id, since copies of a run folder share it: the one with the
    most query rounds, the first named on a tie; a warning names each folder left out."""
    runs = rows.groupby("source", sort=False).agg(run_id=("run_id", "first"), rounds=("run_id", "size"))
    runs = runs[runs.run_id.notna()].sort_values("rounds", ascending=False, kind="stable")
    copies = runs[runs.run_id.duplicated()]
    for source, run_id in copies.run_id.items():
        warnings.warn(f"leaving out {source}: a copy of the run in {runs.index[runs.run_id == run_id][0]} (the same "
                      f"run_id in config.json), which is counted once")
    return rows[~rows.source.isin(copies.index)]


def finished_runs(results):
    """The run folders in the folder `results` that hold a summary.json (finished runs)."""
    folder = Path(results)
    try:
        found = "a folder" if folder.is_dir() else "a file" if folder.exists() else None
    except OSError as e:  # a name too long
        raise UserError(f"--results {results[:80]}… cannot be read ({first_line(e)}); give a shorter path")
    if found != "a folder":
        what = "is a file" if found else "does not exist"
        raise UserError(f"--results {results} {what}; give the folder that holds the run folders (run.py's --out)")
    runs = sorted(p for p in folder.iterdir() if (p / "summary.json").is_file())
    if not runs:
        raise UserError(f"--results {results} holds no finished run (a folder with a summary.json); give run.py's "
                        f"--out folder of finished runs")
    return runs


def run_each(algs, run_args, out):
    """The run folders of `python run.py --alg A run_args --out out` for each A of algs; stops with run.py's last
    error line when a run fails."""
    for alg in algs:
        flags.run_or_stop([sys.executable, str(ROOT / "run.py"), "--alg", alg, *run_args, "--out", out], alg)
    runs = [p for p in Path(out).iterdir() if (p / "rounds.csv").is_file()]
    if not runs:
        raise UserError(f"run.py {' '.join(run_args)} made no run to time; give it the flags of an experiment")
    return runs


def alias_beside(algs):
    """The first alias in `algs` beside the strategy it names (run.py would run both into one folder, which the
    second run refuses); None when there is none."""
    return next((alg for alg in algs if ALIASES.get(alg) in algs), None)


def main():
    """Run or read the runs, then print the table; one error line and exit 2 on bad input."""
    p = flags.parser(__doc__)
    p.add_argument("run_args", nargs="*", help="run.py flags (after --)")
    p.add_argument("--algs", type=flags.subset(sorted(STRATEGIES), "strategy"),
                   help="comma-separated strategies (run.py's --alg names) to run; default: all; refused with "
                        "--results")
    p.add_argument("--results", help="a folder of finished run folders to summarise instead of running")
    args = p.parse_args()
    if args.results and args.run_args:
        p.error(f"--results summarises finished runs; the run.py flags after -- ({' '.join(args.run_args)}) would "
                f"not be used: leave them out")
    if args.results and args.algs:
        p.error("--results summarises every finished run in its folder; --algs, the strategies to run, would not "
                "be used: leave it out")
    flags.refuse_run_flags(p, args.run_args, OWNED, "runs each of --algs in a fresh temporary folder")
    if args.algs and (alias := alias_beside(args.algs)):
        p.error(f"--algs names {ALIASES[alias]} twice, as itself and as its alias {alias}; name each strategy once")
    try:
        if args.results:
            table = summarise(finished_runs(args.results))
        else:
            with tempfile.TemporaryDirectory() as out:
                table = summarise(run_each(args.algs or ALL, args.run_args or DEFAULT, out))
    except UserError as e:
        p.error(str(e))
    if table.empty:
        p.error("the runs have no query round (each stopped at --nStart); nothing to time")
    print(flags.conditions())
    print("| data | model | nQuery | device | protocol | strategy | runs | inference s | selection s | query s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in table.itertuples():
        print(f"| {r.data} | {r.model} | {r.nQuery} | {r.device} | {r.protocol or '–'} | {r.alg} | {r.runs} | "
              f"{r.infer_seconds:.2f} | {r.select_seconds:.2f} | {r.query_seconds:.2f} |")


if __name__ == "__main__":
    flags.command(main)
