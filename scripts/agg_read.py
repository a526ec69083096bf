"""Reading a results folder for the analysis (scripts/agg_results.py): every run folder (config.json + rounds.csv,
as run.py writes them) and every output log of the original code under it, as one pandas table with a row per
round of each run."""
import ast
import hashlib
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from errors import counted
from query_strategies import ALIASES
from scripts.agg_algs import data_title
from results import RESULT_FLAGS, ROUND_PARSERS, data_label, lenient_rounds, result_settings
from run import build_parser
from runlock import is_run_folder
from strategy_params import every_result_flag, result_flags

# A setting: the data, model and batch size, and `protocol`, which is empty unless runs of one (data, model,
# nQuery) differ in a result-changing flag: then it names that flag's value in each (split_protocols).
SETTING = ["data", "model", "nQuery", "protocol"]
RUN_KEY = SETTING + ["alg", "seed"]
UNSET = "none"  # a result-changing flag that a run records as null (recorded_settings)
PROTOCOL_COLUMNS = [*RESULT_FLAGS, "data_sha256"]  # compared within a (data, model, nQuery)
STRATEGY_COLUMNS = every_result_flag()  # compared within a (data, model, nQuery, alg)


def run_defaults(flags):
    """{flag: run.py's default} of the flags (dests), UNSET where it is None."""
    parser = build_parser()
    return {k: UNSET if (v := parser.get_default(k)) is None else v for k in flags}


# What a run that does not record a flag (an older version, a results.csv without the column) most likely used: run.py's
# default; --device's ('auto') names no value, so an unrecorded device is never presumed to differ.
PRESUMED = run_defaults(k for k in (*RESULT_FLAGS, *STRATEGY_COLUMNS) if k != "device")
ACC_LINE = re.compile(r"(\d+(?:\.\d+)?)\s+testing accuracy\s+(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|nan|-?inf)")
NAMESPACE = re.compile(r"Namespace\((.*)\)")
NAMESPACE_ITEM = re.compile(r"(\w+)=('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^,]*)")
LOG_NAME = re.compile(r"^(?P<data>[^_]+)_(?P<model>[^_]+)_(?P<alg>.+?)_(?P<nQuery>\d+)"
                      r"(?:_(?:seed|dummy)?(?P<seed>\d+))?$")
# run.py's own output: a sweep's OUT/logs/<run>.log starts with its command line; run.py's stderr has round lines,
# each after a carriage return (the progress bar's) when stderr is not a terminal
RUN_PY_OUTPUT = re.compile(rb"\A# \S+ python run\.py |(?:^|\r)round \d+: \d+ labelled, train ", re.M)
LOG_META_KEYS = ("data", "model", "alg", "nQuery", "nStart", "nEnd", "seed")  # a log's setting (--log-meta)
LOG_META_WHOLE = {"nQuery": 1, "nStart": 0, "nEnd": 1, "seed": 0}  # the keys of whole numbers, and their least
LOG_SUFFIXES = {".txt", ".log", ".out", ""}
LOG_MAX_BYTES = 50 * 2**20  # larger files (e.g. raw data archives without a suffix) are not logs


class BrokenRun(Exception):
    """A run folder whose config.json or rounds.csv cannot be read: reported, skipped and listed at the end."""


ROUND_KEYS = ["round", "n_labeled", "test_acc"]  # the columns of rounds.csv an analysis needs in every row


