"""The paper's analysis (SPEC §7) of a folder of active-learning runs.

    python scripts/agg_results.py RESULTS_DIR [RESULTS_DIR ...] --fig FIG_DIR

Reads, recursively, every run folder (config.json + rounds.csv, as run.py writes them; partial runs included, a
truncated last line of rounds.csv ignored) and every output log of the original code (*.txt, *.log, *.out or
no suffix, at most 50 MB, holding `<n>  testing accuracy <acc>` lines) into one table, FIG_DIR/results.csv.
Each field of a log's setting comes from the `Namespace(...)` line the original printed (seed = --seed, else
--dummy), else from its file name (`<data>_<model>_<alg>_<nQuery>[_seed<seed>|_dummy<seed>|_<seed>]`), else
from `--log-meta KEY=VALUE`; logs without any seed are numbered 1, 2, … per setting and algorithm in file order.
A run folder wins over a log of the same (data, model, nQuery, alg, seed); aliases (kcenter, kdpp) count as
their algorithm (coreset, baseline).

For each (data, model, nQuery) setting it writes, as PNG and PDF (and CSV where it is a table):
  learning_<setting>    test accuracy against labelled points, mean ± standard error over seeds;
  penalty_<setting>     the pairwise penalty matrix: P[i, j] = fraction of the L checkpoints at which i beats j;
  cdf_<setting>         the cumulative distribution of the normalised error (1 − acc_alg) / (1 − acc_rand);
  query_time_<setting>  mean query seconds per round (mean over seeds ± standard error);
and over all settings penalty_overall (the sum of the settings' matrices, with column averages: lower is
better), cdf_overall, normalised_error.csv and query_time.csv.

Rules. Checkpoints are nStart + k·nQuery, k = 0, 1, 2, 4, 8, …, up to the smallest labelled count at which the
seeds' mean accuracy of 'rand' reaches 99 % of its final value (its mean at the largest count all 'rand' seeds
reached). A setting without 'rand' uses every such checkpoint that all its runs reached, with a warning, and has
no normalised error. At a checkpoint, i beats j when the paired (by seed) t statistic of acc_i − acc_j exceeds
the two-sided 5 % critical value t_{0.975, n−1} of the n paired seeds (2.776 for 5 seeds; --t-threshold fixes
it); equal non-zero differences at every seed count as a win (t = ±inf), fewer than 2 paired seeds never do.
Each win adds 1/L to P[i, j]. A cell (i, j) whose algorithms share fewer than 2 seeds at every checkpoint had no
test at all: it is n/a in the figure, empty in the CSV (a column without any test has an empty average), and one
warning names such settings. A column average is the mean over the other algorithms' rows. Each normalised
error is weighted 1/L, so every setting weighs the same in a CDF (each algorithm's curve rises to 1)."""
import argparse
import ast
import io
import json
import math
import re
import sys
import warnings
import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

SETTING = ["data", "model", "nQuery"]
RUN_KEY = SETTING + ["alg", "seed"]
ACC_LINE = re.compile(r"(\d+(?:\.\d+)?)\s+testing accuracy\s+(\d+(?:\.\d+)?)")
NAMESPACE = re.compile(r"Namespace\((.*)\)")
NAMESPACE_ITEM = re.compile(r"(\w+)=('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^,]*)")
LOG_NAME = re.compile(r"^(?P<data>[^_]+)_(?P<model>[^_]+)_(?P<alg>.+?)_(?P<nQuery>\d+)"
                      r"(?:_(?:seed|dummy)?(?P<seed>\d+))?$")
LOG_SUFFIXES = {".txt", ".log", ".out", ""}
LOG_MAX_BYTES = 50 * 2**20  # larger files (e.g. raw data archives without a suffix) are not logs
RAND = "rand"
P_VALUE = 0.05
RAND_FRACTION = 0.99
ALIASES = {"kcenter": "coreset", "kdpp": "baseline"}
ALG_COLOURS = {
    "rand": "#7f7f7f", "conf": "#1f77b4", "marg": "#ff7f0e", "entropy": "#2ca02c",
    "conf_dropout": "#aec7e8", "marg_dropout": "#ffbb78", "entropy_dropout": "#98df8a", "bald": "#9467bd",
    "kmeans": "#8c564b", "coreset": "#e377c2", "baseline": "#bcbd22", "albl": "#17becf", "bim": "#c49c94",
    "deepfool": "#f7b6d2", "badge": "#d62728", "bait": "#000000",
}
EXTRA_COLOURS = plt.get_cmap("tab20b").colors
FORMATS = ("png", "pdf")


