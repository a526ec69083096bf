"""The paper's analysis (PROTOCOL §7) of a folder of active-learning runs.

    python scripts/agg_results.py RESULTS_DIR [RESULTS_DIR ...] --fig FIG_DIR

Reads, recursively, every run folder (config.json + rounds.csv, as run.py writes them; partial runs included, a
truncated last line of rounds.csv ignored) and every output log of the original code (*.txt, *.log, *.out or
no suffix, at most 50 MB, holding `<n>  testing accuracy <acc>` lines) into one table, FIG_DIR/results.csv, each
once however many RESULTS_DIR reach it. A
RESULTS argument that is a .csv file is such a results.csv of an earlier analysis, read again and pooled with the
rest (e.g. the committed docs/letter/results.csv with new runs).
Each field of a log's setting comes from the `Namespace(...)` line the original printed (seed = --seed, else
--dummy), else from its file name (`<data>_<model>_<alg>_<nQuery>[_seed<seed>|_dummy<seed>|_<seed>]`), else
from `--log-meta KEY=VALUE`; logs without any seed are numbered 1, 2, … per setting and algorithm in file order.
A run folder wins over a log of the same (data, model, nQuery, alg, seed); aliases (kcenter, kdpp) count as
their algorithm (coreset, baseline). A log holding two runs (its labelled counts go back) or accuracies above 1 is
skipped with a warning; a results.csv with a column missing, an empty or malformed cell, an accuracy outside
[0, 1], or rows of two runs under one source is refused. When two results.csv files hold one source (a run
folder's name) with different results, e.g. two machines' `results/x_seed1`, those are analysed as separate runs.

Runs are never averaged across result-changing flags: when runs of one (data, model, nQuery) differ in nStart,
--lr, --nEmb, --trunc, --aug, --maxEpochs, --patience, --threads, --device, --imbalance, --select-on or the data's
content (as their config.json records them), each group becomes its own setting, named by those values (e.g. `lr=0.001
nStart=50`); a run that records no value of such a flag (a results.csv of an older version) pools with runs of
run.py's default only, and is apart (`imbalance=?`) beside runs that set another; runs of one algorithm that
differ in its own flags (--beta, --nConfigs, --delta, --kmFactor) become
separate algorithms (`powerbald beta=2`); a warning says which flags differ. Another warning names the trainers when a
setting's runs trained with different ones (config.json's trainer and trainer_identity, a resumed run's segments
included).

For each setting (data, model, nQuery and any such protocol) it writes, as PNG and PDF (and CSV where it is a
table):
  learning_<setting>    test accuracy against labelled points, mean ± standard error over seeds;
  penalty_<setting>     the pairwise penalty matrix: P[i, j] = fraction of the L checkpoints at which i beats j;
  cdf_<setting>         the cumulative distribution of the normalised error (1 − acc_alg) / (1 − acc_rand);
  query_time_<setting>  mean query seconds per round (mean over seeds ± standard error);
  rarest_<setting>.csv  the mean labelled count of the pool's rarest class per algorithm at each checkpoint
                        (runs that record rounds.csv's rarest_labeled; e.g. with --imbalance);
  summary_<setting>.csv per algorithm, best column average first: mean accuracy at each checkpoint and at the
                        last count all reach (acc_<n>; balanced_acc_<n> with --metric balanced_acc), the
                        column average, wins against and losses to each --versus
                        algorithm (shares of the L checkpoints), the mean query seconds and a round's mean
                        training seconds and epochs (means over seeds of each run's means per round);
and over all settings penalty_overall (the sum of the settings' matrices, with column averages: lower is
better), cdf_overall, normalised_error.csv, query_time.csv, and train_stops.csv: per setting and algorithm, how
many rounds' training reached the 0.99 target and how many a guard stopped (rounds.csv's train_stop: stalled,
cap, unreachable), which the last lines printed also count, and run_costs.csv: per run, its rounds, last labelled
count, training seconds and epochs summed over its rounds and its most epochs in one round, query seconds summed,
and the rounds a guard stopped (what a sweep of each strategy costs on the machine that ran it). When the settings
span several batch sizes or model families, penalty_batch_<nQuery> and penalty_family_<family> sum the matrices of
each batch size and of each family (MODEL_FAMILY: mlp, linear, convolutional), like the paper's per-batch-size and
per-architecture figures (the authors' script splits by network, so resnet and vgg, one family here, are two figures
there).
With --metric balanced_acc every figure and matrix is drawn on balanced accuracy (rounds.csv's balanced_acc, the
mean per-class recall on the test set) in place of test accuracy; runs that do not record it are left out.

Rules. Checkpoints are nStart, then nStart + k·nQuery, k = 1, 2, 4, 8, …, while the seeds' mean accuracy of 'rand'
there is at most 99 % of its final value (its mean at the largest count all 'rand' seeds reached): as in the authors'
script, the first such count where rand exceeds 99 % is not a checkpoint; a count that no rand seed records is not
one either, and the rule goes on past it (with a warning). A setting without 'rand' uses every such
checkpoint that all its runs reached, with a warning, and has no normalised error. At a checkpoint, i beats j when the
paired (by seed) t statistic of acc_i − acc_j exceeds the two-sided 5 % critical value t_{0.975, n−1} of the n paired
seeds (2.776 for 5 seeds; --t-threshold fixes it); equal non-zero differences at every seed count as a win (t = ±inf),
fewer than 2 paired seeds never do. Each win adds 1/L to P[i, j]. A cell (i, j) whose algorithms share fewer than 2
seeds at every checkpoint had no test at all: it is n/a in the figure, empty in the CSV (a column without any test has
an empty average), and one warning names such settings. A column average is the mean over the other algorithms' rows
(the authors' script also counts the zero diagonal, so its averages are (k−1)/k of these for k algorithms; the order
is the same). Each normalised error is weighted 1/L (1/L' when the algorithm has a value at only L' of the
checkpoints, or rand's error is 0 at some), so every setting weighs the same in a CDF (each algorithm's curve rises to
1). A warning names the runs that end before others of their strategy and setting (beyond a run's last round, the
curve and summary average fewer seeds), one the strategies that lack seeds others in the setting ran (their means are
over other seeds), one rand's runs when all end before another strategy's (rand's final accuracy is then taken
early), one the strategies without any value at some checkpoint (there they neither win nor lose), and the files of
an earlier analysis in --fig that this one did not write."""
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from errors import Parser, counted, exit_with, first_paragraph, interrupted_line, quiet_start  # noqa: E402

