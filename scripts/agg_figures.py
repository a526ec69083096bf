"""The figures of the analysis (scripts/agg_results.py), drawn with matplotlib and saved as PNG and PDF: learning
curves, penalty matrices, normalised-error CDFs and query times."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from scripts.agg_algs import alg_order, colour, style  # noqa: E402
from scripts.agg_stats import marked_table  # noqa: E402

FORMATS = ("png", "pdf")
MARKS_PER_LINE = 8  # markers drawn on a line at most, spread evenly along it


def save(fig, fig_dir, stem):
    """fig as FIG_DIR/<stem>.png and .pdf, then closed."""
    for fmt in FORMATS:
        fig.savefig(fig_dir / f"{stem}.{fmt}", bbox_inches="tight", dpi=150)
    plt.close(fig)


def line_style(alg, n_points):
    """agg_algs.style(alg) for a line of n_points, with at most MARKS_PER_LINE markers on it."""
    return dict(style(alg), markevery=max(1, n_points // MARKS_PER_LINE), markersize=5)


def outside_legend(ax, **kw):
    """The legend to the right of the axes, so that it never hides the curves' end points."""
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, **kw)


METRIC_NAMES = {"test_acc": "test accuracy", "balanced_acc": "balanced test accuracy (mean per-class recall)"}


def plot_learning(acc, title, cutoff, fig_dir, stem, metric="test_acc"):
    """The learning curves (learning_figure) saved as <stem>.png and .pdf."""
    save(learning_figure(acc, title, cutoff, metric), fig_dir, stem)


def learning_figure(acc, title, cutoff, metric="test_acc"):
    """Mean ± standard error of each algorithm's accuracy (`metric`, a rounds.csv column) over seeds, against
    labelled points."""
    fig, ax = plt.subplots(figsize=(7.6, 4.4))
    for alg in alg_order(acc):
        a = acc[alg]
        mean, se = a.mean(axis=1), a.sem(axis=1).fillna(0)
        ax.plot(mean.index, mean, label=f"{alg} ({a.shape[1]})", lw=1.6, **line_style(alg, len(mean)))
        ax.fill_between(mean.index, mean - se, mean + se, color=colour(alg), alpha=0.2, lw=0)
    if cutoff is not None:
        ax.axvline(cutoff, color="0.5", ls=":", lw=1, label="rand at 99 % of final")
    ax.set(xlabel="labelled points", ylabel=METRIC_NAMES[metric], title=title)
    ax.grid(alpha=0.3)
    outside_legend(ax, title="strategy (seeds)", title_fontsize=8)
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
    ax.set(xlabel="beaten strategy (column j)", ylabel="winning strategy (row i)", title=f"{title}\n{note}")
    save(fig, fig_dir, stem)


def plot_cdf(errors, title, fig_dir, stem, metric="test_acc"):
    """Each algorithm's cumulative distribution of its normalised errors on `metric`, weighted by their `weight`."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for alg in alg_order(errors.alg.unique()):
        e = errors[errors.alg == alg].sort_values("value")
        x = np.concatenate([e.value.iloc[:1], e.value])
        y = np.concatenate([[0.0], e.weight.cumsum() / e.weight.sum()])
        ax.step(x, y, where="post", label=alg, lw=1.6, **line_style(alg, len(x)))
    accuracy = "balanced accuracy" if metric == "balanced_acc" else "accuracy"
    ax.set(xlabel=f"error relative to random sampling: (1 − {accuracy}) / (1 − rand's {accuracy})",
           ylabel="fraction of checkpoints at or below it\n(every setting weighs the same)", title=title)
    ax.grid(alpha=0.3)
    outside_legend(ax)
    save(fig, fig_dir, stem)


def plot_query_times(times, title, fig_dir, stem):
    """Mean query seconds per round of each algorithm as bars with their standard error (a log scale when they
    span more than a factor of 100)."""
    fig, ax = plt.subplots(figsize=(1.5 + 0.6 * len(times), 4.2))
    algs = list(times.index)
    ax.bar(range(len(algs)), times.query_seconds_mean, yerr=times.query_seconds_sem.fillna(0),
           color=[colour(a) for a in algs], capsize=3)
    ax.set_xticks(range(len(algs)), algs, rotation=45, ha="right")
    positive = times.query_seconds_mean[times.query_seconds_mean > 0]
    if len(positive) > 1 and positive.max() / positive.min() > 100:
        ax.set_yscale("log")
    ax.set(ylabel="seconds per query (inference + selection)", title=title)
    ax.grid(alpha=0.3, axis="y")
    save(fig, fig_dir, stem)