def colour(alg):
    """The algorithm's fixed colour; a name outside ALG_COLOURS gets one chosen by a hash of the name."""
    return ALG_COLOURS.get(alg, EXTRA_COLOURS[zlib.crc32(alg.encode()) % len(EXTRA_COLOURS)])


def alg_order(algs):
    """ALG_COLOURS' order first, then any other names alphabetically: every figure lists algorithms alike."""
    known = [a for a in ALG_COLOURS if a in set(algs)]
    return known + sorted(set(algs) - set(known))


# ---------------------------------------------------------------- reading runs and logs

class BrokenRun(Exception):
    """A run folder whose config.json or rounds.csv cannot be read: reported, skipped and listed at the end."""


def read_rounds(path):
    """rounds.csv without a last line that was cut off mid-write (no final newline); BrokenRun when the file is
    unreadable, lacks n_labeled or test_acc, or a complete row holds no number there."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise BrokenRun(f"{path} cannot be read ({type(e).__name__})") from None
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    if not text.strip():
        return pd.DataFrame()
    try:
        df = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, ValueError) as e:
        raise BrokenRun(f"{path} is not a CSV table ({str(e).strip().splitlines()[-1]})") from None
    if not {"n_labeled", "test_acc"} <= set(df.columns):
        raise BrokenRun(f"{path} has no n_labeled and test_acc columns")
    for col in df.columns.drop("train_stop", errors="ignore"):  # the one text column (why training stopped)
        df[col] = pd.to_numeric(df[col], errors="coerce")
    bad = df[["n_labeled", "test_acc"]].isna().any(axis=1).to_numpy().nonzero()[0]
    if len(bad):
        raise BrokenRun(f"{path} line {bad[0] + 2} holds no number in n_labeled or test_acc")
    return df


def data_name(opts):
    """The data label run.py uses: openml<did> when did > 0, a file's stem, else the name (digits by default)."""
    if int(opts.get("did") or 0) > 0:
        return f"openml{int(opts['did'])}"
    data = str(opts.get("data") or "")
    return Path(data).stem if data.lower().endswith((".csv", ".npz")) else data or "digits"


def load_run(folder):
    """One run folder as table rows: rounds.csv plus the run's setting from config.json; BrokenRun when either
    cannot be read."""
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text())
        seed = config.get("seed")
        meta = dict(source=str(folder), kind="run", data=config.get("data_name") or data_name(config),
                    model=config["model"], alg=ALIASES.get(config["alg"], config["alg"]),
                    nQuery=int(config["nQuery"]), nStart=int(config["nStart"]), nEnd=int(config["nEnd"]),
                    seed=int(config["dummy"] if seed is None else seed), finished=(folder / "summary.json").is_file())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BrokenRun(f"{path} cannot be read as JSON ({type(e).__name__})") from None
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise BrokenRun(f"{path} lacks a valid setting ({type(e).__name__}: {e})") from None
    return read_rounds(folder / "rounds.csv").assign(**meta)


def load_runs(folders, broken):
    """The readable run folders as tables; each broken one is warned about and appended to `broken`."""
    frames = []
    for folder in folders:
        try:
            frames.append(load_run(folder))
        except BrokenRun as e:
            warnings.warn(f"skipping broken run folder {folder}: {e}")
            broken.append(folder)
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


def log_setting(path, text, log_meta):
    """data, model, alg, nQuery (and seed, nStart, nEnd when known) of a log: its Namespace line, else its file
    name, else --log-meta."""
    found = {}
    opts = parse_namespace(text)
    if opts:
        found.update(data=data_name(opts), **{k: opts[k] for k in ("model", "alg", "nQuery", "nStart", "nEnd")
                                             if k in opts})
        seed = opts.get("seed")
        found["seed"] = opts.get("dummy") if seed is None else seed
    m = LOG_NAME.match(path.stem)
    if m:
        for key, value in m.groupdict().items():
            if found.get(key) is None and value is not None:
                found[key] = value
    for key, value in log_meta.items():
        if found.get(key) is None:
            found[key] = value
    return {k: v for k, v in found.items() if v is not None}