if __name__ == "__main__":
    quiet_start("agg_results.py")

import math  # noqa: E402
import re  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import pandas as pd  # noqa: E402

from results import write_atomic  # noqa: E402
from runlock import enclosing_run_folder  # noqa: E402
from training import ACC_TARGET, TRAIN_STOPS  # noqa: E402
from scripts.agg_algs import alg_order  # noqa: E402
from scripts.agg_figures import plot_cdf, plot_learning, plot_penalty, plot_query_times  # noqa: E402
from scripts.agg_read import (LOG_META_KEYS, LOG_META_WHOLE, RUN_KEY, SETTING, BrokenRun, canonical,  # noqa: E402
                              load_results, setting_title, warn_mixed_trainers, whole_number)
from scripts.agg_stats import (RAND, VERSUS, accuracies, checkpoints, marked_table,  # noqa: E402
                               normalised_errors, overall_matrix, penalty_matrix, query_times, rand_gaps,
                               rand_means, rand_unrecorded, rarest_counts, setting_summary, tested_pairs,
                               training_costs, unrecorded_checkpoints)


METRICS = ("test_acc", "balanced_acc")
MODEL_FAMILY = {"mlp": "mlp", "lin": "linear", "cnn": "convolutional", "resnet": "convolutional",
                "vgg": "convolutional"}


@dataclass
class SettingResult:
    """What one setting adds to the overall figures: its (data, model, nQuery) key, title, penalty matrix P, tested
    cells T, and its normalised errors and query times with the setting's columns (None when it has none)."""
    key: tuple
    title: str
    P: pd.DataFrame
    T: pd.DataFrame
    errors: pd.DataFrame | None
    times: pd.DataFrame | None


def setting_stem(key):
    """A setting's (data, model, nQuery, protocol) as a file name stem: its non-empty parts joined by '_', odd
    characters as '-'."""
    return re.sub(r"[^\w.-]+", "-", "_".join(str(k) for k in key if str(k)))


def threshold_note(fixed_threshold):
    """The win rule as the penalty figures state it."""
    return f"t > {fixed_threshold}" if fixed_threshold is not None else "t > t(0.975, seeds − 1)"


