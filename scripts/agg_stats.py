"""The statistics of the analysis (scripts/agg_results.py, whose docstring states the rules): checkpoints, paired
t-tests, pairwise penalty matrices, normalised errors and query times of one setting's runs."""
import numpy as np
import pandas as pd
from scipy import stats

from scripts.agg_algs import alg_order

RAND = "rand"
VERSUS = ("badge", "bait")  # the strategies a setting's summary counts wins against, unless --versus names others
P_VALUE = 0.05
RAND_FRACTION = 0.99


def accuracies(setting, metric="test_acc"):
    """alg -> DataFrame of the metric (test_acc or balanced_acc), index n_labeled, one column per seed."""
    return {alg: g.pivot_table(index="n_labeled", columns="seed", values=metric)
            for alg, g in setting.groupby("alg")}


def rarest_counts(setting, points):
    """The mean over seeds of rounds.csv's rarest_labeled (labelled points of the pool's rarest class) per
    algorithm (rows) at each checkpoint in `points` (columns); None when no run records it."""
    if "rarest_labeled" not in setting or setting.rarest_labeled.isna().all():
        return None
    at = setting[setting.n_labeled.isin(points)]
    return at.pivot_table(index="alg", columns="n_labeled", values="rarest_labeled", aggfunc="mean")


def geometric_counts(n_start, n_query, n_max):
    """nStart + k·nQuery for k = 0, 1, 2, 4, 8, … while at most n_max (nQuery ≥ 1: the readers refuse less)."""
    if n_query < 1:
        raise ValueError(f"a batch of {n_query} labels has no checkpoints")
    counts, k = [], 0
    while n_start + k * n_query <= n_max:
        counts.append(n_start + k * n_query)
        k = 1 if k == 0 else 2 * k
    return counts


def rand_means(rand_acc):
    """rand's mean accuracy over seeds at each labelled count up to the largest that every seed reached (empty when
    none); a count that some seed lacks below it (a round without the metric: rand_gaps) is averaged over the seeds
    that have it."""
    last = rand_acc.apply(pd.Series.last_valid_index).dropna()
    if last.empty:
        return pd.Series(dtype=float)
    return rand_acc.loc[: last.min()].mean(axis=1).dropna()


def rand_gaps(rand_acc):
    """The labelled counts below the largest that every rand seed reached where some seed has no value."""
    means = rand_means(rand_acc)
    return [int(n) for n in means.index if rand_acc.loc[n].isna().any()]


def rand_cutoff(mean):
    """Smallest labelled count where rand's mean accuracy (rand_means) exceeds 99 % of its final mean; None when it
    is empty."""
    if mean.empty:
        return None
    return int(mean.index[np.argmax(mean.to_numpy() > RAND_FRACTION * mean.iloc[-1])])


def rand_checkpoints(mean, n_start, n_query):
    """nStart, then nStart + k·nQuery (k = 1, 2, 4, …) while rand's mean (rand_means) there is at most 99 % of its
    final mean: the authors' rule, which leaves out the checkpoint where rand first exceeds it. A count that no rand
    seed records (rand_unrecorded) is not a checkpoint, and the rule goes on past it."""
    counts = geometric_counts(n_start, n_query, int(mean.index[-1]))
    kept = counts[:1]
    for count in counts[1:]:
        if count not in mean.index:
            continue
        if mean[count] > RAND_FRACTION * mean.iloc[-1]:
            break
        kept.append(count)
    return kept


def rand_unrecorded(mean, n_start, n_query):
    """The counts nStart + k·nQuery (k = 1, 2, 4, …) below rand's final count where no rand seed has a value
    (rand_means lacks them): the rule cannot be applied there."""
    if mean.empty:
        return []
    return [c for c in geometric_counts(n_start, n_query, int(mean.index[-1]))[1:] if c not in mean.index]


def unrecorded_checkpoints(acc, points):
    """{alg: [checkpoints where none of its seeds has a value]} for the algorithms that lack some."""
    lacking = {alg: [c for c in points if c not in a.index or a.loc[c].isna().all()] for alg, a in acc.items()}
    return {alg: counts for alg, counts in lacking.items() if counts}


def last_common_count(acc):
    """The largest labelled count that every run (seed) of every algorithm reached."""
    return min(int(a.apply(pd.Series.last_valid_index).min()) for a in acc.values())