def load_log(path, log_meta):
    """Table rows from one output log of the original code; None when it holds no accuracy line or its setting
    cannot be told."""
    raw = path.read_bytes()
    if b"testing accuracy" not in raw:
        return None
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
    rows = pd.DataFrame({"n_labeled": [int(float(n)) for n, _ in pairs], "test_acc": [float(a) for _, a in pairs]})
    rows = rows.drop_duplicates("n_labeled", keep="last").reset_index(drop=True)
    alg = str(setting["alg"])
    return rows.assign(round=np.arange(len(rows)), source=str(path), kind="log", data=str(setting["data"]),
                       model=str(setting["model"]), alg=ALIASES.get(alg, alg), nQuery=int(setting["nQuery"]),
                       nStart=int(setting.get("nStart", rows.n_labeled.min())),
                       nEnd=int(setting["nEnd"]) if "nEnd" in setting else np.nan,
                       seed=int(setting["seed"]) if "seed" in setting else np.nan, finished=np.nan)


def find_sources(roots):
    """Run folders (config.json next to rounds.csv) and candidate log files outside them, under the roots."""
    runs, logs = [], []
    for root in roots:
        runs += sorted(p.parent for p in Path(root).rglob("config.json") if (p.parent / "rounds.csv").is_file())
    run_set = set(runs)
    for root in roots:
        for p in sorted(Path(root).rglob("*")):
            if (p.is_file() and p.suffix in LOG_SUFFIXES and not p.name.startswith(".")
                    and p.stat().st_size <= LOG_MAX_BYTES and not run_set.intersection(p.parents)):
                logs.append(p)
    return runs, logs


def number_unseeded(table):
    """Logs without a seed get replicate numbers per (setting, alg) in file order, after the largest known seed."""
    missing = table.seed.isna()
    if not missing.any():
        return table
    warnings.warn(f"{table[missing].source.nunique()} log(s) name no seed or dummy; numbering them in file order")
    group = SETTING + ["alg"]
    largest = table.groupby(group).seed.transform("max").fillna(0)
    order = table[missing].groupby(group).source.transform(lambda s: pd.factorize(s)[0] + 1)
    table.loc[missing, "seed"] = largest[missing] + order
    return table


def drop_duplicate_runs(table):
    """One source per (data, model, nQuery, alg, seed): a run folder before a log (silently: sweep.py keeps each
    run's log beside it), then the one with most rows (with a warning)."""
    sizes = table.groupby("source").agg(kind=("kind", "first"), rows=("test_acc", "size"),
                                        **{k: (k, "first") for k in RUN_KEY})
    sizes = sizes.assign(is_log=sizes.kind == "log").sort_values(["is_log", "rows"], ascending=[True, False])
    keep = sizes.drop_duplicates(RUN_KEY)
    dropped = sizes.drop(keep.index)
    has_run = dropped.set_index(RUN_KEY).index.isin(sizes[~sizes.is_log].set_index(RUN_KEY).index)
    same_kind = dropped[~dropped.is_log.to_numpy() | ~has_run]
    if len(same_kind):
        warnings.warn(f"ignoring {len(same_kind)} duplicate source(s) of runs already read, e.g. {same_kind.index[0]}")
    return table[table.source.isin(keep.index)]


def load_results(roots, log_meta=None, broken=None):
    """Every round of every run and log under the roots, one row each; broken run folders are skipped (and
    appended to the list `broken` when given)."""
    runs, logs = find_sources(roots)
    frames = load_runs(runs, [] if broken is None else broken)
    frames += [f for f in (load_log(p, log_meta or {}) for p in logs) if f is not None]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    table = number_unseeded(pd.concat(frames, ignore_index=True))
    table = drop_duplicate_runs(table.astype({"seed": int, "nQuery": int, "n_labeled": int}))
    first = ["data", "model", "nQuery", "alg", "seed", "round", "n_labeled", "test_acc"]
    return table[first + [c for c in table.columns if c not in first]].sort_values(
        ["data", "model", "nQuery", "alg", "seed", "n_labeled"]).reset_index(drop=True)