def analyse(table, fig_dir, fixed_threshold=None, metric="test_acc", versus=VERSUS):
    """Every figure and CSV of the module docstring, on the rounds.csv column `metric`, with summaries against
    `versus`; returns the overall matrix's column averages (empty where untested) and the training stops
    (training_stops, None without any)."""
    fig_dir = Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    earlier = own_outputs(fig_dir)
    # a later analysis may read it (a RESULTS argument): whole or not at all
    write_atomic(fig_dir / "results.csv", table.to_csv(index=False))
    if (stops := training_stops(table)) is not None:
        stops.to_csv(fig_dir / "train_stops.csv")
    if (costs := run_costs(table)) is not None:
        costs.to_csv(fig_dir / "run_costs.csv", index=False)
    found = [analyse_setting(key, setting, fig_dir, fixed_threshold, metric, versus)
             for key, setting in table.groupby(SETTING)]
    averages = write_overall([r for r in found if r is not None], fig_dir, fixed_threshold, metric)
    warn_stale(fig_dir, earlier)
    return averages, stops


# The names of the files an analysis writes in --fig (the module docstring).
OWN_OUTPUT = re.compile(r"((learning|penalty|cdf|query_time|rarest|summary)_.+\.(png|pdf|csv)|"
                        r"(results|normalised_error|query_time|train_stops|run_costs)\.csv)")


def own_outputs(fig_dir):
    """{name: modification time (ns)} of the files in fig_dir named as an analysis names its outputs."""
    return {f.name: f.stat().st_mtime_ns for f in fig_dir.iterdir() if OWN_OUTPUT.fullmatch(f.name) and f.is_file()}


def warn_stale(fig_dir, earlier):
    """One warning naming the files of an earlier analysis (`earlier`, own_outputs before this one) that this one
    left as they were: they are not of these results."""
    now = own_outputs(fig_dir)
    stale = sorted(name for name, mtime in earlier.items() if now.get(name) == mtime)
    if stale:
        warnings.warn(f"{fig_dir} holds {len(stale)} file(s) of an earlier analysis that this one did not write, "
                      f"e.g. {stale[0]}: they are not of these results; delete them or use a new --fig folder")


def training_stops(table):
    """Rounds per setting and algorithm by why their training ended (rounds.csv's train_stop, a column per reason
    of training.TRAIN_STOPS, then one per reason a newer version wrote), over the rows that record it (the
    original's logs do not); None when none does."""
    recorded = table.dropna(subset=["train_stop"]) if "train_stop" in table else table.iloc[:0]
    if recorded.empty:
        return None
    counts = recorded.groupby(SETTING + ["alg", "train_stop"]).size().unstack("train_stop", fill_value=0)
    return counts.reindex(columns=[*TRAIN_STOPS, *sorted(set(counts.columns) - set(TRAIN_STOPS))], fill_value=0)


COST_SUMS = ["train_seconds", "train_epochs", "query_seconds"]  # rounds.csv's columns a run's cost sums


def run_costs(table):
    """One row per run (RUN_KEY and its source) that records its training (rounds.csv's train_seconds): its
    rounds, last labelled count, COST_SUMS summed over its rounds, its most epochs in one round, and its rounds
    that a guard stopped (a train_stop other than target); None when no run records its training."""
    if "train_seconds" not in table or table.train_seconds.isna().all():
        return None
    rounds = table[table.train_seconds.notna()].reindex(columns=[*RUN_KEY, "source", "round", "n_labeled",
                                                                  *COST_SUMS, "train_stop"])
    guarded = rounds.train_stop.notna() & (rounds.train_stop != "target")
    runs = rounds.assign(guard_stops=guarded).groupby([*RUN_KEY, "source"], sort=False, dropna=False)
    costs = runs.agg(rounds=("round", "size"), n_labeled=("n_labeled", "max"),
                     train_seconds=("train_seconds", recorded_sum), train_epochs=("train_epochs", recorded_sum),
                     most_epochs=("train_epochs", "max"), query_seconds=("query_seconds", recorded_sum),
                     guard_stops=("guard_stops", "sum"))
    return costs.reset_index()


def recorded_sum(values):
    """The sum of the values recorded (not NaN); NaN when none is (an older version's rounds without a column)."""
    return values.sum(min_count=1)