def read_rounds(path):
    """rounds.csv as a table, read by results.lenient_rounds (a last line cut off mid-write is left out, an older
    version's columns are accepted); BrokenRun when the file is unreadable, has a line longer than its header,
    lacks round, n_labeled or test_acc, a complete row holds no number there, or n_labeled does not grow from row to row
    (a run adds labels every round: rows that repeat a count are not one run's, and are never averaged)."""
    try:
        columns, rows = lenient_rounds(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise BrokenRun(f"{path} cannot be read ({type(e).__name__})") from None
    except ValueError as e:
        raise BrokenRun(f"{path} is not a CSV table ({e})") from None
    if not columns:
        return pd.DataFrame()
    if not set(ROUND_KEYS) <= set(columns):
        raise BrokenRun(f"{path} has no {', '.join(k for k in ROUND_KEYS if k not in columns)} column")
    df = pd.DataFrame(rows, columns=columns)
    bad = df[ROUND_KEYS].isna().any(axis=1).to_numpy().nonzero()[0]
    if len(bad):
        raise BrokenRun(f"{path} line {bad[0] + 2} holds no number in round, n_labeled or test_acc")
    if (line := outside_unit(df)) is not None:
        raise BrokenRun(f"{path} line {line[0] + 2} has {line[1]} {line[2]:g}, not a fraction in [0, 1]")
    counts = df.n_labeled.to_numpy()
    repeated = (counts[1:] <= np.maximum.accumulate(counts)[:-1]).nonzero()[0]
    if len(repeated):
        raise BrokenRun(f"{path} line {repeated[0] + 3} has n_labeled {counts[repeated[0] + 1]:g}, not above the lines "
                        f"before it: not one run's rounds (rows of two runs?)")
    return df


def outside_unit(table):
    """(row, column, value) of the first accuracy (test_acc, balanced_acc) outside [0, 1] (a percentage?), or None."""
    for column in ("test_acc", "balanced_acc"):
        if column in table:
            values = pd.to_numeric(table[column], errors="coerce")
            bad = ((values < 0) | (values > 1)).to_numpy().nonzero()[0]
            if len(bad):
                return int(bad[0]), column, float(values.iloc[bad[0]])
    return None


def data_name(opts):
    """The data label of a run's options (config.json or the original's Namespace line): results.data_label."""
    return data_label(int(opts.get("did") or 0), str(opts.get("data") or ""))


def canonical(alg):
    """The algorithm an alias (query_strategies.ALIASES) stands for; any other name as it is."""
    return ALIASES.get(alg, alg)


def load_run(folder):
    """One run folder as table rows: rounds.csv plus the run's setting from config.json; BrokenRun when either
    cannot be read."""
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        seed = config.get("seed")
        meta = dict(source=str(folder), kind="run", data=config.get("data_name") or data_name(config),
                    model=config["model"], alg=canonical(config["alg"]),
                    nQuery=int(config["nQuery"]), nStart=int(config["nStart"]), nEnd=int(config["nEnd"]),
                    seed=int(config["dummy"] if seed is None else seed), finished=(folder / "summary.json").is_file(),
                    **recorded_settings(config))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BrokenRun(f"{path} cannot be read as JSON ({type(e).__name__})") from None
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise BrokenRun(f"{path} lacks a valid setting ({type(e).__name__}: {e})") from None
    if bad := [k for k, low in LOG_META_WHOLE.items() if meta[k] < low]:
        raise BrokenRun(f"{path} records {bad[0]} {meta[bad[0]]}, below run.py's least ({LOG_META_WHOLE[bad[0]]})")
    if huge := [k for k in LOG_META_WHOLE if meta[k] > np.iinfo(np.uint64).max]:
        raise BrokenRun(f"{path} records {huge[0]} {meta[huge[0]]}, beyond run.py's largest (2**64 - 1)")
    if several := [k for k, v in meta.items() if isinstance(v, (list, dict))]:
        raise BrokenRun(f"{path} records {several[0]} as {type(meta[several[0]]).__name__} "
                        f"{json.dumps(meta[several[0]])[:40]}, not the one value run.py writes")
    if blank := [k for k in ("data", "model", "alg") if not (isinstance(meta[k], str) and meta[k].strip())]:
        raise BrokenRun(f"{path} records no {blank[0]} ({meta[blank[0]]!r}), which run.py always names")
    return read_rounds(folder / "rounds.csv").assign(**meta)


def recorded_settings(config):
    """What config.json records about a run's protocol beyond its setting: its result-changing flags (but nStart,
    read with the setting), the content hash of its data before any seeded step (data_identity's source_sha256:
    the same for every seed, whose split or --imbalance subsample differ), and the trainer with a short hash of its
    identity (None where an older version recorded neither). A flag recorded as null (unset: no --imbalance) is
    UNSET, a known value, so that such runs never pool with runs that set it; only a flag not recorded is unknown."""
    found = {k: UNSET if v is None else v for k, v in result_settings(config).items() if k != "nStart"}
    identity = config.get("data_identity")
    trainer, trainer_identity = trainer_record(config)
    return dict(found, data_sha256=identity.get("source_sha256") if isinstance(identity, dict) else None,
                trainer=trainer, trainer_identity=trainer_identity)


def trainer_record(config):
    """(trainer, short hash of its identity) of a run: the first start's (config.json's top level), then each other
    one its resumes recorded (segments), joined by '+' as --threads is (`compiled+torch`), so that a run resumed with
    another trainer or build reads as made with both; None where none is recorded."""
    segments = config.get("segments") if isinstance(config.get("segments"), list) else []
    starts = [config, *(s for s in segments if isinstance(s, dict))]
    trainers = [s["trainer"] for s in starts if isinstance(s.get("trainer"), str)]
    identities = [short_hash(s["trainer_identity"]) for s in starts if s.get("trainer_identity") is not None]
    return "+".join(dict.fromkeys(trainers)) or None, "+".join(dict.fromkeys(identities)) or None


def short_hash(value):
    """The first 8 hex digits of the SHA-256 of value's canonical JSON."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:8]


def load_runs(folders, broken):
    """The readable run folders as tables; each broken one is warned about and appended to `broken`."""
    frames = []
    for folder in folders:
        try:
            frames.append(load_run(folder))
        except BrokenRun as e:
            warnings.warn(f"skipping broken run folder {folder}: {e}")
            broken.append(folder)
            continue
        if frames[-1].empty:
            warnings.warn(f"leaving out {folder}: no round of it has finished yet (its rounds.csv has no rows)")
    return frames


def parse_namespace(text):
    """The options of the first `Namespace(key=value, ...)` line in a log, values as Python literals."""
    m = NAMESPACE.search(text)
    if not m:
        return {}
    opts = {}
    for key, raw in NAMESPACE_ITEM.findall(m.group(1)):
        try:
            opts[key] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            opts[key] = raw.strip()
    return opts


def namespace_setting(text):
    """data, model, alg, nQuery, nStart, nEnd and seed (--seed, else --dummy) of a log's Namespace line, as far
    as it names them (empty without one), and the result-changing flags it records (--lr, --nEmb, ...), so that
    a log never pools with runs made with other values."""
    opts = parse_namespace(text)
    if not opts:
        return {}
    seed = opts.get("seed")
    named = {k: opts[k] for k in LOG_META_KEYS if k in opts and k not in ("data", "seed")}
    flags = {k: UNSET if opts[k] is None else opts[k] for k in (*PROTOCOL_COLUMNS, *STRATEGY_COLUMNS)
             if k in opts and k not in named}
    return dict(data=data_name(opts), **named, seed=opts.get("dummy") if seed is None else seed, **flags)


def log_setting(path, text, log_meta):
    """data, model, alg, nQuery (and seed, nStart, nEnd when known) of a log: its Namespace line, else its file
    name, else --log-meta."""
    found = namespace_setting(text)
    m = LOG_NAME.match(path.stem)
    for source in (m.groupdict() if m else {}, log_meta):
        for key, value in source.items():
            if found.get(key) is None and value is not None:
                found[key] = value
    return {k: v for k, v in found.items() if v is not None}


def load_logs(paths, log_meta, run_names):
    """The output logs of the original code as tables (load_log). run.py's own output (RUN_PY_OUTPUT) is never
    read: its run folder, which records the run's flags, is the source; when no run folder of its name was read
    (`run_names`: moved away, broken, or under no root given) it is skipped with a warning."""
    frames = []
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as e:  # another user's file
            warnings.warn(f"skipping {path}: it cannot be read ({e.strerror or e})")
            continue
        if b"testing accuracy" not in raw:
            continue
        if RUN_PY_OUTPUT.search(raw):
            if path.stem not in run_names:
                warnings.warn(f"skipping {path}: it is run.py's output, and no run folder named {path.stem} was read "
                              f"(moved away or broken); results come from run folders, which record the flags")
            continue
        frame = load_log(path, raw, log_meta)
        if frame is not None:
            frames.append(frame)
    return frames


def load_log(path, raw, log_meta):
    """Table rows from one output log of the original code (its bytes `raw`); None when it holds no accuracy line
    or its setting cannot be told."""
    text = raw.decode(errors="replace")
    pairs = ACC_LINE.findall(text)
    if not pairs:
        return None
    setting = log_setting(path, text, log_meta)
    missing = [k for k in ("data", "model", "alg", "nQuery") if k not in setting]
    if missing:
        warnings.warn(f"skipping {path}: cannot tell its {', '.join(missing)}; name the file "
                      f"<data>_<model>_<alg>_<nQuery>_seed<seed>.txt or pass --log-meta KEY=VALUE")
        return None
    if bad := [k for k, low in LOG_META_WHOLE.items() if k in setting and whole_number(setting[k], low) is None]:
        warnings.warn(f"skipping {path}: its {bad[0]} {setting[bad[0]]!r} is not a whole number of at least "
                      f"{LOG_META_WHOLE[bad[0]]}; fix the log's Namespace line or file name, or pass "
                      f"--log-meta {bad[0]}=N")
        return None
    counts = [int(float(n)) for n, _ in pairs]
    if back := [i for i in range(1, len(counts)) if counts[i] < counts[i - 1]]:
        warnings.warn(f"skipping {path}: its labelled counts go back from {counts[back[0] - 1]} to "
                      f"{counts[back[0]]} (accuracy line {back[0] + 1}): two runs' output in one file? Split it, "
                      f"one run a file")
        return None
    if (bad := [a for _, a in pairs if not 0 <= float(a) <= 1]):
        warnings.warn(f"skipping {path}: it has testing accuracy {bad[0]}, not a fraction in [0, 1]")
        return None
    return log_rows(path, pairs, setting)


def whole_number(value, low):
    """value (an int, or text or a float that is one) as an int; None when it is not a whole number ≥ low."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and number >= low else None


def log_rows(path, pairs, setting):
    """A log's (n_labeled, accuracy) pairs as table rows (the last of each count), with its setting and the
    result-changing flags its Namespace line records."""
    rows = pd.DataFrame({"n_labeled": [int(float(n)) for n, _ in pairs], "test_acc": [float(a) for _, a in pairs]})
    rows = rows.drop_duplicates("n_labeled", keep="last").reset_index(drop=True)
    return rows.assign(round=np.arange(len(rows)), source=str(path), kind="log", data=str(setting["data"]),
                       model=str(setting["model"]), alg=canonical(str(setting["alg"])), nQuery=int(setting["nQuery"]),
                       nStart=int(setting.get("nStart", rows.n_labeled.min())),
                       nEnd=int(setting["nEnd"]) if "nEnd" in setting else np.nan,
                       seed=int(setting["seed"]) if "seed" in setting else np.nan, finished=np.nan,
                       **{k: v for k, v in setting.items()
                          if k not in LOG_META_KEYS and (k in PROTOCOL_COLUMNS or k in STRATEGY_COLUMNS)})


def find_sources(roots):
    """Run folders (is_run_folder) and candidate log files outside them, under the roots; each once, however many
    roots reach it (a root given twice, or a folder and one inside it), with a warning that counts the others."""
    runs, again = unique_paths(p.parent for root in roots for p in sorted(Path(root).rglob("config.json"))
                               if is_run_folder(p.parent))
    run_set = {p.resolve() for p in runs}
    logs, logs_again = unique_paths(p for root in roots for p in sorted(Path(root).rglob("*"))
                                    if is_log_file(p) and run_set.isdisjoint((p.parent.resolve() / p.name).parents))
    if again or logs_again:
        warnings.warn(f"ignoring {len(again) + len(logs_again)} run folder(s) or log(s) found again under another "
                      f"argument (a folder given twice, or inside another given), e.g. {(again + logs_again)[0]}: "
                      f"each is read once")
    if closed := unlistable_folders(roots):
        warnings.warn(f"skipping {counted(len(closed), 'folder')} that cannot be read, e.g. {closed[0].filename} "
                      f"({closed[0].strerror}): the runs in them are left out")
    return runs, logs


def unlistable_folders(roots):
    """The OSErrors of the folders under the roots that cannot be listed (another user's run folder, mode 700),
    which rglob passes over in silence."""
    errors = []
    for root in roots:
        for _ in os.walk(root, onerror=errors.append):
            pass
    return errors


def unique_paths(paths):
    """(the paths, each file or folder once: its first spelling, those that name one already kept)."""
    kept, seen, again = [], set(), []
    for p in paths:
        real = p.resolve()
        (again if real in seen else kept).append(p)
        seen.add(real)
    return kept, again


def is_log_file(path):
    """Whether `path` may be an output log: a file, not hidden, of a LOG_SUFFIXES suffix, at most LOG_MAX_BYTES; one
    whose size this user cannot see (in another user's folder) is one, for load_logs to name as unreadable."""
    if path.suffix not in LOG_SUFFIXES or path.name.startswith("."):
        return False
    try:
        return path.is_file() and path.stat().st_size <= LOG_MAX_BYTES
    except OSError:
        return True


def number_unseeded(table):
    """Logs without a seed get replicate numbers per (setting, alg) in file order, after the largest known seed."""
    missing = table.seed.isna()
    if not missing.any():
        return table
    warnings.warn(f"{table[missing].source.nunique()} log(s) name no seed or dummy; numbering them in file order")
    group = ["data", "model", "nQuery", "alg"]
    largest = table.groupby(group).seed.transform(lambda s: max((int(v) for v in s if known(v)), default=0))
    order = table[missing].groupby(group).source.transform(lambda s: pd.factorize(s)[0] + 1)
    table.loc[missing, "seed"] = largest[missing] + order
    return table


def drop_duplicate_runs(table):
    """One source per (data, model, nQuery, alg, seed): a run folder before a log, then the one with most rows;
    one warning counts the dropped sources and names one."""
    sizes = table.groupby("source").agg(kind=("kind", "first"), rows=("test_acc", "size"),
                                        **{k: (k, "first") for k in RUN_KEY})
    sizes = sizes.assign(is_log=sizes.kind == "log").sort_values(["is_log", "rows"], ascending=[True, False])
    keep = sizes.drop_duplicates(RUN_KEY)
    dropped = sizes.index.difference(keep.index)
    if len(dropped):
        warnings.warn(f"ignoring {len(dropped)} other source(s) of runs already read (one per data, model, nQuery, "
                      f"alg and seed: a run folder before a log, then the longest), e.g. {dropped[0]}")
    return table[table.source.isin(keep.index)]


TABLE_KEYS = ["data", "model", "nQuery", "nStart", "alg", "seed", "round", "n_labeled", "test_acc", "source", "kind"]
TABLE_WHOLE = ("nQuery", "nStart", "seed", "round", "n_labeled")  # a results.csv's columns of whole numbers
TABLE_NUMBERS = (*TABLE_WHOLE, "test_acc")
TABLE_TEXT = ("data", "model", "alg", "source", "kind")  # never empty
# rounds.csv's other columns of numbers, and nEnd: a results.csv may leave them empty (a log records none)
TABLE_OPTIONAL_NUMBERS = (*(c for c, parse in ROUND_PARSERS.items() if parse in (int, float)
                            and c not in TABLE_NUMBERS), "nEnd")
RUN_COLUMNS = ["data", "model", "nQuery", "alg", "seed"]  # one value per source in a results.csv
RESTORE = "restore the file from its analysis or version control"


def load_table(path):
    """The rows of a results.csv that an earlier analysis wrote (its `source` column names each run), so that
    committed results pool with new run folders; each algorithm by its plain name (split_protocols derives any
    protocol again from the recorded flags). BrokenRun when it is not such a table: a column missing, a cell of
    TABLE_KEYS empty or not of its kind, an accuracy outside [0, 1], a source with two settings or two rows of one
    labelled count."""
    try:
        table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise BrokenRun(f"{path} cannot be read as a results table ({type(e).__name__})") from None
    missing = [k for k in TABLE_KEYS if k not in table]
    if missing:
        raise BrokenRun(f"{path} is not a results.csv of scripts/agg_results.py (no {', '.join(missing)} column); "
                        f"pass a results.csv that an analysis wrote in its --fig folder")
    check_cells(table, path)
    if (line := outside_unit(table)) is not None:
        raise BrokenRun(f"{path}: row {line[0] + 2}'s {line[1]} is {line[2]:g}, not a fraction in [0, 1]; {RESTORE}")
    table = table.drop(columns=["protocol"], errors="ignore").assign(alg=table.alg.astype(str).str.split(" ").str[0])
    settings = table.groupby("source")[RUN_COLUMNS].nunique()
    if (mixed := settings[(settings > 1).any(axis=1)]).size:
        column = RUN_COLUMNS[int((mixed.iloc[0] > 1).to_numpy().argmax())]
        raise BrokenRun(f"{path}: source {mixed.index[0]} has rows of more than one {column}: not one run's rows; "
                        f"{RESTORE}")
    if (twice := table.duplicated(["source", "n_labeled"])).any():
        row = int(twice.to_numpy().argmax())
        raise BrokenRun(f"{path}: row {row + 2} repeats the n_labeled {table.n_labeled[row]} of source "
                        f"{table.source[row]}: not one run's rows; {RESTORE}")
    return table


def check_cells(table, path):
    """BrokenRun naming the first cell of TABLE_KEYS that is empty or, in a column of numbers, not one (or a
    whole number below its least), or a cell of TABLE_OPTIONAL_NUMBERS that holds text."""
    for column in [*TABLE_NUMBERS, *(c for c in TABLE_OPTIONAL_NUMBERS if c in table)]:
        values = pd.to_numeric(table[column], errors="coerce").astype(float)
        if column in TABLE_WHOLE:
            bad = values.isna() | (values != values.round()) | (values < LOG_META_WHOLE.get(column, 0))
        else:
            bad = values.isna() & table[column].notna()
        if bad.any():
            row, value = int(bad.idxmax()), table[column][bad.idxmax()]
            raise BrokenRun(f"{path}: row {row + 2}'s {column} is {'empty' if pd.isna(value) else value}, "
                            f"not {'a whole number' if column in TABLE_WHOLE else 'a number'} (or below its least); "
                            f"{RESTORE}")
    for column in TABLE_TEXT:
        if (empty := table[column].isna() | (table[column].astype(str).str.strip() == "")).any():
            raise BrokenRun(f"{path}: row {int(empty.idxmax()) + 2}'s {column} is empty; {RESTORE}")


def table_rows(tables, folders):
    """The rows of the results tables (load_table), each run's once: a run that several tables hold, or whose own
    folder is read too (`folders`, its source), is not counted twice; its folder wins over a table. Tables that
    hold one source with other results (two machines' runs of one folder name) keep them apart: each such source
    is named after its table too (distinct_sources), with a warning."""
    rows = [t[~t.source.astype(str).isin(folders)] for t in map(load_table, tables)]
    named = [(path, r) for path, r in zip(tables, rows) if len(r)]
    if not named:
        return []
    return [distinct_sources(named).drop_duplicates(["source", "n_labeled"])]


def distinct_sources(named):
    """The (path, table) pairs as one table, where a source that two tables hold with different results (an
    n_labeled both have with another test_acc, or another setting) becomes `<table>:<source>` in each of them."""
    rows = pd.concat([t.assign(_table=str(path)) for path, t in named], ignore_index=True)
    setting = rows[RUN_COLUMNS].astype(str).agg("|".join, axis=1)
    results = setting + "|" + rows.test_acc.astype(str)
    clash = results.groupby([rows.source, rows.n_labeled]).transform("nunique") > 1
    clashing = set(rows.source[clash]) | set(setting.groupby(rows.source).nunique()[lambda n: n > 1].index)
    if clashing:
        apart = rows.source.isin(clashing)
        rows.loc[apart, "source"] = rows._table[apart] + ":" + rows.source[apart].astype(str)
        warnings.warn(f"{len(clashing)} run folder name(s) appear in several results tables with different "
                      f"results, e.g. {sorted(clashing)[0]} (runs of two machines or sweeps?); analysed as separate "
                      f"runs, each named after its table")
    return rows.drop(columns="_table")


def load_results(roots, log_meta=None, broken=None):
    """Every round of every run and log under the roots, one row each; a root that is a file is a results.csv of
    an earlier analysis (load_table). Broken run folders are skipped (and appended to the list `broken` when
    given)."""
    tables = [Path(r) for r in roots if Path(r).is_file()]
    runs, logs = find_sources([r for r in roots if not Path(r).is_file()])
    broken = [] if broken is None else broken
    frames = load_runs(runs, broken) + table_rows(tables, {str(f) for f in runs})
    run_names = {Path(s).name for f in frames for s in f.source.astype(str).unique()}
    run_names |= {f.name for f in runs if f not in broken}  # read, if without a finished round
    frames += load_logs(logs, log_meta or {}, run_names)
    frames = [f.astype({"seed": object}) for f in frames if len(f)]  # exact: a seed may pass 2**63 (int64's)
    if not frames:
        return pd.DataFrame()
    table = number_unseeded(split_protocols(pd.concat(frames, ignore_index=True)))
    seeds = pd.Series([int(s) for s in table.seed], index=table.index)  # int64, or uint64 where one passes 2**63
    table = drop_duplicate_runs(table.assign(seed=seeds).astype({"nQuery": int, "n_labeled": int}))
    first = ["data", "model", "nQuery", "protocol", "alg", "seed", "round", "n_labeled", "test_acc"]
    return table[first + [c for c in table.columns if c not in first]].sort_values(
        ["data", "model", "nQuery", "protocol", "alg", "seed", "n_labeled"]).reset_index(drop=True)


def setting_title(key):
    """A setting (SETTING's values) as figures and messages name it: `data, model, batch n[, protocol]`, the data
    as people know it (agg_algs.data_title)."""
    data, model, n_query, protocol = key
    return f"{data_title(data)}, {model}, batch {n_query}" + (f", {protocol}" if protocol else "")


def known(value):
    """Whether a recorded value is known (not None or NaN)."""
    return value is not None and not (isinstance(value, float) and np.isnan(value))


def value_text(column, value):
    """A recorded value as a protocol label shows it: '?' when unknown, whole floats as integers, a data hash by
    its first 8 digits."""
    if not known(value):
        return "?"
    return str(value)[:8] if column == "data_sha256" else comparable(value)


def per_run(table):
    """The table with one row per run (source): its first row."""
    return table.groupby("source", sort=False).first()


def differing_columns(runs, columns):
    """The columns (of a table with one row per run) in which the runs differ: their known values are not all
    equal, or some runs record no value beside runs whose value is not the one presumed of them (PRESUMED, run.py's
    default), e.g. committed results without --imbalance beside new runs with --imbalance 50."""
    found = []
    for c in [c for c in columns if c in runs]:
        is_known = runs[c].map(known)
        values = set(runs[c][is_known].map(comparable))
        if len(values) > 1 or (values and not is_known.all() and c in PRESUMED
                               and values != {comparable(PRESUMED[c])}):
            found.append(c)
    return found


def comparable(value):
    """A recorded value as text that equal values share (a whole float as an integer: 128.0 and 128 are one)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def protocol_labels(runs, columns):
    """Each run's values of `columns`, as `flag=value ...` (value_text)."""
    return runs.apply(lambda r: " ".join(f"{c}={value_text(c, r[c])}" for c in columns), axis=1)


def split_protocols(table):
    """The table with a `protocol` column, so that runs whose result-changing flags differ are never averaged:
    within a (data, model, nQuery), runs that differ in PROTOCOL_COLUMNS get their values of those
    columns as protocol, which makes separate settings; within one algorithm of it, runs that differ in their
    strategy's flags get them appended to the algorithm's name, as do flags of its own that all its runs share at a
    value other than the default (shared_non_defaults). One warning names each split and its flags; a
    value an older version did not record (or a log) is unknown: it makes a difference only beside a value other
    than run.py's default (differing_columns)."""
    runs = per_run(table)
    protocol = pd.Series("", index=runs.index, dtype=object)
    alg = runs.alg.copy()
    for key, group in runs.groupby(["data", "model", "nQuery"]):
        differ = differing_columns(group, PROTOCOL_COLUMNS)
        if differ:
            protocol[group.index] = protocol_labels(group, differ)
            warnings.warn(f"{setting_title((*key, ''))}: its runs differ in {', '.join(differ)}; analysed as "
                          f"separate settings ({'; '.join(sorted(set(protocol[group.index])))})")
    for (*key, name), group in runs.groupby(["data", "model", "nQuery", "alg"]):
        differ = differing_columns(group, STRATEGY_COLUMNS)
        shared = shared_non_defaults(group, name)
        named = [c for c in STRATEGY_COLUMNS if c in differ or c in shared]
        if named:
            alg[group.index] = name + " " + protocol_labels(group, named)
        if differ:
            warnings.warn(f"{setting_title((*key, ''))}: its {name} runs differ in {', '.join(differ)}; analysed as "
                          f"separate algorithms ({', '.join(sorted(set(alg[group.index])))})")
    return table.assign(protocol=table.source.map(protocol), alg=table.source.map(alg))


def shared_non_defaults(runs, name):
    """The parameters of strategy `name` that all its `runs` record with one value other than run.py's default:
    they name the algorithm even when no run differs (`powermargin beta=2`, never a plain `powermargin`)."""
    return [c for c in result_flags(name) if c in runs and runs[c].map(known).all()
            and set(runs[c].map(comparable)) == {comparable(runs[c].iloc[0])} != {comparable(PRESUMED[c])}]


def trainer_label(trainer, identity):
    """A trainer as the analysis names it: `compiled [identity hash]`, or the trainer alone when its identity is
    not recorded."""
    return f"{trainer} [{identity}]" if known(identity) else str(trainer)


def warn_mixed_trainers(table):
    """One warning per setting whose runs trained with different trainers (config.json's trainer and, where
    recorded, trainer_identity), naming each with its number of runs; runs that record no trainer are unknown and
    left out, as is a trainer without identity when other runs of that trainer record one."""
    if "trainer" not in table:
        return
    runs = per_run(table if "trainer_identity" in table else table.assign(trainer_identity=None))
    runs = runs[runs.trainer.map(known)]
    for key, group in runs.groupby(SETTING):
        with_identity = set(group.trainer[group.trainer_identity.map(known)])
        group = group[group.trainer_identity.map(known) | ~group.trainer.isin(with_identity)]
        counts = group.apply(lambda r: trainer_label(r.trainer, r.trainer_identity), axis=1).value_counts()
        if len(counts) > 1:
            named = ", ".join(f"{label} ({n} run{'s' * (n > 1)})" for label, n in sorted(counts.items()))
            warnings.warn(f"{setting_title(key)}: its runs used different trainers: {named}; their float rounding "
                          f"differs, so picks and accuracies can differ after a few rounds")