# ---------------------------------------------------------------- the analysis

def accuracies(setting):
    """alg -> DataFrame of test accuracy, index n_labeled, one column per seed."""
    return {alg: g.pivot_table(index="n_labeled", columns="seed", values="test_acc")
            for alg, g in setting.groupby("alg")}


def geometric_counts(n_start, n_query, n_max):
    """nStart + k·nQuery for k = 0, 1, 2, 4, 8, … while at most n_max."""
    counts, k = [], 0
    while n_start + k * n_query <= n_max:
        counts.append(n_start + k * n_query)
        k = 1 if k == 0 else 2 * k
    return counts


def rand_cutoff(rand_acc):
    """Smallest labelled count where rand's mean accuracy reaches 99 % of its mean at the largest count that
    every seed reached."""
    common = rand_acc.dropna()
    if common.empty:
        return None
    mean = common.mean(axis=1)
    return int(mean.index[np.argmax(mean.to_numpy() >= RAND_FRACTION * mean.iloc[-1])])


def checkpoints(acc, n_start, n_query):
    """The setting's checkpoints (module docstring) and the last labelled count they may reach."""
    if RAND in acc and (cut := rand_cutoff(acc[RAND])) is not None:
        return geometric_counts(n_start, n_query, cut), cut
    last_common = min(int(a.apply(pd.Series.last_valid_index).min()) for a in acc.values())
    return geometric_counts(n_start, n_query, last_common), None


def paired_t(a, b):
    """t = mean(d) / (sd(d) / √n), d = a − b (sample sd); ±inf when sd = 0 < |mean(d)|, 0 when every d = 0."""
    d = np.asarray(a, float) - np.asarray(b, float)
    mean, sd = d.mean(), d.std(ddof=1)
    if sd == 0:
        return 0.0 if mean == 0 else np.copysign(np.inf, mean)
    return mean / (sd / np.sqrt(len(d)))


def t_threshold(n_seeds, fixed=None):
    """The two-sided 5 % critical value t_{0.975, n−1} of a paired t-test over n seeds, or the fixed value."""
    return fixed if fixed is not None else stats.t.ppf(1 - P_VALUE / 2, n_seeds - 1)


def beats(acc_i, acc_j, fixed_threshold=None):
    """Whether i beats j on paired seed accuracies (Series indexed by seed): t > critical value, n ≥ 2 seeds."""
    both = pd.concat([acc_i, acc_j], axis=1, join="inner").dropna()
    if len(both) < 2:
        return False
    return bool(paired_t(both.iloc[:, 0], both.iloc[:, 1]) > t_threshold(len(both), fixed_threshold))


def penalty_matrix(acc, points, fixed_threshold=None):
    """P[i, j] = (1/L)·#{checkpoints c : i beats j at c}, L = len(points); a DataFrame in the fixed order."""
    algs = alg_order(acc)
    P = pd.DataFrame(0.0, index=algs, columns=algs)
    for c in points:
        at = {a: acc[a].loc[c] for a in algs if c in acc[a].index}
        for i in at:
            for j in at:
                if i != j and beats(at[i], at[j], fixed_threshold):
                    P.loc[i, j] += 1 / len(points)
    return P


def tested_pairs(acc, points):
    """T[i, j] = True when at some checkpoint i and j have at least 2 seeds in common (a paired t-test was
    possible); the diagonal is True."""
    algs = alg_order(acc)
    T = pd.DataFrame(np.eye(len(algs), dtype=bool), index=algs, columns=algs)
    for c in points:
        seeds = {a: set(acc[a].loc[c].dropna().index) for a in algs if c in acc[a].index}
        for i in seeds:
            for j in seeds:
                T.loc[i, j] |= len(seeds[i] & seeds[j]) >= 2
    return T


def marked_table(P, T):
    """P with its column averages as a last row, untested cells (T False) and averages of columns without any
    tested off-diagonal cell left empty (NaN)."""
    avg = column_averages(P).where((T & ~np.eye(len(T), dtype=bool)).any(axis=0))
    return pd.concat([P.where(T), avg.to_frame("column average").T])