def stops_line(stops):
    """'rounds trained to the 0.99 target: N of M' and, when a guard stopped some, how many for each reason."""
    total, reached = stops.to_numpy().sum(), stops["target"].sum()
    line = f"rounds trained to the {ACC_TARGET} target: {reached:,} of {total:,}"
    guards = {k: int(stops[k].sum()) for k in stops.columns if k != "target" and stops[k].sum()}
    if guards:
        line += (f" (stopped by a guard: {', '.join(f'{k} {n:,}' for k, n in guards.items())}; by setting and "
                 f"algorithm in train_stops.csv)")
    return line


def analyse_setting(key, setting, fig_dir, fixed_threshold, metric="test_acc", versus=VERSUS):
    """The figures and CSVs of one setting (SETTING's values) on `metric`; None (with a warning) when no run
    reaches its nStart."""
    stem, n_query = setting_stem(key), key[2]
    acc = accuracies(setting, metric)
    n_first = int(setting.nStart.min()) or int(n_query)  # a cold start (nStart 0) first labels --nQuery points
    points, cutoff = checkpoints(acc, n_first, int(n_query))
    if not points:
        warnings.warn(f"{key}: no run reaches nStart = {int(setting.nStart.min())} labels; skipped")
        return None
    n_seeds = setting.groupby("alg").seed.nunique().max()
    title = setting_title(key)
    if RAND in acc and (ends := acc[RAND].apply(pd.Series.last_valid_index).dropna()).nunique() > 1:
        warnings.warn(f"{title}: its 'rand' seeds end at different labelled counts ({int(ends.min())}–"
                      f"{int(ends.max())}); rand's final accuracy, which places the checkpoints, is taken at "
                      f"{int(ends.min())}, the largest all reach")
    warn_short_runs(acc, title)
    warn_missing_seeds(acc, title)
    warn_unrecorded(acc, points, n_first, int(n_query), title, metric)
    if RAND in acc and (gaps := rand_gaps(acc[RAND])):
        warnings.warn(f"{title}: some 'rand' seeds record no {metric} at {len(gaps)} labelled count(s) ("
                      f"{', '.join(map(str, gaps[:3]))}{', …' if len(gaps) > 3 else ''}); rand's mean there, which "
                      f"places the checkpoints, is over the seeds that have it")
    if cutoff is None and (len(acc) > 1 or RAND not in acc):
        why = "its 'rand' seeds share no labelled count" if RAND in acc else "no 'rand' runs"
        warnings.warn(f"{title}: {why}; checkpoints run to {points[-1]} labels (all runs reach it)"
                      + ("" if RAND in acc else "; no normalised errors or CDF, which are relative to rand's"))
    plot_learning(acc, f"{title} (mean ± s.e.)", cutoff, fig_dir, f"learning_{stem}", metric)
    P, T = penalty_matrix(acc, points, fixed_threshold), tested_pairs(acc, points)
    write_penalty(P, T, title, fig_dir, f"penalty_{stem}",
                  f"{metric}, L = {counted(len(points), 'checkpoint')}, {threshold_note(fixed_threshold)}, "
                  f"≤ {counted(n_seeds, 'seed')}")
    columns = dict(zip(SETTING, key))
    errors = write_errors(normalised_errors(acc, points), title, fig_dir, f"cdf_{stem}", metric)
    times = write_query_times(query_times(setting), title, fig_dir, f"query_time_{stem}")
    summary = setting_summary(acc, P, T, points, versus, metric)
    if times is not None:
        summary = summary.join(times.query_seconds_mean)
    summary = summary.join(training_costs(setting))
    summary.to_csv(fig_dir / f"summary_{stem}.csv", index_label="alg", float_format="%.4f")
    if (rarest := rarest_counts(setting, points)) is not None:
        rarest.to_csv(fig_dir / f"rarest_{stem}.csv", float_format="%.1f")
    return SettingResult(key, title, P, T, None if errors is None else errors.assign(**columns),
                         None if times is None else times.reset_index().assign(**columns))