def checkpoints(acc, n_start, n_query):
    """The setting's checkpoints (agg_results' docstring) and the count where rand exceeds 99 % of its final
    accuracy (None without rand)."""
    mean = rand_means(acc[RAND]) if RAND in acc else pd.Series(dtype=float)
    if (cut := rand_cutoff(mean)) is not None:
        return rand_checkpoints(mean, n_start, n_query), cut
    return geometric_counts(n_start, n_query, last_common_count(acc)), None


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


def setting_summary(acc, P, T, points, versus=VERSUS, metric="test_acc"):
    """Per algorithm (rows, best column average first): the mean over seeds at each checkpoint and at the largest
    labelled count every run of every algorithm reached (acc_<n>, so over all seeds; balanced_acc_<n> for that
    metric), the column average, and for each algorithm V of `versus` in the setting the share of checkpoints at
    which the row beats V (beats_V) and V beats the row (beaten_by_V); untested cells (T False) and averages stay
    empty, as in marked_table."""
    counts = sorted(set(points) | {last_common_count(acc)})
    prefix = "acc" if metric == "test_acc" else metric
    out = pd.DataFrame({f"{prefix}_{n}": {alg: a.loc[n].mean() if n in a.index else float("nan")
                                     for alg, a in acc.items()} for n in counts})
    marked = marked_table(P, T)
    out["column_average"] = marked.loc["column average"]
    for v in [v for v in versus if v in P.index]:
        out[f"beats_{v}"], out[f"beaten_by_{v}"] = marked[v], marked.loc[v]
        out.loc[v, [f"beats_{v}", f"beaten_by_{v}"]] = float("nan")
    return out.sort_values("column_average")


def overall_matrix(matrices):
    """Sum over settings of P (an algorithm missing from a setting adds 0 there); for boolean matrices, the
    count of settings where the cell is True."""
    algs = alg_order({a for P in matrices for a in P.index})
    total = pd.DataFrame(0.0, index=algs, columns=algs)
    for P in matrices:
        total = total.add(P, fill_value=0).loc[algs, algs]
    return total


def normalised_errors(acc, points):
    """Rows (alg, n_labeled, value, weight): value = (1 − mean acc_alg) / (1 − mean acc_rand) at each checkpoint
    where both have a mean and rand's error is not 0 (means over seeds); weight 1/L_alg, L_alg the number of such
    checkpoints of the algorithm (L when it has them all), so that each algorithm's weights in a setting sum to 1."""
    rows = []
    if RAND not in acc:
        return pd.DataFrame(columns=["alg", "n_labeled", "value", "weight"])
    rand_err = 1 - acc[RAND].mean(axis=1)
    for alg in alg_order(acc):
        err = 1 - acc[alg].mean(axis=1)
        values = [(c, err[c] / rand_err[c]) for c in points
                  if c in err.index and c in rand_err.index and rand_err[c] > 0 and not np.isnan(err[c])]
        rows += [(alg, c, value, 1 / len(values)) for c, value in values]
    return pd.DataFrame(rows, columns=["alg", "n_labeled", "value", "weight"])


def query_times(setting):
    """Per alg: mean over seeds of each run's mean query / inference / selection seconds per query round."""
    if "query_seconds" not in setting or setting.query_seconds.isna().all():
        return pd.DataFrame()
    q = setting[(setting["round"] > 0) & setting.query_seconds.notna()]
    q = q.assign(**{c: np.nan for c in ("infer_seconds", "select_seconds") if c not in q})  # not in older tables
    per_run = q.groupby(["alg", "seed"])[["query_seconds", "infer_seconds", "select_seconds"]].mean().groupby("alg")
    out = per_run.mean().add_suffix("_mean").join(per_run.query_seconds.sem().rename("query_seconds_sem"))
    out = out.join(per_run.size().rename("runs"))
    return out.reindex(alg_order(out.index))[["query_seconds_mean", "query_seconds_sem", "infer_seconds_mean",
                                               "select_seconds_mean", "runs"]]


def training_costs(setting):
    """Per alg: mean over seeds of each run's mean training seconds and epochs per round (rounds.csv's
    train_seconds, train_epochs), what a round's training costs with each strategy's labels; empty without them."""
    if not {"train_seconds", "train_epochs"} <= set(setting) or setting.train_seconds.isna().all():
        return pd.DataFrame()
    rounds = setting[setting.train_seconds.notna()]
    per_run = rounds.groupby(["alg", "seed"])[["train_seconds", "train_epochs"]].mean().groupby("alg").mean()
    return per_run.add_suffix("_mean")