def column_averages(P):
    """Mean of each column over the other algorithms' rows (the diagonal is always 0): lower is better."""
    k = len(P)
    return P.sum(axis=0) / max(k - 1, 1)


def normalised_errors(acc, points):
    """Rows (alg, n_labeled, value, weight): value = (1 − mean acc_alg) / (1 − mean acc_rand) at each checkpoint,
    means over seeds; weight 1/L."""
    rows = []
    if RAND not in acc:
        return pd.DataFrame(columns=["alg", "n_labeled", "value", "weight"])
    rand_err = 1 - acc[RAND].mean(axis=1)
    for alg in alg_order(acc):
        err = 1 - acc[alg].mean(axis=1)
        for c in points:
            if c in err.index and c in rand_err.index and rand_err[c] > 0 and not np.isnan(err[c]):
                rows.append((alg, c, err[c] / rand_err[c], 1 / len(points)))
    return pd.DataFrame(rows, columns=["alg", "n_labeled", "value", "weight"])


def query_times(setting):
    """Per alg: mean over seeds of each run's mean query / inference / selection seconds per query round."""
    if "query_seconds" not in setting or setting.query_seconds.isna().all():
        return pd.DataFrame()
    q = setting[(setting["round"] > 0) & setting.query_seconds.notna()]
    per_run = q.groupby(["alg", "seed"])[["query_seconds", "infer_seconds", "select_seconds"]].mean().groupby("alg")
    out = per_run.mean().add_suffix("_mean").join(per_run.query_seconds.sem().rename("query_seconds_sem"))
    out = out.join(per_run.size().rename("runs"))
    return out.reindex(alg_order(out.index))[["query_seconds_mean", "query_seconds_sem", "infer_seconds_mean",
                                               "select_seconds_mean", "runs"]]


# ---------------------------------------------------------------- figures

def save(fig, fig_dir, stem):
    for fmt in FORMATS:
        fig.savefig(fig_dir / f"{stem}.{fmt}", bbox_inches="tight", dpi=150)
    plt.close(fig)


def outside_legend(ax, **kw):
    """The legend to the right of the axes, so that it never hides the curves' end points."""
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, **kw)


def plot_learning(acc, title, cutoff, fig_dir, stem):
    save(learning_figure(acc, title, cutoff), fig_dir, stem)


def learning_figure(acc, title, cutoff):
    """Mean ± standard error of each algorithm's accuracy over seeds, against labelled points."""
    fig, ax = plt.subplots(figsize=(7.6, 4.4))
    for alg in alg_order(acc):
        a = acc[alg]
        mean, se = a.mean(axis=1), a.sem(axis=1).fillna(0)
        ax.plot(mean.index, mean, color=colour(alg), label=f"{alg} ({a.shape[1]})", lw=1.6)
        ax.fill_between(mean.index, mean - se, mean + se, color=colour(alg), alpha=0.2, lw=0)
    if cutoff is not None:
        ax.axvline(cutoff, color="0.5", ls=":", lw=1, label="rand at 99 % of final")
    ax.set(xlabel="labelled points", ylabel="test accuracy", title=title)
    ax.grid(alpha=0.3)
    outside_legend(ax, title="alg (seeds)", title_fontsize=8)
    return fig


def plot_penalty(P, T, title, fig_dir, stem, note):
    """The matrix and its column averages as a heat map; cells without any test (T False) read n/a."""
    algs = list(P.index)
    k = len(algs)
    grid = marked_table(P, T).to_numpy(dtype=float)
    top = max(np.nanmax(grid, initial=0), 1e-9)
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * k, 1.6 + 0.6 * (k + 1)))
    ax.imshow(np.ma.masked_invalid(grid), cmap="Reds", vmin=0, vmax=top, aspect="auto")
    ax.set_facecolor("0.85")
    for (r, c), v in np.ndenumerate(grid):
        ax.text(c, r, "n/a" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=8,
                color="white" if v > 0.6 * top else "black")
    if not T.to_numpy().all():
        note += "\nn/a: fewer than 2 common seeds, no test possible"
    ax.axhline(k - 0.5, color="black", lw=1.5)
    ax.set_xticks(range(k), algs, rotation=45, ha="right")
    ax.set_yticks(range(k + 1), algs + ["column avg"])
    ax.set(xlabel="j (beaten)", ylabel="i (wins)", title=f"{title}\n{note}")
    save(fig, fig_dir, stem)