def warn_short_runs(acc, title):
    """One warning naming the runs (beyond rand's, warned about apart) that end before others of their algorithm
    in the setting: beyond their last count, the curve and means average fewer seeds."""
    short = []
    for alg, a in acc.items():
        ends = a.apply(pd.Series.last_valid_index)
        if alg != RAND and ends.nunique() > 1:
            short += [f"{alg} seed {seed} at {int(end)}" for seed, end in ends[ends < ends.max()].items()]
    if short:
        warnings.warn(f"{title}: {len(short)} run(s) end before others of their strategy ({'; '.join(short[:4])}"
                      f"{'; …' if len(short) > 4 else ''}): beyond that count, curves and means are over fewer seeds")


def warn_unrecorded(acc, points, n_first, n_query, title, metric):
    """Warnings for counts without any value: where no rand seed has one (that count is not a checkpoint), rand's
    runs that all end before another strategy's (rand's final accuracy, which places the checkpoints, is taken
    earlier), and the algorithms without a value at some checkpoint (there they neither win nor lose, while each
    win still weighs 1/L)."""
    if RAND in acc:
        if gaps := rand_unrecorded(rand_means(acc[RAND]), n_first, n_query):
            warnings.warn(f"{title}: no 'rand' seed records {metric} at {', '.join(map(str, gaps))} labels; rand's "
                          f"99 % rule cannot place a checkpoint there, so those counts are left out")
        ends = {alg: a.apply(pd.Series.last_valid_index).dropna() for alg, a in acc.items()}
        others = [int(e.max()) for alg, e in ends.items() if alg != RAND and len(e)]
        if len(ends[RAND]) and others and int(ends[RAND].max()) < max(others):
            warnings.warn(f"{title}: its 'rand' runs end at {int(ends[RAND].max())} labels, before other strategies' "
                          f"({max(others)}); rand's final accuracy, which places the checkpoints, is taken there: "
                          f"run rand to the end")
    if lacking := unrecorded_checkpoints(acc, points):
        named = "; ".join(f"{alg} at {', '.join(map(str, c))}" for alg, c in list(lacking.items())[:4])
        warnings.warn(f"{title}: {len(lacking)} strateg{'y has' if len(lacking) == 1 else 'ies have'} no {metric} "
                      f"at some of the L = {len(points)} checkpoints ({named}{'; …' if len(lacking) > 4 else ''}): "
                      f"there they neither win nor lose, so their columns and rows count fewer checkpoints")


def warn_missing_seeds(acc, title):
    """One warning naming the algorithms without runs of some seeds that others in the setting ran: their curves
    and summary means are over another set of seeds (each seed its own initial labels), and their t-tests pair only
    the seeds in common."""
    every = set().union(*(a.columns for a in acc.values()))
    lacking = [f"{alg}: {', '.join(map(str, sorted(every - set(acc[alg].columns))))}" for alg in alg_order(acc)
               if every - set(acc[alg].columns)]
    if lacking:
        warnings.warn(f"{title}: some strategies lack seeds that others ran ({'; '.join(lacking[:4])}"
                      f"{'; …' if len(lacking) > 4 else ''}); their curves and means are over other seeds than "
                      f"the others', and their tests pair only the seeds in common: run the missing seeds")


def write_penalty(P, T, title, fig_dir, stem, note):
    """The penalty matrix with its column averages as <stem>.csv (untested cells empty) and as a heat map."""
    marked_table(P, T).to_csv(fig_dir / f"{stem}.csv", index_label="winner")
    plot_penalty(P, T, title, fig_dir, stem, note)


def write_errors(errors, title, fig_dir, stem, metric):
    """The CDF of a setting's normalised errors on `metric` as <stem>; the errors, or None when there are none."""
    if not len(errors):
        return None
    plot_cdf(errors, title, fig_dir, stem, metric)
    return errors


def write_query_times(times, title, fig_dir, stem):
    """A setting's query times as <stem>.csv and a bar chart; the times, or None when no run recorded any."""
    if not len(times):
        return None
    times.to_csv(fig_dir / f"{stem}.csv", index_label="alg")
    plot_query_times(times, title, fig_dir, stem)
    return times


def write_overall(found, fig_dir, fixed_threshold, metric):
    """penalty_overall, cdf_overall, normalised_error.csv and query_time.csv over the settings' results; warns
    about untested cells and about algorithms missing from some settings (their sums cover fewer); returns the
    overall matrix's column averages, empty where untested."""
    warn_uneven_settings(found)
    overall = overall_matrix([r.P for r in found])
    overall_tested = overall_matrix([r.T for r in found]).astype(bool)
    write_penalty(overall, overall_tested, f"all settings ({len(found)})", fig_dir, "penalty_overall",
                  f"sum of the settings' matrices, {threshold_note(fixed_threshold)}")
    write_groups(found, fig_dir, fixed_threshold)
    warn_untested([(r.title, r.T) for r in found])
    errors = [r.errors for r in found if r.errors is not None]
    if errors:
        all_err = pd.concat(errors, ignore_index=True)
        all_err.to_csv(fig_dir / "normalised_error.csv", index=False)
        plot_cdf(all_err, f"all settings ({all_err.groupby(SETTING).ngroups})", fig_dir, "cdf_overall", metric)
    times = [r.times for r in found if r.times is not None]
    if times:
        pd.concat(times, ignore_index=True).to_csv(fig_dir / "query_time.csv", index=False)
    return marked_table(overall, overall_tested).loc["column average"]


def tested_in(T, alg):
    """Whether a setting's tested cells T pair `alg` with another algorithm at least once."""
    return bool(T.loc[alg].drop(alg).any() or T[alg].drop(alg).any())


def warn_uneven_settings(found):
    """One warning naming the algorithms tested in only some of the settings (ran in fewer, or with fewer than 2
    seeds paired with another's): summed over settings, their columns cover fewer of them than the others'."""
    algs = sorted({a for r in found for a in r.P.columns})
    counts = pd.Series({a: sum(a in r.T.columns and tested_in(r.T, a) for r in found) for a in algs})
    fewer = counts[counts < len(found)]
    if len(found) > 1 and len(fewer):
        named = ", ".join(f"{a} ({n})" for a, n in fewer.items())
        warnings.warn(f"not every algorithm is tested in all {len(found)} settings: {named}; overall sums over fewer "
                      f"settings are lower for that alone (an algorithm is untested where it did not run, or shares "
                      f"fewer than 2 seeds with the others), so compare them over the settings they share (--algs)")


def setting_groups(found):
    """The settings of each batch size ("batch_<nQuery>") and each model family ("family_<family>"), for the kinds
    (batch size, family) that take more than one value; {name: (title, [SettingResult])}."""
    kinds = {"batch": (lambda r: r.key[2], "batch {}"),
             "family": (lambda r: MODEL_FAMILY.get(r.key[1], r.key[1]), "{} models")}
    groups = {}
    for kind, (value_of, title) in kinds.items():
        values = sorted({value_of(r) for r in found}, key=str)
        if len(values) > 1:
            for v in values:
                members = [r for r in found if value_of(r) == v]
                groups[f"{kind}_{v}"] = (f"{title.format(v)} ({counted(len(members), 'setting')})", members)
    return groups


def write_groups(found, fig_dir, fixed_threshold):
    """penalty_<group> for each group of setting_groups: the sum of its settings' matrices."""
    for name, (title, members) in setting_groups(found).items():
        P = overall_matrix([r.P for r in members])
        T = overall_matrix([r.T for r in members]).astype(bool)
        write_penalty(P, T, title, fig_dir, f"penalty_{name}",
                      f"sum of the settings' matrices, {threshold_note(fixed_threshold)}")


def warn_untested(tested):
    """One warning naming the settings (of (title, T) pairs) whose penalty matrix has cells without a test."""
    partial = [(title, int((~T.to_numpy()).sum())) for title, T in tested if not T.to_numpy().all()]
    if partial:
        warnings.warn(f"no test was possible (fewer than 2 common seeds) in {sum(n for _, n in partial)} penalty "
                      f"cell(s), marked n/a: {'; '.join(f'{t}: {n}' for t, n in partial)}; run more seeds")