def plot_cdf(errors, title, fig_dir, stem):
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for alg in alg_order(errors.alg.unique()):
        e = errors[errors.alg == alg].sort_values("value")
        x = np.concatenate([e.value.iloc[:1], e.value])
        y = np.concatenate([[0.0], e.weight.cumsum() / e.weight.sum()])
        ax.step(x, y, where="post", color=colour(alg), label=alg, lw=1.6)
    ax.set(xlabel="normalised error (1 − acc) / (1 − acc_rand)", ylabel="cumulative fraction (weighted 1/L)",
           title=title)
    ax.grid(alpha=0.3)
    outside_legend(ax)
    save(fig, fig_dir, stem)


def plot_query_times(times, title, fig_dir, stem):
    fig, ax = plt.subplots(figsize=(1.5 + 0.6 * len(times), 4.2))
    algs = list(times.index)
    ax.bar(range(len(algs)), times.query_seconds_mean, yerr=times.query_seconds_sem.fillna(0),
           color=[colour(a) for a in algs], capsize=3)
    ax.set_xticks(range(len(algs)), algs, rotation=45, ha="right")
    positive = times.query_seconds_mean[times.query_seconds_mean > 0]
    if len(positive) > 1 and positive.max() / positive.min() > 100:
        ax.set_yscale("log")
    ax.set(ylabel="query seconds per round", title=title)
    ax.grid(alpha=0.3, axis="y")
    save(fig, fig_dir, stem)


# ---------------------------------------------------------------- driver

def setting_stem(key):
    return re.sub(r"[^\w.-]+", "-", "_".join(str(k) for k in key))


def analyse(table, fig_dir, fixed_threshold=None):
    """Every figure and CSV of the module docstring; returns the overall penalty matrix."""
    fig_dir = Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(fig_dir / "results.csv", index=False)
    thr = f"t > {fixed_threshold}" if fixed_threshold is not None else "t > t(0.975, seeds − 1)"
    matrices, tested, errors, times = [], [], [], []
    for key, setting in table.groupby(SETTING):
        stem, (data, model, n_query) = setting_stem(key), key
        acc = accuracies(setting)
        points, cutoff = checkpoints(acc, int(setting.nStart.min()), int(n_query))
        if not points:
            warnings.warn(f"{key}: no run reaches nStart = {int(setting.nStart.min())} labels; skipped")
            continue
        n_seeds = setting.groupby("alg").seed.nunique().max()
        title = f"{data}, {model}, batch {n_query}"
        if cutoff is None and len(acc) > 1:
            why = "its 'rand' seeds share no labelled count" if RAND in acc else "no 'rand' runs"
            warnings.warn(f"{title}: {why}; checkpoints run to {points[-1]} labels (all runs reach it)")
        plot_learning(acc, f"{title} (mean ± s.e.)", cutoff, fig_dir, f"learning_{stem}")
        P, T = penalty_matrix(acc, points, fixed_threshold), tested_pairs(acc, points)
        marked_table(P, T).to_csv(fig_dir / f"penalty_{stem}.csv", index_label="winner")
        plot_penalty(P, T, title, fig_dir, f"penalty_{stem}",
                     f"L = {len(points)} checkpoints, {thr}, ≤ {n_seeds} seeds")
        matrices.append(P)
        tested.append((title, T))
        err = normalised_errors(acc, points)
        if len(err):
            plot_cdf(err, title, fig_dir, f"cdf_{stem}")
            errors.append(err.assign(data=data, model=model, nQuery=n_query))
        qt = query_times(setting)
        if len(qt):
            qt.to_csv(fig_dir / f"query_time_{stem}.csv", index_label="alg")
            plot_query_times(qt, title, fig_dir, f"query_time_{stem}")
            times.append(qt.reset_index().assign(data=data, model=model, nQuery=n_query))
    overall, overall_tested = overall_matrix(matrices), overall_matrix([T for _, T in tested]).astype(bool)
    marked_table(overall, overall_tested).to_csv(fig_dir / "penalty_overall.csv", index_label="winner")
    plot_penalty(overall, overall_tested, f"all settings ({len(matrices)})", fig_dir, "penalty_overall",
                 f"sum of the settings' matrices, {thr}")
    warn_untested(tested)
    if errors:
        all_err = pd.concat(errors, ignore_index=True)
        all_err.to_csv(fig_dir / "normalised_error.csv", index=False)
        plot_cdf(all_err, f"all settings ({all_err.groupby(SETTING).ngroups})", fig_dir, "cdf_overall")
    if times:
        pd.concat(times, ignore_index=True).to_csv(fig_dir / "query_time.csv", index=False)
    return overall