def parse_args(argv):
    """The command line's options; an unknown, missing or abbreviated one exits 2 with one line (errors.Parser)."""
    p = Parser(prog="agg_results.py", description=first_paragraph(__doc__), allow_abbrev=False)
    p.add_argument("results", nargs="+", help="results folder(s), searched recursively, or results.csv files "
                   "written by an earlier analysis (e.g. the committed docs/letter/results.csv)")
    p.add_argument("--fig", required=True, help="output folder for figures and CSVs")
    p.add_argument("--t-threshold", type=float, default=None,
                   help="fixed t threshold (the paper's 2.776); default t(0.975, seeds − 1) per checkpoint")
    p.add_argument("--log-meta", action="append", default=[], metavar="KEY=VALUE",
                   help="setting of logs that name it nowhere else, e.g. --log-meta data=CIFAR10 --log-meta seed=1")
    p.add_argument("--metric", default="test_acc", choices=METRICS,
                   help="the rounds.csv column every figure and penalty matrix is drawn on: test_acc (accuracy) or "
                        "balanced_acc (mean per-class recall; runs and logs that do not record it are left out)")
    p.add_argument("--algs", default=None, metavar="A,B,...",
                   help="analyse only these algorithms (in any case; aliases count as their algorithm), e.g. to "
                        "compare the same strategies in every setting")
    p.add_argument("--versus", default=None, metavar="A,B,...",
                   help="the algorithms each setting's summary_<setting>.csv counts wins against and losses to "
                        f"(default: {','.join(VERSUS)})")
    return p.parse_args(argv)


def log_meta(args):
    """--log-meta's KEY=VALUE pairs as a dict (the last value of a key given twice)."""
    return dict(kv.split("=", 1) for kv in args.log_meta)


def usage_error(args):
    """The error of options that parse but cannot be used (an empty --fig, one that is a file, or one that is or lies
    in a run folder, a --log-meta without '=' or with a key a log's setting does not have, a --t-threshold that is
    not a positive finite number, a results folder that does not exist), or None."""
    if not args.fig.strip():
        return "--fig needs a folder name"
    if Path(args.fig).exists() and not Path(args.fig).is_dir():
        return f"--fig {args.fig} is a file; name a folder"
    if run := enclosing_run_folder(args.fig):
        where = "a run folder" if run == Path(args.fig).resolve() else f"inside the run folder {run}"
        return f"--fig {args.fig} is {where}; name a folder outside the runs, e.g. --fig figures"
    if any("=" not in kv for kv in args.log_meta):
        return "--log-meta takes KEY=VALUE"
    meta = log_meta(args)
    if unknown := [k for k in meta if k not in LOG_META_KEYS]:
        return f"--log-meta {unknown[0]}=...: unknown key; use one of {', '.join(LOG_META_KEYS)}"
    if bad := [k for k, low in LOG_META_WHOLE.items() if k in meta and whole_number(meta[k], low) is None]:
        return (f"--log-meta {bad[0]}={meta[bad[0]]}: {bad[0]} is a whole number of at least {LOG_META_WHOLE[bad[0]]}, "
                f"e.g. --log-meta {bad[0]}=1")
    if empty := [k for k, v in meta.items() if not v.strip()]:
        return f"--log-meta {empty[0]}= has no value; give one, e.g. --log-meta {empty[0]}=..."
    if empty := [flag for flag in ("algs", "versus") if getattr(args, flag) is not None
                 and not names_of(getattr(args, flag))]:
        return f"--{empty[0]} names no algorithm; give a comma-separated list, e.g. --{empty[0]} badge,rand"
    if args.t_threshold is not None and not (math.isfinite(args.t_threshold) and args.t_threshold > 0):
        return (f"--t-threshold must be a positive finite number (the paper's is 2.776), "
                f"got {args.t_threshold}")
    files = [r for r in args.results if Path(r).is_file() and Path(r).suffix != ".csv"]
    if files:
        return (f"{files[0]} is a file; pass the folder that holds it (run folders and the original's logs under a "
                f"folder are read) or a results.csv")
    missing = [r for r in args.results if not (Path(r).is_dir() or Path(r).suffix == ".csv" and Path(r).is_file())]
    return f"no such folder or results.csv: {missing[0]}" if missing else None


def error(message):
    """Print the one-line error and return exit code 2."""
    print(f"agg_results.py: error: {message}", file=sys.stderr)
    return 2


def main(argv=None):
    """The analysis the command line asks for; exit code 0, 2 after one error line, or 130 after Ctrl-C (one
    line)."""
    args = None
    try:
        args = parse_args(argv)
        return analyse_command(args)
    except KeyboardInterrupt:
        left = None if args is None else f"--fig {args.fig} may hold part of this analysis only: run it again"
        print(interrupted_line("agg_results.py", left), file=sys.stderr)
        return 130


def analyse_command(args):
    """The analysis of the parsed command line; exit code 0, or 2 after one error line."""
    if (message := usage_error(args)) is not None:
        return error(message)
    broken = []
    try:
        table = load_results(args.results, log_meta(args), broken)
    except BrokenRun as e:
        return error(str(e))
    if table.empty:
        return error(f"no readable runs (config.json + rounds.csv) or accuracy logs under {', '.join(args.results)}"
                     + (f" ({broken_note(broken)})" if broken else "") + "; name the folder that run.py's --out (or "
                     "sweep.py's) wrote, or a results.csv of an earlier analysis")
    warn_unused_log_meta(args, table)
    if args.algs is not None and (table := only_algs(table, args.algs)).empty:
        return error(f"no runs of --algs under {', '.join(args.results)}; --algs names none of their strategies (a "
                     f"warning lists them)")
    warn_mixed_trainers(table)
    table = with_metric(table, args.metric)
    if table.empty:
        return error(f"no run under {', '.join(args.results)} records {args.metric} (an older version's runs and "
                     f"the original's logs record test_acc only); use --metric test_acc")
    versus = tuple(names_of(args.versus)) if args.versus else VERSUS
    if args.versus and (absent := sorted(set(versus) - set(table.alg))):
        warnings.warn(f"--versus {', '.join(absent)}: no runs of it here, so no summary counts wins against it")
    try:
        averages, stops = analyse(table, args.fig, args.t_threshold, args.metric, versus)
    except OSError as e:
        return error(f"--fig {args.fig}: cannot write {e.filename or 'there'} ({e.strerror or e}); name another folder")
    print(f"{counted(table.source.nunique(), 'run')}, {counted(table.groupby(SETTING).ngroups, 'setting')} -> "
          f"{args.fig}")
    if stops is not None:
        print(stops_line(stops))
    print("column averages of the overall penalty matrix (lower is better):")
    print(averages.sort_values().to_string(float_format=lambda v: f"{v:.3f}", na_rep="n/a (no test)"))
    if broken:
        print(f"agg_results.py: {broken_note(broken)}", file=sys.stderr)
    return 0


def warn_unused_log_meta(args, table):
    """A warning when --log-meta is given but no original log was read: it set nothing (a log of another suffix,
    e.g. .stdout, is not read)."""
    if args.log_meta and not (table.kind == "log").any():
        warnings.warn(f"--log-meta: no log of the original code was read under {', '.join(args.results)} (a *.txt, "
                      f"*.log, *.out or suffix-less file with 'testing accuracy' lines), so it set nothing; rename "
                      f"the logs so, or leave --log-meta out")


def only_algs(table, algs):
    """The rows of the algorithms named in `algs` (comma-separated, aliases allowed); a warning names those
    without runs here."""
    wanted = set(names_of(algs))
    names = table.alg.str.split(" ").str[0]
    if absent := sorted(wanted - set(names)):
        warnings.warn(f"--algs {', '.join(absent)}: no runs of it here (the runs are of "
                      f"{', '.join(sorted(set(names)))})")
    return table[names.isin(wanted)]


def names_of(algs):
    """The algorithms of a comma-separated list, in any case, each alias as its algorithm, in order."""
    return [canonical(a.strip().lower()) for a in algs.split(",") if a.strip()]


def with_metric(table, metric):
    """The rows of the runs that record `metric` (a warning names how many runs do not)."""
    recorded = table[metric].notna() if metric in table else pd.Series(False, index=table.index)
    lacking = table[~recorded].source.nunique()
    if lacking:
        why = ("an older version's runs or the original's logs" if metric != "test_acc" else
               "empty test_acc cells of a results.csv")
        warnings.warn(f"{lacking} run(s) record no {metric} in some or all rounds ({why}); those rounds are left "
                      f"out of the analysis")
    return table[recorded]


def broken_note(broken):
    """'skipped N broken run folder(s): a, b'."""
    return f"skipped {len(broken)} broken run folder(s): {', '.join(map(str, broken))}"


def cli():
    """The console command (`badge-agg`, or `python scripts/agg_results.py`): one-line warnings; Ctrl-C (SIGINT)
    stops it even when a non-interactive shell started it with SIGINT ignored; main's exit code."""
    warnings.formatwarning = lambda msg, *a, **k: f"agg_results.py: warning: {msg}\n"
    signal.signal(signal.SIGINT, signal.default_int_handler)
    exit_with(main)


if __name__ == "__main__":
    cli()