def warn_untested(tested):
    """One warning naming the settings (of (title, T) pairs) whose penalty matrix has cells without a test."""
    partial = [(title, int((~T.to_numpy()).sum())) for title, T in tested if not T.to_numpy().all()]
    if partial:
        warnings.warn(f"no test was possible (fewer than 2 common seeds) in {sum(n for _, n in partial)} penalty "
                      f"cell(s), marked n/a: {'; '.join(f'{t}: {n}' for t, n in partial)}; run more seeds")


def overall_matrix(matrices):
    """Sum over settings of P (an algorithm missing from a setting adds 0 there); for boolean matrices, the
    count of settings where the cell is True."""
    algs = alg_order({a for P in matrices for a in P.index})
    total = pd.DataFrame(0.0, index=algs, columns=algs)
    for P in matrices:
        total = total.add(P, fill_value=0).loc[algs, algs]
    return total


def parse_args(argv):
    p = argparse.ArgumentParser(prog="agg_results.py", description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="+", help="results folder(s), searched recursively")
    p.add_argument("--fig", required=True, help="output folder for figures and CSVs")
    p.add_argument("--t-threshold", type=float, default=None,
                   help="fixed t threshold (the paper's 2.776); default t(0.975, seeds − 1) per checkpoint")
    p.add_argument("--log-meta", action="append", default=[], metavar="KEY=VALUE",
                   help="setting of logs that name it nowhere else, e.g. --log-meta data=CIFAR10 --log-meta seed=1")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        log_meta = dict(kv.split("=", 1) for kv in args.log_meta)
    except ValueError:
        print("agg_results.py: error: --log-meta takes KEY=VALUE", file=sys.stderr)
        return 2
    if args.t_threshold is not None and not (math.isfinite(args.t_threshold) and args.t_threshold > 0):
        print(f"agg_results.py: error: --t-threshold must be a positive finite number (the paper's is 2.776), "
              f"got {args.t_threshold}", file=sys.stderr)
        return 2
    missing = [r for r in args.results if not Path(r).is_dir()]
    if missing:
        print(f"agg_results.py: error: no such folder: {missing[0]}", file=sys.stderr)
        return 2
    broken = []
    table = load_results(args.results, log_meta, broken)
    if table.empty:
        print(f"agg_results.py: error: no readable runs (config.json + rounds.csv) or accuracy logs under "
              f"{', '.join(args.results)}" + (f" ({broken_note(broken)})" if broken else ""), file=sys.stderr)
        return 2
    overall = analyse(table, args.fig, args.t_threshold)
    print(f"{table.source.nunique()} runs, {table.groupby(SETTING).ngroups} settings -> {args.fig}")
    print("column averages of the overall penalty matrix (lower is better):")
    print(column_averages(overall).sort_values().to_string(float_format=lambda v: f"{v:.3f}"))
    if broken:
        print(f"agg_results.py: {broken_note(broken)}", file=sys.stderr)
    return 0


def broken_note(broken):
    """'skipped N broken run folder(s): a, b'."""
    return f"skipped {len(broken)} broken run folder(s): {', '.join(map(str, broken))}"


def cli():
    """The console command (`badge-agg`, or `python scripts/agg_results.py`): one-line warnings, main's exit code."""
    warnings.formatwarning = lambda msg, *a, **k: f"agg_results.py: warning: {msg}\n"
    sys.exit(main())


if __name__ == "__main__":
    cli()
