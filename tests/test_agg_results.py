"""scripts/agg_results.py and its modules (agg_read, agg_stats, agg_figures, agg_algs): the penalty-matrix rule of
PROTOCOL §7 on accuracies built by hand, reading run folders (rounds.csv of any version) and the original's logs, and
the files of an end-to-end run."""
import io
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cli import ROOT, assert_one_line_error, fresh_process_warnings, run_cli
from ctrl_c import ctrl_c_at, loaded
from procs import start_cli
from query_strategies import ALIASES
from query_strategies.selection import picks
from results import RunDir, data_label
from scripts import agg_algs, agg_figures, agg_read, agg_results, agg_stats

SEEDS = [1, 2, 3, 4, 5]
# mean 0, sample standard deviation 1: differences base + s·Z have paired t = base / (s / √5)
Z = np.array([-2.0, -1.0, 0.0, 1.0, 2.0]) / np.sqrt(2.5)


def seed_series(values):
    return pd.Series(values, index=SEEDS[: len(values)])


def differences_with_t(t, n=5, sd=0.01):
    """n paired differences whose t statistic is exactly t."""
    z = (np.arange(n) - (n - 1) / 2)
    z = z / z.std(ddof=1)
    return t * sd / np.sqrt(n) + sd * z


def curves(table):
    """alg -> DataFrame(index n_labeled, columns seeds) from {alg: {n: [acc per seed]}}."""
    return {alg: pd.DataFrame(rows, index=SEEDS[: len(next(iter(rows.values())))]).T for alg, rows in table.items()}


def reference_t(a, b):
    return stats.ttest_rel(a, b).statistic


def test_paired_t_matches_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.random(5), rng.random(5)
    assert agg_stats.paired_t(a, b) == pytest.approx(reference_t(a, b))
    assert agg_stats.paired_t([0.6] * 5, [0.5] * 5) == np.inf
    assert agg_stats.paired_t([0.5] * 5, [0.5] * 5) == 0.0


def test_clear_winner():
    base = np.array([0.70, 0.72, 0.69, 0.71, 0.70])
    acc = curves({"badge": {100: list(base + 0.1 + 0.01 * Z)}, "rand": {100: list(base)}})
    P = agg_stats.penalty_matrix(acc, [100])
    assert P.loc["badge", "rand"] == 1.0
    assert P.loc["rand", "badge"] == 0.0
    assert agg_stats.column_averages(P).to_dict() == {"rand": 1.0, "badge": 0.0}


def test_tie_gives_no_win_either_way():
    base = np.array([0.70, 0.72, 0.69, 0.71, 0.70])
    acc = curves({"conf": {100: list(base + 0.02 * Z)}, "marg": {100: list(base)}, "rand": {100: list(base)}})
    P = agg_stats.penalty_matrix(acc, [100])
    assert (P.to_numpy() == 0).all()


@pytest.mark.parametrize("t, wins", [(2.770, False), (2.783, True)])
def test_t_just_below_and_above_the_5_seed_threshold(t, wins):
    assert agg_stats.t_threshold(5) == pytest.approx(2.776, abs=5e-4)
    base = np.array([0.80, 0.81, 0.79, 0.82, 0.80])
    d = differences_with_t(t)
    assert reference_t(base + d, base) == pytest.approx(t)
    assert agg_stats.beats(seed_series(base + d), seed_series(base)) is wins
    assert agg_stats.beats(seed_series(base), seed_series(base + d)) is False  # one-directional
    assert agg_stats.beats(seed_series(base - d), seed_series(base)) is False


@pytest.mark.parametrize("t, wins", [(2.770, False), (2.7765, True)])
def test_fixed_threshold_of_the_paper(t, wins):
    base = np.array([0.80, 0.81, 0.79, 0.82, 0.80])
    assert agg_stats.beats(seed_series(base + differences_with_t(t)), seed_series(base), fixed_threshold=2.776) is wins


def test_threshold_follows_the_number_of_seeds():
    """3 seeds: critical value t(0.975, 2) = 4.303, so t = 3.0 wins with 5 seeds but not with 3."""
    assert agg_stats.t_threshold(3) == pytest.approx(4.303, abs=1e-3)
    base3 = np.array([0.8, 0.81, 0.79])
    for t, wins in [(4.25, False), (4.35, True)]:
        assert agg_stats.beats(seed_series(base3 + differences_with_t(t, n=3)), seed_series(base3)) is wins
    base5 = np.array([0.80, 0.81, 0.79, 0.82, 0.80])
    assert agg_stats.beats(seed_series(base5 + differences_with_t(3.0)), seed_series(base5)) is True


def test_pairs_by_seed_and_needs_two_seeds():
    a = pd.Series([0.90, 0.91, 0.92], index=[1, 2, 3])
    b = pd.Series([0.50, 0.51], index=[3, 4])  # one seed in common
    assert agg_stats.beats(a, b) is False
    shuffled = pd.Series([0.80, 0.90, 0.70, 0.85, 0.75], index=[1, 2, 3, 4, 5])
    better = pd.Series([0.81, 0.91, 0.71, 0.86, 0.76], index=[1, 2, 3, 4, 5]).sample(frac=1, random_state=0)
    assert agg_stats.beats(better, shuffled) is True  # matched by seed label, not position


def test_geometric_checkpoints():
    assert agg_stats.geometric_counts(100, 50, 1000) == [100, 150, 200, 300, 500, 900]
    assert agg_stats.geometric_counts(100, 50, 899) == [100, 150, 200, 300, 500]
    assert agg_stats.geometric_counts(100, 50, 100) == [100]
    for batch in (0, -50):  # a batch that never grows the count: refused, not an endless loop
        with pytest.raises(ValueError, match="has no checkpoints"):
            agg_stats.geometric_counts(100, batch, 1000)


def test_checkpoints_stop_where_rand_reaches_99_percent_of_its_final_accuracy():
    n = list(range(100, 1001, 50))  # 19 rounds
    rand_mean = np.minimum(0.5 + np.arange(len(n)) * 0.05, 0.9)  # 0.9 from n = 500 on
    rand_mean[5] = 0.890  # n = 350: 0.890 < 0.891 = 99 % of 0.9
    rand_mean[6] = 0.892  # n = 400: first >= 0.891
    acc = {"rand": pd.DataFrame({s: rand_mean + 0.01 * z for s, z in zip(SEEDS, Z)}, index=n)}
    assert agg_stats.rand_cutoff(agg_stats.rand_means(acc["rand"])) == 400
    points, cutoff = agg_stats.checkpoints(acc, 100, 50)
    assert (points, cutoff) == ([100, 150, 200, 300], 400)


def test_the_checkpoint_where_rand_first_exceeds_99_percent_is_left_out_as_in_the_authors_script():
    """rand's means 0.5, 0.6, 0.7, then 0.9 at 300 (the checkpoint after 200) and 1.0 at the end: the authors' loop
    breaks at 300 before keeping it; a mean of exactly 99 % (not more) keeps its checkpoint."""
    n = [100, 150, 200, 250, 300, 350, 400, 450, 500]
    def rand(at_300):
        means = [0.5, 0.6, 0.7, 0.8, at_300, 1.0, 1.0, 1.0, 1.0]
        return {"rand": pd.DataFrame({s: means for s in SEEDS}, index=n)}
    assert agg_stats.checkpoints(rand(0.995), 100, 50) == ([100, 150, 200], 300)
    assert agg_stats.checkpoints(rand(0.99), 100, 50) == ([100, 150, 200, 300], 350)
    assert agg_stats.checkpoints(rand(1.0), 100, 50)[0] == [100, 150, 200]
    early = {"rand": pd.DataFrame({s: [0.995, 1.0, 1.0] for s in SEEDS}, index=[100, 150, 200])}
    assert agg_stats.checkpoints(early, 100, 50) == ([100], 100)  # nStart is always a checkpoint


def test_runs_that_leave_a_flag_unset_are_not_pooled_with_runs_that_set_it(tmp_path):
    """Balanced runs record imbalance = null, long-tailed ones 50: two protocols, no run taken for a duplicate."""
    for seed in (1, 2, 3):
        write_run(tmp_path / "balanced", "rand", seed, [0.5, 0.6], imbalance=None)
    for seed in (1, 2):
        write_run(tmp_path / "tail", "rand", seed, [0.4, 0.5], imbalance=50.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = agg_read.load_results([tmp_path])
    assert not [w for w in caught if "duplicate" in str(w.message)]
    runs = table.groupby("source").first()
    assert sorted(runs.protocol) == ["imbalance=50"] * 2 + ["imbalance=none"] * 3


def test_final_accuracy_of_rand_is_taken_where_all_seeds_are():
    n = [100, 200, 300]
    rand = pd.DataFrame({1: [0.5, 0.8, 0.95], 2: [0.5, 0.8, np.nan]}, index=n)  # seed 2 stopped at 200
    assert agg_stats.rand_cutoff(agg_stats.rand_means(rand)) == 200


def test_a_rand_seed_without_a_value_in_mid_run_does_not_cut_the_checkpoints(tmp_path):
    """rand seed 2 lacks its accuracy at 20 labels (a round without the metric): rand's mean there is over seeds 1
    and 3, the checkpoints stay 10, 20, 30, 50 and `a` (rand + 1/16) beats rand at 3 of 4, with a warning."""
    counts = list(range(10, 100, 10))
    base = [.5, .5625, .625, .6875, .75, .78125, .8125, .84375, .875]
    rand = pd.DataFrame({s: [b + s / 64 for b in base] for s in (1, 2, 3)}, index=counts)
    rand.loc[20, 2] = np.nan
    assert agg_stats.rand_gaps(rand) == [20]
    assert agg_stats.rand_means(rand)[20] == pytest.approx((.5625 + 1 / 64 + .5625 + 3 / 64) / 2)
    a = rand.copy() + 1 / 16
    a.loc[10] = rand.loc[10]
    a.loc[20, 2] = .5625 + 2 / 64 + 1 / 16
    assert agg_stats.checkpoints({"rand": rand, "a": a}, 10, 10)[0] == [10, 20, 30, 50]
    for seed in (1, 2, 3):
        accs = list(rand[seed].fillna(0.99))
        write_run(tmp_path, "rand", seed, accs, n_start=10, n_query=10, balanced=list(rand[seed]))
        write_run(tmp_path, "a", seed, list(a[seed]), n_start=10, n_query=10, balanced=list(a[seed]))
    with pytest.warns(UserWarning, match=r"some 'rand' seeds record no balanced_acc at 1 labelled count\(s\) \(20\)"):
        assert agg_results.main([str(tmp_path), "--fig", str(tmp_path / "f"), "--metric", "balanced_acc"]) == 0
    P = pd.read_csv(tmp_path / "f" / "penalty_digits_mlp_10.csv", index_col=0)
    assert P.loc["a", "rand"] == pytest.approx(0.75) and P.loc["rand", "a"] == 0


def test_without_rand_every_checkpoint_all_runs_reach():
    acc = {"conf": pd.DataFrame({1: [0.5, 0.6, 0.7, 0.8], 2: [0.5, 0.6, 0.7, np.nan]}, index=[100, 150, 200, 250]),
           "marg": pd.DataFrame({1: [0.5, 0.6, 0.7, 0.8]}, index=[100, 150, 200, 250])}
    assert agg_stats.checkpoints(acc, 100, 50) == ([100, 150, 200], None)


def test_each_win_adds_one_over_L():
    """L = 4 checkpoints; badge beats conf at 3 of them, conf beats badge at 1; nothing counts after the cutoff."""
    base = np.array([0.60, 0.62, 0.61, 0.63, 0.60])
    up, down = list(base + 0.05 + 0.005 * Z), list(base - 0.05 + 0.005 * Z)
    acc = curves({"badge": {100: up, 150: up, 200: list(base), 300: up, 500: up},
                  "conf": {100: list(base), 150: list(base), 200: up, 300: list(base), 500: list(base)}})
    points = [100, 150, 200, 300]
    P = agg_stats.penalty_matrix(acc, points)
    assert P.loc["badge", "conf"] == pytest.approx(3 / 4)
    assert P.loc["conf", "badge"] == pytest.approx(1 / 4)
    acc["badge"].loc[200] = down  # now a loss to conf at 200 too: still one conf win
    assert agg_stats.penalty_matrix(acc, points).loc["conf", "badge"] == pytest.approx(1 / 4)


def test_a_hand_checked_results_table_gives_the_readme_s_penalty_matrix(tmp_path):
    """3 strategies x 3 seeds; rand's final mean (0.81 at 50) puts the checkpoints at 10, 20, 30 (0.81 > 0.99 x 0.81
    at 50), so L = 3 and t(0.975, 2) = 4.303. At 20: badge - rand = .03, .04, .05 (t = 6.9), badge - entropy =
    .04, .03, .06 (t = 4.9), entropy - rand = -.01, .01, -.01 (no win). At 30: badge beats both (t = 13, 28), rand -
    entropy = .05 at every seed (t = inf). At 10 all are equal."""
    accs = {"rand": [[.40, .50, .60, .80], [.41, .52, .61, .81], [.42, .51, .63, .82]],
            "badge": [[.40, .53, .64, .85], [.41, .56, .65, .86], [.42, .56, .68, .87]],
            "entropy": [[.40, .49, .55, .75], [.41, .53, .56, .76], [.42, .50, .58, .78]]}
    rows = [dict(data="syn", model="mlp", nQuery=10, nStart=10, alg=alg, seed=seed, round=r, n_labeled=n,
                 test_acc=acc, source=f"x/syn_mlp_{alg}_10_seed{seed}", kind="run")
            for alg, per_seed in accs.items() for seed, values in enumerate(per_seed, 1)
            for r, (n, acc) in enumerate(zip((10, 20, 30, 50), values))]
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    assert agg_results.main([str(tmp_path / "results.csv"), "--fig", str(tmp_path / "f")]) == 0
    P = pd.read_csv(tmp_path / "f" / "penalty_syn_mlp_10.csv", index_col="winner")
    expected = pd.DataFrame([[0, 1 / 3, 0], [0, 0, 0], [2 / 3, 2 / 3, 0], [1 / 3, 1 / 2, 0]],
                            index=["rand", "entropy", "badge", "column average"], columns=["rand", "entropy", "badge"])
    pd.testing.assert_frame_equal(P, expected, check_names=False, check_dtype=False)
    summary = pd.read_csv(tmp_path / "f" / "summary_syn_mlp_10.csv", index_col="alg")
    assert [c for c in summary if c.startswith("acc_")] == ["acc_10", "acc_20", "acc_30", "acc_50"]


def test_column_average_is_over_the_other_algorithms():
    P = pd.DataFrame([[0, 0.5, 1.0], [0, 0, 0.25], [0, 0, 0]], index=list("abc"), columns=list("abc"), dtype=float)
    assert agg_stats.column_averages(P).to_dict() == {"a": 0.0, "b": 0.25, "c": 0.625}


def test_overall_matrix_sums_settings():
    P1 = pd.DataFrame([[0, 1.0], [0, 0]], index=["rand", "badge"], columns=["rand", "badge"])
    P2 = pd.DataFrame([[0, 0.5], [0.25, 0]], index=["badge", "bait"], columns=["badge", "bait"])
    total = agg_stats.overall_matrix([P1, P2])
    assert list(total.index) == ["rand", "badge", "bait"]
    assert total.loc["rand", "badge"] == 1.0 and total.loc["badge", "bait"] == 0.5
    assert total.loc["bait", "badge"] == 0.25 and total.loc["rand", "bait"] == 0


def test_normalised_error_and_its_1_over_L_weights():
    acc = curves({"rand": {100: [0.5, 0.7], 150: [0.8, 0.8]}, "badge": {100: [0.8, 0.8], 150: [0.9, 0.9]}})
    err = agg_stats.normalised_errors(acc, [100, 150]).set_index(["alg", "n_labeled"])
    assert err.loc[("badge", 100), "value"] == pytest.approx(0.2 / 0.4)
    assert err.loc[("badge", 150), "value"] == pytest.approx(0.1 / 0.2)
    assert err.loc[("rand", 100), "value"] == pytest.approx(1.0)
    assert (err.weight == 0.5).all()


def test_colours_are_fixed_and_distinct():
    assert agg_algs.style("badge") == agg_algs.style("badge") and agg_algs.colour("badge") in agg_algs.COLOURS
    assert agg_algs.colour("my_new_alg") == agg_algs.colour("my_new_alg")
    assert agg_algs.alg_order(["zeta", "badge", "rand"]) == ["rand", "badge", "zeta"]


def test_forty_strategies_differ_in_at_least_two_of_colour_marker_and_line_style():
    styles = [agg_algs.style_at(k) for k in range(40)]
    assert [agg_algs.style(a) for a in agg_algs.ORDER[1:41]] == styles
    for i, a in enumerate(styles):
        for b in styles[i + 1:]:
            assert sum(a[k] != b[k] for k in a) >= 2, (a, b)
    assert all(agg_algs.style("rand")["color"] != s["color"] for s in styles)


def test_every_strategy_has_a_place_and_a_look_of_its_own():
    """Every strategy is in ORDER (a new one fails here with the line to add) and has a look no other has; the
    only looks that share two of the three are those of the 41st and later after rand with the one 40 places
    before (scripts/agg_algs.py's docstring: true up to the 45th)."""
    from query_strategies import ALIASES, STRATEGIES

    unplaced = sorted(set(STRATEGIES) - set(ALIASES) - set(agg_algs.ORDER))
    assert not unplaced, f"append {', '.join(unplaced)} to scripts/agg_algs.py's ORDER"
    assert set(agg_algs.ORDER) <= set(STRATEGIES) - set(ALIASES)
    looks = [tuple(map(str, agg_algs.style(a).values())) for a in agg_algs.ORDER]
    assert len(set(looks)) == len(looks)
    differ = lambda a, b: sum(agg_algs.style(a)[k] != agg_algs.style(b)[k] for k in ("color", "marker", "linestyle"))
    close = [(a, b) for i, a in enumerate(agg_algs.ORDER) for b in agg_algs.ORDER[i + 1:] if differ(a, b) < 2]
    assert close[:2] == [("conf", "vessal"), ("marg", "waal")]
    assert close == [(agg_algs.ORDER[i - 40], agg_algs.ORDER[i]) for i in range(41, len(agg_algs.ORDER))]


def test_data_sets_are_named_as_people_know_them():
    assert agg_algs.data_title("openml6") == "letter (OpenML 6)"
    assert agg_algs.data_title("openml99999") == "OpenML 99999"
    assert agg_algs.data_title("CIFAR10") == "CIFAR-10" and agg_algs.data_title("my_file") == "my_file"
    assert agg_read.setting_title(("openml6", "mlp", 100, "")) == "letter (OpenML 6), mlp, batch 100"


def test_truncated_last_line_is_ignored(tmp_path):
    f = tmp_path / "rounds.csv"
    f.write_text("round,n_labeled,test_acc\n0,50,0.5\n1,100,0.6\n2,15")
    assert agg_read.read_rounds(f).n_labeled.tolist() == [50, 100]


def test_rounds_of_an_older_version_are_read(tmp_path):
    f = tmp_path / "rounds.csv"
    f.write_text("round,n_labeled,test_acc,train_acc,epoch_cap_hit,train_stop\n0,50,0.5,1.0,0,target\n"
                 "1.0,100,0.6,x,1,tired\n\n2,150,0.7\n")  # an empty line is skipped
    df = agg_read.read_rounds(f)
    assert df.columns.tolist() == ["round", "n_labeled", "test_acc", "train_acc", "epoch_cap_hit", "train_stop"]
    assert df.n_labeled.tolist() == [50, 100, 150] and df.test_acc.tolist() == [0.5, 0.6, 0.7]
    assert df["round"].tolist() == [0, 1, 2] and df.epoch_cap_hit.tolist()[:2] == [0, 1]
    assert df.train_acc.isna().tolist() == [False, True, True]  # not a number; missing at the end of a short line
    assert df.train_stop.tolist()[:2] == ["target", "tired"] and np.isnan(df.train_stop[2])  # kept as written
    f.write_text("")
    assert agg_read.read_rounds(f).empty


@pytest.mark.parametrize("text, message", [
    ("round,n_labeled,test_acc\n0,50,0.5\n1,forty,0.6\n", "line 3 holds no number in round, n_labeled or test_acc"),
    ("round,n_labeled,test_acc\n0,50\n", "line 2 holds no number in round, n_labeled or test_acc"),
    ("round,n_labeled,test_acc\n0,50,0.5\n1,100,0.6,7\n", "is not a CSV table (line 3 has 4 fields, the header 3)"),
    ("round,n_labeled,accuracy\n0,50,0.5\n", "has no test_acc column"),
    ("round,n_labeled,test_acc\n0,50,0.5\n1,100,0.6\n1,100,0.7\n",
     "line 4 has n_labeled 100, not above the lines before it: not one run's rounds (rows of two runs?)"),
    ("round,n_labeled,test_acc\n0,50,0.5\n1,100,0.6\n0,50,0.55\n",
     "line 4 has n_labeled 50, not above the lines before it: not one run's rounds (rows of two runs?)"),
    (b"round,n_labeled,test_acc\n0,50,\xff\n", "cannot be read (UnicodeDecodeError)")])
def test_garbled_rounds_are_a_broken_run(tmp_path, text, message):
    f = tmp_path / "rounds.csv"
    f.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(agg_read.BrokenRun) as caught:
        agg_read.read_rounds(f)
    assert str(caught.value) == f"{f} {message}"


def test_data_names_and_aliases_follow_the_runner():
    assert agg_read.data_name({"did": 6, "data": "x"}) == "openml6"
    assert agg_read.data_name({"data": "/d/my data.CSV"}) == data_label(0, "/d/my data.CSV") == "my_data"
    assert agg_read.data_name({"did": None, "data": None}) == "digits"
    assert {a: agg_read.canonical(a) for a in ALIASES} == ALIASES and agg_read.canonical("badge") == "badge"


NAMESPACE = ("Namespace(alg='badge', aug=0, data='CIFAR10', did=0, dummy=3, lr=0.0001, model='resnet', "
             "nEmb=128, nEnd=50000, nQuery=100, nStart=100, path='data', rounds=0, trunc=-1)")


def read_log(path, log_meta):
    """The table of one log through agg_read.load_logs; None when it is not read."""
    frames = agg_read.load_logs([path], log_meta, set())
    return frames[0] if frames else None


def test_original_log_with_namespace_line(tmp_path):
    log = tmp_path / "anything.txt"
    log.write_text(f"{NAMESPACE}\nBadgeSampling\n100\ttesting accuracy 0.25\n200\ttesting accuracy 0.375\n")
    rows = read_log(log, {})
    assert rows[["data", "model", "alg", "nQuery", "seed", "nStart"]].iloc[0].tolist() == [
        "CIFAR10", "resnet", "badge", 100, 3, 100]
    assert rows.n_labeled.tolist() == [100, 200] and rows.test_acc.tolist() == [0.25, 0.375]


def test_original_log_setting_from_file_name_then_log_meta(tmp_path):
    log = tmp_path / "openml6_mlp_conf_dropout_100_3.log"
    log.write_text("100\ttesting accuracy 0.5\n")
    rows = read_log(log, {})
    setting = rows[["data", "model", "alg", "nQuery", "seed"]].iloc[0].tolist()
    assert setting == ["openml6", "mlp", "conf_dropout", 100, 3]
    bare = tmp_path / "out.txt"
    bare.write_text("100\ttesting accuracy 0.5\n")
    with pytest.warns(UserWarning, match="cannot tell"):
        assert read_log(bare, {}) is None
    rows = read_log(bare, {"data": "SVHN", "model": "vgg", "alg": "kcenter", "nQuery": "1000"})
    assert rows[["data", "alg", "nQuery"]].iloc[0].tolist() == ["SVHN", "coreset", 1000]


# ---------------------------------------------------------------- end to end

def write_run(root, alg, seed, accs, n_start=50, n_query=50, finished=True, query_s=0.01, balanced=None, stops=None,
              train_s=0.1, **recorded):
    config = dict(alg=alg, did=0, lr=1e-4, model="mlp", path="data", data="", nQuery=n_query, nStart=n_start,
                  nEnd=n_start + n_query * (len(accs) - 1), nEmb=128, rounds=0, trunc=-1, aug=0, dummy=1, seed=seed,
                  device="cpu", out=str(root), maxEpochs=100, data_name="digits", n_pool=1617, n_test=180,
                  n_classes=10, input_shape=[64])
    config.update(recorded)
    run_dir = RunDir(root / f"digits_mlp_{alg}_{n_query}_seed{seed}")
    run_dir.start(config)
    for rd, acc in enumerate(accs):
        q = 0.0 if rd == 0 else query_s
        run_dir.append_round(dict(round=rd, n_labeled=n_start + rd * n_query, test_acc=float(acc),
                                  balanced_acc=float(acc if balanced is None else balanced[rd]), rarest_labeled=rd,
                                  train_acc=1.0,
                                  train_epochs=int(100 * train_s), train_stop=stops[rd] if stops else "target",
                                  restarts=0, train_seconds=train_s,
                                  test_seconds=0.01, infer_seconds=q / 2, select_seconds=q / 2, query_seconds=q),
                             queried=picks(np.arange(rd * n_query, (rd + 1) * n_query)), source_rows=range(10_000))
    if finished:
        run_dir.summary.write_text(json.dumps({"finished": True, "stopped_by": "budget"}))
    return run_dir


def sweep_log(alg, seed, acc):
    """A run's log as sweep.py writes it (OUT/logs/<run>.log): the command line, then run.py's output."""
    return (f"# 2026-12-05T07:00:00 python run.py --alg {alg} --seed {seed} --nQuery 50\n50\ttesting accuracy {acc}\n"
            f"round 0: 50 labelled, train 0.10 s (12 epochs), test 0.01 s, query 0.00 s\n")


def test_end_to_end_files(tmp_path, capsys):
    res = tmp_path / "results"
    rand = np.array([0.50, 0.70, 0.80, 0.85, 0.88, 0.90])
    for s, z in zip(SEEDS, Z):
        write_run(res, "rand", s, list(rand + 0.01 * z))
        write_run(res, "badge", s, list(np.minimum(rand + 0.05 + 0.01 * z, 1)), query_s=0.5)
    write_run(res, "conf", 1, [0.5, 0.7, 0.8], finished=False)  # partial run
    with open(res / "digits_mlp_conf_50_seed1" / "rounds.csv", "a") as f:
        f.write("3,200,0.8")  # torn last line
    old = res / "old"
    old.mkdir()
    (old / "cifar_badge.txt").write_text(f"{NAMESPACE}\n100\ttesting accuracy 0.3\n200\ttesting accuracy 0.4\n")
    (old / "notes.txt").write_text("nothing to read here\n")
    (res / "logs").mkdir()  # sweep.py's log of a run folder read above: never read, without a warning
    (res / "logs" / "digits_mlp_rand_50_seed1.log").write_text(sweep_log("rand", 1, 0.1))

    fig = tmp_path / "fig"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert agg_results.main([str(res), "--fig", str(fig)]) == 0
    assert not [w for w in caught if "duplicate" in str(w.message)]
    untested = [str(w.message) for w in caught if "no test was possible" in str(w.message)]
    assert len(untested) == 1 and "digits, mlp, batch 50: 4" in untested[0], untested  # conf vs rand, badge
    out = capsys.readouterr().out
    assert "column averages" in out and "rounds trained to the 0.99 target: 63 of 63\n" in out  # the logs' lack it
    printed = dict(line.split(None, 1) for line in out.split("(lower is better):\n")[1].strip().splitlines())
    assert printed == {"rand": "0.500", "badge": "0.000", "conf": "n/a (no test)"}  # conf was never tested
    stops = pd.read_csv(fig / "train_stops.csv", index_col="alg")
    assert stops.loc[["badge", "conf", "rand"], ["target", "unreachable", "cap", "stalled"]].to_numpy().tolist() == \
        [[30, 0, 0, 0], [3, 0, 0, 0], [30, 0, 0, 0]]

    table = pd.read_csv(fig / "results.csv")
    assert len(table) == 5 * 6 * 2 + 3 + 2
    assert table[(table.alg == "rand") & (table.seed == 1)].test_acc.min() > 0.4
    assert set(table.kind) == {"run", "log"}
    assert set(table[table.kind == "run"].train_stop) == {"target"}  # why training stopped, kept as text
    for stem in ["learning_digits_mlp_50", "penalty_digits_mlp_50", "cdf_digits_mlp_50", "query_time_digits_mlp_50",
                 "learning_CIFAR10_resnet_100", "penalty_overall", "cdf_overall"]:
        for fmt in ("png", "pdf"):
            assert (fig / f"{stem}.{fmt}").stat().st_size > 1000, stem
    P = pd.read_csv(fig / "penalty_digits_mlp_50.csv", index_col=0)
    # rand's mean stays at most 0.891 (99 % of its final 0.90) up to 250: checkpoints 50, 100, 150, 250 (k = 0, 1,
    # 2, 4; the next, 450, is past the end): badge wins at all 4; conf has 1 seed -> never a t-test
    assert P.loc["badge", "rand"] == pytest.approx(1.0)
    assert P.loc["rand", "badge"] == 0 and P.loc["conf"].sum() == 0 and P["conf"].sum() == 0
    assert P.loc["column average", "rand"] == pytest.approx(0.5)
    assert P.loc["conf", ["rand", "badge"]].isna().all() and P.loc[["rand", "badge"], "conf"].isna().all()
    assert P.loc["conf", "conf"] == 0 and np.isnan(P.loc["column average", "conf"])
    overall = pd.read_csv(fig / "penalty_overall.csv", index_col=0)
    assert list(overall.index) == ["rand", "conf", "badge", "column average"]
    times = pd.read_csv(fig / "query_time_digits_mlp_50.csv", index_col=0)
    assert times.loc["badge", "query_seconds_mean"] == pytest.approx(0.5)
    err = pd.read_csv(fig / "normalised_error.csv")
    # conf, with values at 3 of the 4 checkpoints, weighs 1/3 each: every setting weighs the same
    assert err.groupby("alg").weight.sum().to_dict() == pytest.approx({"rand": 1.0, "badge": 1.0, "conf": 1.0})
    summary = pd.read_csv(fig / "summary_digits_mlp_50.csv", index_col=0)
    assert list(summary.index) == ["badge", "rand", "conf"]  # best column average first; conf's is empty
    # the checkpoints, and 150, the largest count every algorithm reached (conf's partial run stops there)
    assert list(summary.columns[:5]) == ["acc_50", "acc_100", "acc_150", "acc_250", "column_average"]
    assert summary.loc["rand", "acc_100"] == pytest.approx(0.70, abs=1e-4)
    assert summary.loc["rand", ["beats_badge", "beaten_by_badge"]].tolist() == [0, 1]
    assert summary.loc["badge", ["beats_badge", "beaten_by_badge"]].isna().all()
    assert "beats_bait" not in summary  # --versus names bait, which this setting lacks
    assert summary.loc["badge", "query_seconds_mean"] == pytest.approx(0.5)


def test_the_summary_s_last_count_is_one_every_run_reached(tmp_path):
    """A run that stopped early (badge's seed 2 at 200 labels) moves the summary's last column back to its count,
    so that every algorithm's mean there is over all its seeds."""
    for seed in (1, 2):
        write_run(tmp_path / "res", "rand", seed, [0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9])
    write_run(tmp_path / "res", "badge", 1, [0.5, 0.65, 0.75, 0.85, 0.95, 0.95, 0.95])
    write_run(tmp_path / "res", "badge", 2, [0.5, 0.65, 0.75, 0.81], finished=False)
    assert agg_results.main([str(tmp_path / "res"), "--fig", str(tmp_path / "fig")]) == 0
    summary = pd.read_csv(tmp_path / "fig" / "summary_digits_mlp_50.csv", index_col=0)
    assert [c for c in summary.columns if c.startswith("acc_")] == ["acc_50", "acc_100", "acc_150", "acc_200"]
    assert summary.loc["badge", "acc_200"] == pytest.approx(0.83, abs=1e-4)


def analysed_without(tmp_path, drop):
    """(summary columns acc_*, warnings) of an analysis of rand and badge (3 seeds, 50 → 350 labels: checkpoints 50,
    100, 150 and 250) whose results.csv rows `drop(table)` marks are removed first."""
    for seed in (1, 2, 3):
        write_run(tmp_path / "res", "rand", seed, [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.96 + seed / 1000])
        write_run(tmp_path / "res", "badge", seed, [0.5, 0.7, 0.8, 0.9, 0.93, 0.96, 0.97 + seed / 1000])
    assert agg_results.main([str(tmp_path / "res"), "--fig", str(tmp_path / "whole")]) == 0
    table = pd.read_csv(tmp_path / "whole" / "results.csv", keep_default_na=False, na_values=[""])
    table[~drop(table)].to_csv(tmp_path / "cut.csv", index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert agg_results.main([str(tmp_path / "cut.csv"), "--fig", str(tmp_path / "fig")]) == 0
    summary = pd.read_csv(tmp_path / "fig" / "summary_digits_mlp_50.csv", index_col=0)
    return [c for c in summary.columns if c.startswith("acc_")], [str(w.message) for w in caught]


def test_a_count_that_no_rand_seed_records_is_skipped_not_the_end_of_the_checkpoints(tmp_path):
    """With rand's rows at 100 labels gone from every seed the checkpoints stopped at nStart: L = 1 and a matrix of
    zeros, without a word."""
    columns, caught = analysed_without(tmp_path, lambda t: (t.alg == "rand") & (t.n_labeled == 100))
    assert columns[:3] == ["acc_50", "acc_150", "acc_250"]
    assert ("digits, mlp, batch 50: no 'rand' seed records test_acc at 100 labels; rand's 99 % rule cannot place a "
            "checkpoint there, so those counts are left out") in caught


def test_a_strategy_without_a_checkpoint_and_rand_that_ends_early_are_named(tmp_path):
    """A strategy whose every seed lacks a checkpoint neither won nor lost there, and its column average fell
    without a warning; rand's runs all cut short moved the checkpoints without one."""
    _, caught = analysed_without(tmp_path, lambda t: (t.alg == "badge") & (t.n_labeled > 200))
    assert [m for m in caught if "strategy has" in m] == [
        "digits, mlp, batch 50: 1 strategy has no test_acc at some of the L = 4 checkpoints (badge at 250): there "
        "they neither win nor lose, so their columns and rows count fewer checkpoints"]
    _, caught = analysed_without(tmp_path / "short", lambda t: (t.alg == "rand") & (t.n_labeled > 150))
    assert ("digits, mlp, batch 50: its 'rand' runs end at 150 labels, before other strategies' (350); rand's final "
            "accuracy, which places the checkpoints, is taken there: run rand to the end") in caught


def test_algorithms_missing_from_some_settings_are_named(tmp_path):
    for seed in (1, 2):
        for alg in ("rand", "badge"):
            write_run(tmp_path, alg, seed, [0.5, 0.6, 0.7])
            write_run(tmp_path, alg, seed, [0.5, 0.6, 0.7], n_query=100)
        write_run(tmp_path, "bait", seed, [0.5, 0.6, 0.7])
    write_run(tmp_path, "typiclust", 1, [0.5, 0.6, 0.7])  # one seed in each setting: no cell of it is tested
    write_run(tmp_path, "typiclust", 1, [0.5, 0.6, 0.7], n_query=100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert agg_results.main([str(tmp_path), "--fig", str(tmp_path / "f")]) == 0
    uneven = [str(w.message) for w in caught if "not every algorithm" in str(w.message)]
    assert uneven == ["not every algorithm is tested in all 2 settings: bait (1), typiclust (0); overall sums over "
                      "fewer settings are lower for that alone (an algorithm is untested where it did not run, or "
                      "shares fewer than 2 seeds with the others), so compare them over the settings they share "
                      "(--algs)"]


def test_cli_errors(tmp_path, capsys):
    assert agg_results.main([str(tmp_path / "nope"), "--fig", str(tmp_path / "f")]) == 2
    assert agg_results.main([str(tmp_path), "--fig", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("agg_results.py: error:") for line in err)


def test_a_log_meta_key_a_log_setting_lacks_is_one_error(tmp_path, capsys):
    write_run(tmp_path / "res", "rand", 1, [0.5, 0.6])
    assert agg_results.main([str(tmp_path / "res"), "--fig", str(tmp_path / "f"), "--log-meta", "nquery=100"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["agg_results.py: error: --log-meta nquery=...: unknown key; use one of data, model, alg, nQuery, "
                   "nStart, nEnd, seed"]
    assert not (tmp_path / "f").exists()


def test_a_fig_folder_that_cannot_be_written_is_one_error(tmp_path, capsys):
    write_run(tmp_path / "res", "rand", 1, [0.5, 0.6])
    (tmp_path / "file").write_text("")
    for fig, message in [("", "--fig needs a folder name"), (tmp_path / "file", "is a file; name a folder"),
                         (tmp_path / "file" / "sub", "cannot write"), ("/proc/no/fig", "cannot write /proc/no")]:
        assert agg_results.main([str(tmp_path / "res"), "--fig", str(fig)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("agg_results.py: error:") and message in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "res"]  # nothing written into the cwd or beside


def test_algs_names_a_strategy_without_runs_in_a_warning(tmp_path):
    for seed in (1, 2):
        write_run(tmp_path, "rand", seed, [0.5, 0.6])
        write_run(tmp_path, "badge", seed, [0.5, 0.7])
    with pytest.warns(UserWarning, match=r"--algs bagde: no runs of it here \(the runs are of badge, rand\)"):
        assert agg_results.main([str(tmp_path), "--fig", str(tmp_path / "f"), "--algs", "rand,bagde"]) == 0
    assert set(pd.read_csv(tmp_path / "f" / "results.csv").alg) == {"rand"}


def test_algs_and_versus_read_names_in_any_case_as_run_py_and_the_sweep_do(tmp_path, recwarn):
    """--algs RAND,Badge found no runs (a warning for each) where `run.py --alg RAND` runs rand."""
    for seed in (1, 2):
        write_run(tmp_path, "rand", seed, [0.5, 0.6])
        write_run(tmp_path, "badge", seed, [0.5, 0.7])
    assert agg_results.main([str(tmp_path), "--fig", str(tmp_path / "f"), "--algs", "RAND,Badge",
                             "--versus", "RAND"]) == 0
    assert set(pd.read_csv(tmp_path / "f" / "results.csv").alg) == {"rand", "badge"}
    assert not [w for w in recwarn if "no runs of it here" in str(w.message)]


def test_sweep_logs_are_never_read_in_place_of_their_run_folders(tmp_path):
    """A sweep's OUT/logs/<run>.log records no flags: a broken or moved-away run folder is not averaged through it
    (it would pool across --lr), and the log is named in a warning."""
    for seed in (1, 2):
        write_run(tmp_path, "rand", seed, [0.5, 0.6])
    broken = write_run(tmp_path, "badge", 1, [0.5, 0.7])
    broken.path.joinpath("config.json").write_text("{")
    (tmp_path / "logs").mkdir()
    for alg, seed in [("rand", 1), ("rand", 2), ("badge", 1), ("badge", 2)]:  # badge seed 2's folder moved away
        (tmp_path / "logs" / f"digits_mlp_{alg}_50_seed{seed}.log").write_text(sweep_log(alg, seed, 0.9))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = agg_read.load_results([tmp_path], broken=[])
    assert set(table.alg) == {"rand"} and table.test_acc.max() == 0.6
    skipped = sorted(str(w.message).split(":")[0] for w in caught if "run.py's output" in str(w.message))
    assert skipped == [f"skipping {tmp_path}/logs/digits_mlp_badge_50_seed{s}.log" for s in (1, 2)]


def test_run_py_s_output_saved_to_a_file_is_never_read_as_a_log(tmp_path):
    """`run.py ... > file 2>&1`: the progress bar puts a carriage return before each round line, which hid them,
    and the file was averaged as an original log by its name (a run of --lr 0.01 pooled with the others)."""
    log = tmp_path / "logs" / "digits_mlp_rand_20_seed4.log"
    log.parent.mkdir()
    with log.open("wb") as f:
        subprocess.run([sys.executable, "run.py", "--nStart", "20", "--nQuery", "20", "--nEnd", "40", "--lr", "0.01",
                        "--seed", "4", "--out", str(tmp_path / "res")], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                       timeout=600, check=True)
    assert b"\rround 0: 20 labelled, train " in log.read_bytes()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = agg_read.load_results([tmp_path / "logs"], broken=[])
    assert table.empty
    assert [str(w.message).split(":")[0] for w in caught] == [
        f"skipping {tmp_path}/logs/digits_mlp_rand_20_seed4.log"]


def test_an_original_log_of_a_run_read_from_its_folder_is_dropped_with_a_warning(tmp_path):
    write_run(tmp_path, "rand", 1, [0.5, 0.6], maxEpochs=0)  # the original trains without an epoch cap
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "digits_mlp_rand_50_seed1.txt").write_text("50\ttesting accuracy 0.1\n")
    with pytest.warns(UserWarning, match="ignoring 1 other source.*digits_mlp_rand_50_seed1.txt"):
        table = agg_read.load_results([tmp_path])
    assert set(table.kind) == {"run"} and table.test_acc.tolist() == [0.5, 0.6]


def test_duplicate_logs_keep_the_longest_with_a_warning(tmp_path):
    for name, lines in [("a", 2), ("b", 3)]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "digits_mlp_conf_50_seed1.txt").write_text(
            "".join(f"{50 * (k + 1)}\ttesting accuracy 0.{k + 5}\n" for k in range(lines)))
    with pytest.warns(UserWarning, match="ignoring 1 other source"):
        table = agg_read.load_results([tmp_path])
    assert table.n_labeled.tolist() == [50, 100, 150]


def test_logs_without_a_seed_are_numbered_per_setting(tmp_path):
    for folder in ("b", "a"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "digits_mlp_rand_50.txt").write_text("50\ttesting accuracy 0.5\n")
    (tmp_path / "digits_mlp_rand_50_seed4.txt").write_text("50\ttesting accuracy 0.6\n")
    with pytest.warns(UserWarning, match="2 log"):
        table = agg_read.load_results([tmp_path])
    assert sorted(table.seed) == [4, 5, 6]
    assert table.set_index("seed").source[5].endswith("a/digits_mlp_rand_50.txt")


def test_tested_pairs_need_two_common_seeds_at_some_checkpoint():
    """Brute force over every pair and checkpoint of hand-made curves with missing seeds."""
    acc = {"rand": pd.DataFrame({1: [0.5, 0.6], 2: [0.5, 0.6], 3: [0.5, np.nan]}, index=[50, 100]),
           "conf": pd.DataFrame({1: [0.5, 0.6]}, index=[50, 100]),
           "badge": pd.DataFrame({3: [0.5, 0.6], 4: [0.5, 0.6]}, index=[50, 100]),
           "bait": pd.DataFrame({2: [0.5, np.nan], 3: [0.5, 0.7]}, index=[50, 100])}
    T = agg_stats.tested_pairs(acc, [50, 100])
    for i in acc:
        for j in acc:
            common = [len(set(acc[i].loc[c].dropna().index) & set(acc[j].loc[c].dropna().index)) for c in (50, 100)]
            assert T.loc[i, j] == (i == j or max(common) >= 2), (i, j)
    assert T.loc["rand", "bait"] and not T.loc["rand", "badge"] and not T.loc["conf"].drop("conf").any()


def test_learning_legend_stays_outside_the_curves():
    acc = curves({"rand": {50: [0.5] * 5, 100: [0.9] * 5}, "badge": {50: [0.5] * 5, 100: [0.95] * 5}})
    fig = agg_figures.learning_figure(acc, "t", 100)
    fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1


@pytest.mark.parametrize("value", ["nan", "inf", "-2", "0"])
def test_t_threshold_must_be_a_positive_finite_number(tmp_path, capsys, value):
    write_run(tmp_path, "rand", 1, [0.5, 0.6])
    assert agg_results.main([str(tmp_path), "--fig", str(tmp_path / "f"), "--t-threshold", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("agg_results.py: error: --t-threshold must be a positive finite")
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("damage, message", [
    (lambda t: t.head(3).to_csv(index=False)[:-40], "row 4's nStart is empty, not a whole number"),  # cut
    (lambda t: t.assign(test_acc=["x"] + list(t.test_acc[1:])).to_csv(index=False), "row 2's test_acc is x, not a "
                                                                                      "number"),
    (lambda t: t.assign(seed=1.5).to_csv(index=False), "row 2's seed is 1.5, not a whole number"),
    (lambda t: t.drop(columns="nStart").to_csv(index=False), "(no nStart column)"),
])
def test_a_damaged_results_table_is_one_error_and_nothing_is_written(tmp_path, capsys, damage, message):
    write_run(tmp_path / "res", "rand", 1, [0.5, 0.6, 0.7])
    assert agg_results.main([str(tmp_path / "res"), "--fig", str(tmp_path / "f")]) == 0
    table = pd.read_csv(tmp_path / "f" / "results.csv")
    (tmp_path / "bad.csv").write_text(damage(table))
    capsys.readouterr()
    assert agg_results.main([str(tmp_path / "bad.csv"), "--fig", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "g").exists()


def test_a_run_resumed_with_other_threads_never_pools_with_runs_of_one_thread_count(tmp_path):
    write_run(tmp_path, "rand", 1, [0.5, 0.6, 0.7], threads=1)
    write_run(tmp_path, "rand", 2, [0.5, 0.6, 0.7], threads=1,
              segments=[{"from_round": 0, "threads": 1}, {"from_round": 2, "threads": 2}])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert agg_results.main([str(tmp_path), "--fig", str(tmp_path / "f")]) == 0
    assert "digits, mlp, batch 50: its runs differ in threads; analysed as separate settings (threads=1; " \
           "threads=1+2)" in [str(w.message) for w in caught]


def test_a_run_without_a_finished_round_is_left_out_with_a_warning_that_says_so(tmp_path):
    for seed in (1, 2):
        write_run(tmp_path, "rand", seed, [0.5, 0.6, 0.7])
    run_dir = write_run(tmp_path, "badge", 1, [0.5], finished=False)
    header = run_dir.rounds.read_text().splitlines()[0]
    run_dir.rounds.write_text(header + "\n")  # as a sweep killed in round 0 leaves it
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "digits_mlp_badge_50_seed1.log").write_text(
        "# 2026-12-05T10:00:00 python run.py --alg badge\n50\ttesting accuracy 0.5\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert agg_results.main([str(tmp_path), "--fig", str(tmp_path / "f")]) == 0
    messages = [str(w.message) for w in caught]
    assert f"leaving out {run_dir.path}: no round of it has finished yet (its rounds.csv has no rows)" in messages
    assert not any("no run folder named" in m for m in messages), messages


def test_a_setting_of_one_strategy_other_than_rand_warns_that_it_has_no_cdf(tmp_path):
    write_run(tmp_path, "badge", 1, [0.5, 0.6, 0.7])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert agg_results.main([str(tmp_path), "--fig", str(tmp_path / "f")]) == 0
    assert any("no 'rand' runs" in str(w.message) and "no normalised errors or CDF" in str(w.message)
               for w in caught), [str(w.message) for w in caught]
    assert not list((tmp_path / "f").glob("cdf_digits*"))


def test_a_log_meta_that_no_log_takes_is_named_in_a_warning(tmp_path):
    """The original's output saved as run1.stdout is not read as a log: --log-meta, meant for it, says that no log
    was read rather than pass in silence; with the log named run1.txt it is read, and no such warning comes."""
    for seed in (1, 2):
        write_run(tmp_path / "res", "rand", seed, [0.5, 0.6, 0.7])
    (tmp_path / "res" / "run1.stdout").write_text("50\ttesting accuracy 0.5\n100\ttesting accuracy 0.7\n")
    meta = ["--log-meta", "data=digits", "--log-meta", "model=mlp", "--log-meta", "alg=marg", "--log-meta", "nQuery=50"]
    with pytest.warns(UserWarning, match=r"--log-meta: no log of the original code was read under .*res \(a \*\.txt, "
                                         r"\*\.log, \*\.out or suffix-less file with 'testing accuracy' lines\)"):
        assert agg_results.main([str(tmp_path / "res"), "--fig", str(tmp_path / "f"), *meta]) == 0
    (tmp_path / "res" / "run1.stdout").rename(tmp_path / "res" / "run1.txt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert agg_results.main([str(tmp_path / "res"), "--fig", str(tmp_path / "g"), *meta]) == 0
    assert not [w for w in caught if "--log-meta" in str(w.message)]
    assert "marg" in set(pd.read_csv(tmp_path / "g" / "results.csv").alg)


def test_log_meta_values_that_are_not_whole_numbers_are_one_error(tmp_path, capsys):
    write_run(tmp_path / "res", "rand", 1, [0.5, 0.6])
    assert agg_results.main([str(tmp_path / "res"), "--fig", str(tmp_path / "f"), "--log-meta", "seed=x"]) == 2
    assert capsys.readouterr().err.strip() == ("agg_results.py: error: --log-meta seed=x: seed is a whole number of "
                                               "at least 0, e.g. --log-meta seed=1")
    log = tmp_path / "logs" / "mylog.txt"
    log.parent.mkdir()
    log.write_text("Namespace(data='MNIST', model='mlp', alg='rand', nQuery='ten')\n100\ttesting accuracy 0.5\n")
    assert agg_results.main([str(log), "--fig", str(tmp_path / "g")]) == 2
    assert capsys.readouterr().err.strip() == (f"agg_results.py: error: {log} is a file; pass the folder that holds "
                                               f"it (run folders and the original's logs under a folder are read) or "
                                               f"a results.csv")
    with pytest.warns(UserWarning, match="mylog.txt: its nQuery 'ten' is not a whole number"):
        assert agg_results.main([str(tmp_path / "logs"), str(tmp_path / "res"), "--fig", str(tmp_path / "g")]) == 0


def test_a_batch_of_zero_or_less_is_refused_wherever_it_is_read(tmp_path, capsys):
    """nQuery 0 or negative made the checkpoints' loop (nStart + k·nQuery ≤ the largest count) run forever, from
    --log-meta, a log's Namespace line or file name, a results.csv or a config.json; an empty --log-meta value named
    a strategy ''."""
    write_run(tmp_path / "res", "rand", 1, [0.5, 0.6])
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "mylog.txt").write_text("100\ttesting accuracy 0.5\n200\ttesting accuracy 0.6\n")
    meta = ["--log-meta", "data=digits", "--log-meta", "model=mlp", "--log-meta", "alg=marg"]
    for value in ("0", "-100"):
        assert agg_results.main([str(logs), "--fig", str(tmp_path / "f"), *meta, "--log-meta", f"nQuery={value}"]) == 2
        assert capsys.readouterr().err.strip() == (f"agg_results.py: error: --log-meta nQuery={value}: nQuery is a "
                                                   f"whole number of at least 1, e.g. --log-meta nQuery=1")
    assert agg_results.main([str(logs), "--fig", str(tmp_path / "f"), *meta, "--log-meta", "alg="]) == 2
    assert "--log-meta alg= has no value" in capsys.readouterr().err
    (logs / "mylog.txt").write_text("Namespace(data='digits', model='mlp', alg='marg', nQuery=0)\n"
                                    "100\ttesting accuracy 0.5\n200\ttesting accuracy 0.6\n")
    (logs / "digits_mlp_conf_0_seed1.txt").write_text("100\ttesting accuracy 0.5\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert agg_results.main([str(logs), str(tmp_path / "res"), "--fig", str(tmp_path / "g")]) == 0
    skipped = [str(w.message) for w in caught if "is not a whole number of at least 1" in str(w.message)]
    assert len(skipped) == 2, [str(w.message) for w in caught]
    table = pd.read_csv(tmp_path / "g" / "results.csv")
    table.loc[0, "nQuery"] = 0
    table.to_csv(tmp_path / "zero.csv", index=False)
    assert agg_results.main([str(tmp_path / "zero.csv"), "--fig", str(tmp_path / "h")]) == 2
    assert "row 2's nQuery is 0, not a whole number (or below its least)" in capsys.readouterr().err
    config = next((tmp_path / "res").glob("*/config.json"))
    config.write_text(json.dumps(dict(json.loads(config.read_text()), nQuery=0)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        agg_results.main([str(tmp_path / "res"), "--fig", str(tmp_path / "k")])
    assert any("records nQuery 0, below run.py's least (1)" in str(w.message) for w in caught), \
        [str(w.message) for w in caught]


def test_rand_seeds_of_another_nstart_are_another_setting_not_missing(tmp_path):
    write_run(tmp_path, "rand", 1, [0.5, 0.6, 0.7], n_start=50)
    write_run(tmp_path, "rand", 2, [0.5, 0.6, 0.7], n_start=75)  # 75, 125, 175: no count shared with seed 1
    write_run(tmp_path, "conf", 1, [0.5, 0.6, 0.7], n_start=50)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert agg_results.main([str(tmp_path), "--fig", str(tmp_path / "f")]) == 0
    messages = [str(w.message) for w in caught]
    assert "digits, mlp, batch 50: its runs differ in nStart; analysed as separate settings (nStart=50; nStart=75)" \
        in messages
    assert not any("share no labelled count" in m or "no 'rand' runs" in m for m in messages), messages
    assert (tmp_path / "f" / "learning_digits_mlp_50_nStart-75.png").is_file()


def test_runs_with_other_result_changing_flags_are_separate_settings(tmp_path):
    accs = [0.5, 0.6, 0.7]
    for seed in (1, 2):
        write_run(tmp_path / "sweep", "rand", seed, accs, lr=1e-4)
        write_run(tmp_path / "sweep", "powerbald", seed, accs, lr=1e-4, beta=1.0)
    write_run(tmp_path / "by_hand", "rand", 1, accs, n_start=40, lr=1e-3)
    write_run(tmp_path / "by_hand", "powerbald", 3, accs, lr=1e-4, beta=2.0, kmFactor=5.0)  # kmFactor: not its flag
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = agg_read.load_results([tmp_path])
    runs = table.groupby("source").first()
    assert sorted(runs.protocol.unique()) == ["nStart=40 lr=0.001", "nStart=50 lr=0.0001"]
    by_hand = {str(tmp_path / "by_hand/digits_mlp_rand_50_seed1")}
    assert set(runs[runs.protocol == "nStart=40 lr=0.001"].index) == by_hand
    assert sorted(runs.alg.unique()) == ["powerbald beta=1", "powerbald beta=2", "rand"]
    messages = [str(w.message) for w in caught]
    assert ("digits, mlp, batch 50: its runs differ in nStart, lr; analysed as separate settings "
            "(nStart=40 lr=0.001; nStart=50 lr=0.0001)") in messages
    assert any("its powerbald runs differ in beta;" in m for m in messages), messages
    assert len(table) == 6 * 3  # the hand-made rand run of seed 1 is not a duplicate of the sweep's


def test_a_strategy_parameter_all_runs_share_off_its_default_names_the_algorithm(tmp_path):
    """Runs of powermargin all made with --beta 2 were analysed as plain `powermargin`, as if β had its default:
    nothing in the figures or tables said otherwise. At the default, the name stays plain."""
    for seed in (1, 2):
        write_run(tmp_path / "a", "rand", seed, [0.5, 0.6, 0.7])
        write_run(tmp_path / "a", "powermargin", seed, [0.5, 0.6, 0.7], beta=2.0)
        write_run(tmp_path / "b", "powermargin", seed, [0.5, 0.6, 0.7], n_query=60, beta=1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = agg_read.load_results([tmp_path])
    assert {q: sorted(names) for q, names in table.groupby("nQuery").alg.unique().items()} == {
        50: ["powermargin beta=2", "rand"], 60: ["powermargin"]}
    assert not [w for w in caught if "differ" in str(w.message)]
    proc = agg_cli(tmp_path / "a", "--fig", tmp_path / "fig")
    assert proc.returncode == 0, proc.stderr
    assert set(pd.read_csv(tmp_path / "fig" / "results.csv").alg) == {"rand", "powermargin beta=2"}


def test_one_protocol_keeps_the_setting_and_its_file_names(tmp_path):
    for seed in (1, 2):
        write_run(tmp_path / "a", "rand", seed, [0.5, 0.6], lr=1e-4, threads=1)
    write_run(tmp_path / "b", "rand", 3, [0.5, 0.6])  # an older version's run: no lr or threads recorded
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = agg_read.load_results([tmp_path])
    assert set(table.protocol) == {""} and table.source.nunique() == 3
    assert not [w for w in caught if "differ" in str(w.message)]
    assert agg_results.setting_stem(("openml6", "mlp", 100, "")) == "openml6_mlp_100"
    assert agg_results.setting_stem(("digits", "mlp", 50, "lr=0.001")) == "digits_mlp_50_lr-0.001"


def test_seeds_whose_split_differs_share_a_setting_but_other_source_data_does_not(tmp_path):
    """Each seed splits (or subsamples, --imbalance) the data its own way, so its in-memory sha256 differs; the
    analysis compares the data before any seeded step (source_sha256), and a run of an older version that recorded
    none joins either."""
    for seed in (1, 2, 3):
        write_run(tmp_path / "a", "rand", seed, [0.5, 0.6],
                  data_identity={"sha256": f"split{seed}", "source_sha256": "letter-csv"})
    write_run(tmp_path / "b", "rand", 4, [0.5, 0.6], data_identity={"sha256": "split1"})
    table = agg_read.load_results([tmp_path])
    assert set(table.protocol) == {""} and table.source.nunique() == 4
    write_run(tmp_path / "c", "rand", 5, [0.5, 0.6], data_identity={"sha256": "x", "source_sha256": "edited-csv"})
    with pytest.warns(UserWarning, match="differ in data_sha256"):
        table = agg_read.load_results([tmp_path])
    assert sorted(table.protocol.unique()) == ["data_sha256=?", "data_sha256=edited-c", "data_sha256=letter-c"]


def test_one_warning_per_setting_whose_runs_used_different_trainers(tmp_path):
    compiled = {"path": "compiled", "library": "ab", "compiler": "cc 12", "cpu_flags": "f"}
    write_run(tmp_path, "rand", 1, [0.5, 0.6], trainer="compiled", trainer_identity=compiled)
    write_run(tmp_path, "rand", 2, [0.5, 0.6], trainer="compiled")  # older: no identity, taken as the same
    write_run(tmp_path, "conf", 1, [0.5, 0.6], trainer="compiled", trainer_identity=dict(compiled, library="cd"))
    write_run(tmp_path, "conf", 2, [0.5, 0.6], trainer="torch")
    write_run(tmp_path, "badge", 1, [0.5, 0.6])  # no trainer recorded: unknown
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        agg_read.warn_mixed_trainers(agg_read.load_results([tmp_path]))
    mixed = [str(w.message) for w in caught if "different trainers" in str(w.message)]
    one = agg_read.short_hash(compiled)
    other = agg_read.short_hash(dict(compiled, library="cd"))
    assert len(mixed) == 1 and mixed[0].startswith("digits, mlp, batch 50: its runs used different trainers: ")
    assert f"compiled [{one}] (1 run)" in mixed[0] and f"compiled [{other}] (1 run)" in mixed[0]
    assert "torch (1 run)" in mixed[0] and "compiled (" not in mixed[0]


def test_a_run_resumed_with_another_build_or_trainer_reads_as_made_with_both(tmp_path):
    compiled = {"path": "compiled", "library": "ab", "compiler": "cc 12", "cpu_flags": "f"}
    other = dict(compiled, cpu_flags="g")
    start = {"from_round": 0, "threads": 1, "trainer": "compiled", "trainer_identity": compiled}
    write_run(tmp_path, "rand", 1, [0.5, 0.6], trainer="compiled", trainer_identity=compiled, segments=[start])
    write_run(tmp_path, "rand", 2, [0.5, 0.6], trainer="compiled", trainer_identity=compiled,
              segments=[start, dict(start, from_round=1, trainer_identity=other)])
    write_run(tmp_path, "rand", 3, [0.5, 0.6], trainer="compiled", trainer_identity=compiled,
              segments=[start, dict(start, from_round=1, trainer="torch", trainer_identity={"path": "torch"})])
    write_run(tmp_path, "rand", 4, [0.5, 0.6], trainer="compiled", trainer_identity=compiled,
              segments=[start, {"from_round": 1, "threads": 1, "trainer": "compiled"}])  # an older resume: no build
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        agg_read.warn_mixed_trainers(agg_read.load_results([tmp_path]))
    mixed = [str(w.message) for w in caught if "different trainers" in str(w.message)]
    one, two, torch_ = (agg_read.short_hash(x) for x in (compiled, other, {"path": "torch"}))
    assert len(mixed) == 1
    assert f"compiled [{one}] (2 runs)" in mixed[0] and f"compiled [{one}+{two}] (1 run)" in mixed[0]
    assert f"compiled+torch [{one}+{torch_}] (1 run)" in mixed[0]


def test_the_trainer_warning_counts_only_the_algorithms_analysed(tmp_path):
    compiled = {"path": "compiled", "library": "ab", "compiler": "cc 12", "cpu_flags": "f"}
    for seed in (1, 2):
        write_run(tmp_path, "rand", seed, [0.5, 0.6], trainer="compiled", trainer_identity=compiled)
        write_run(tmp_path, "conf", seed, [0.5, 0.6], trainer="compiled", trainer_identity=compiled)
    write_run(tmp_path, "bait", 1, [0.5, 0.6], trainer="compiled", trainer_identity=dict(compiled, library="cd"))

    def trainer_warnings(*flags):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert agg_results.main([str(tmp_path), "--fig", str(tmp_path / "f"), *flags]) == 0
        return [str(w.message) for w in caught if "different trainers" in str(w.message)]

    assert trainer_warnings("--algs", "rand,conf") == []
    mixed = trainer_warnings()
    assert len(mixed) == 1 and f"compiled [{agg_read.short_hash(compiled)}] (4 runs)" in mixed[0]


def test_penalty_matrices_per_batch_size_and_model_family(tmp_path):
    algs = ["rand", "badge"]

    def setting(key, badge_wins):
        P = pd.DataFrame([[0.0, 0.0], [badge_wins, 0.0]], index=algs, columns=algs)
        return agg_results.SettingResult(key, str(key), P, P.astype(bool) | True, None, None)

    found = [setting(("letter", "mlp", 100), 0.5), setting(("MNIST", "mlp", 1000), 0.25),
             setting(("MNIST", "cnn", 100), 1.0)]
    groups = agg_results.setting_groups(found)
    assert {name: [r.key for r in members] for name, (_, members) in groups.items()} == {
        "batch_100": [("letter", "mlp", 100), ("MNIST", "cnn", 100)], "batch_1000": [("MNIST", "mlp", 1000)],
        "family_convolutional": [("MNIST", "cnn", 100)],
        "family_mlp": [("letter", "mlp", 100), ("MNIST", "mlp", 1000)]}
    agg_results.write_groups(found, tmp_path, None)
    assert pd.read_csv(tmp_path / "penalty_batch_100.csv", index_col=0).loc["badge", "rand"] == 1.5
    assert pd.read_csv(tmp_path / "penalty_family_mlp.csv", index_col=0).loc["badge", "rand"] == 0.75
    assert (tmp_path / "penalty_family_convolutional.png").stat().st_size > 1000
    assert agg_results.setting_groups(found[:1]) == {}  # one batch size and one family: nothing to split


def test_a_results_csv_of_an_earlier_analysis_pools_with_new_runs(tmp_path, capsys):
    rand = [0.50, 0.70, 0.80, 0.88]
    for s, z in zip(SEEDS, Z):
        write_run(tmp_path / "old", "rand", s, list(np.add(rand, 0.01 * z)))
        write_run(tmp_path / "new", "badge", s, list(np.add(rand, 0.05 + 0.01 * z)))
    assert agg_results.main([str(tmp_path / "old"), "--fig", str(tmp_path / "first")]) == 0
    assert agg_results.main([str(tmp_path / "first" / "results.csv"), str(tmp_path / "new"),
                             "--fig", str(tmp_path / "pooled")]) == 0
    pooled = pd.read_csv(tmp_path / "pooled" / "results.csv")
    assert sorted(pooled.alg.unique()) == ["badge", "rand"] and pooled.source.nunique() == 2 * len(SEEDS)
    P = pd.read_csv(tmp_path / "pooled" / "penalty_digits_mlp_50.csv", index_col=0)
    assert P.loc["badge", "rand"] > 0 and P.loc["rand", "badge"] == 0
    twice = agg_read.load_results([tmp_path / "first" / "results.csv", tmp_path / "pooled" / "results.csv",
                                   tmp_path / "old"])
    assert len(twice) == len(pooled)  # a run held by two tables and read from its folder counts once
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    assert agg_results.main([str(tmp_path / "other.csv"), "--fig", str(tmp_path / "f")]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "is not a results.csv of scripts/agg_results.py (no data, model, nQuery, nStart, alg, seed, round, n_labeled, "
        "test_acc, source, kind column); pass a results.csv that an analysis wrote in its --fig folder")


def test_algs_restricts_the_analysis_to_the_strategies_named(tmp_path, capsys):
    for s, z in zip(SEEDS, Z):
        for alg, shift in (("rand", 0), ("badge", 0.05), ("kcenter", 0.02)):
            write_run(tmp_path / "res", alg, s, [0.5 + shift + 0.01 * z, 0.7 + shift + 0.01 * z])
    assert agg_results.main([str(tmp_path / "res"), "--fig", str(tmp_path / "f"), "--algs", "rand,coreset"]) == 0
    assert sorted(pd.read_csv(tmp_path / "f" / "results.csv").alg.unique()) == ["coreset", "rand"]
    assert agg_results.main([str(tmp_path / "res"), "--fig", str(tmp_path / "g"), "--algs", "bald"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "; --algs names none of their strategies (a warning lists them)")
    (tmp_path / "empty").mkdir()
    assert agg_results.main([str(tmp_path / "empty"), "--fig", str(tmp_path / "h")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.endswith(
        "; name the folder that run.py's --out (or sweep.py's) wrote, or a results.csv of an earlier analysis")


def test_versus_names_the_strategies_the_summary_counts_wins_against(tmp_path):
    """--versus kcenter (an alias of coreset): the summary has beats_coreset and beaten_by_coreset, not badge's."""
    for s, z in zip(SEEDS, Z):
        for alg, shift in (("rand", 0), ("badge", 0.05), ("kcenter", 0.02)):
            write_run(tmp_path / "res", alg, s, [0.5 + shift + 0.01 * z, 0.7 + shift + 0.01 * z])
    assert agg_results.main([str(tmp_path / "res"), "--fig", str(tmp_path / "f"), "--versus", "kcenter"]) == 0
    summary = pd.read_csv(tmp_path / "f" / "summary_digits_mlp_50.csv", index_col=0)
    assert list(summary.index) == ["badge", "coreset", "rand"]
    assert [c for c in summary if c.startswith("beat")] == ["beats_coreset", "beaten_by_coreset"]
    assert summary.loc["badge", "beats_coreset"] == 1 and summary.loc["rand", "beaten_by_coreset"] == 1
    with pytest.warns(UserWarning, match="--versus bait: no runs of it here"):
        assert agg_results.main([str(tmp_path / "res"), "--fig", str(tmp_path / "g"), "--versus", "badge,bait"]) == 0


def test_metric_balanced_acc_draws_the_penalty_matrix_on_balanced_accuracy(tmp_path, capsys):
    """--metric balanced_acc ranks by rounds.csv's balanced_acc: badge wins on it while conf wins on plain
    accuracy; a run of an older version (no balanced_acc column) is left out with a warning."""
    res, rand = tmp_path / "results", np.array([0.50, 0.70, 0.80, 0.85, 0.88, 0.90])
    for s, z in zip(SEEDS, Z):
        write_run(res, "rand", s, list(rand + 0.01 * z))
        write_run(res, "badge", s, list(rand + 0.01 * z), balanced=list(rand + 0.05 + 0.01 * z))
        write_run(res, "conf", s, list(rand + 0.05 + 0.01 * z), balanced=list(rand - 0.05 + 0.01 * z))
    old = write_run(res / "old", "rand", 9, [0.5, 0.6])
    text = old.rounds.read_text().splitlines()
    keep = [i for i, c in enumerate(text[0].split(",")) if c not in ("balanced_acc", "rarest_labeled")]
    old.rounds.write_text("".join(",".join(line.split(",")[i] for i in keep) + "\n" for line in text))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert agg_results.main([str(res), "--fig", str(tmp_path / "bal"), "--metric", "balanced_acc"]) == 0
    assert any("1 run(s) record no balanced_acc" in str(w.message) for w in caught)
    assert agg_results.main([str(res), "--fig", str(tmp_path / "acc")]) == 0
    bal = pd.read_csv(tmp_path / "bal" / "penalty_digits_mlp_50.csv", index_col=0)
    acc = pd.read_csv(tmp_path / "acc" / "penalty_digits_mlp_50.csv", index_col=0)
    assert bal.loc["badge", "rand"] == pytest.approx(1.0) and bal.loc["rand", "conf"] == pytest.approx(1.0)
    assert acc.loc["conf", "rand"] == pytest.approx(1.0) and acc.loc["badge", "rand"] == 0
    assert 9 not in set(pd.read_csv(tmp_path / "bal" / "results.csv").seed)
    rarest = pd.read_csv(tmp_path / "bal" / "rarest_digits_mlp_50.csv", index_col=0)
    assert rarest.loc["badge"].tolist() == [0.0, 1.0, 2.0, 4.0]  # write_run's rarest_labeled = round
    assert list(rarest.columns) == ["50", "100", "150", "250"]


def test_metric_balanced_acc_without_any_run_recording_it_is_one_error(tmp_path, capsys):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "digits_mlp_rand_50_seed1.log").write_text("50\ttesting accuracy 0.1\n")
    assert agg_results.main([str(tmp_path / "logs"), "--fig", str(tmp_path / "f"), "--metric", "balanced_acc"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "records balanced_acc" in err[0]


def test_a_cold_start_setting_checks_from_its_first_batch(tmp_path):
    """Runs with nStart 0 first label nQuery points: the checkpoints are nQuery·{1, 2, 3, 5, …}, every one reached,
    so a strategy better at every one wins with weight 1."""
    res, rand = tmp_path / "results", np.array([0.50, 0.70, 0.80, 0.85, 0.88, 0.90])
    for s, z in zip(SEEDS, Z):
        for alg, acc in (("rand", rand), ("typiclust", np.minimum(rand + 0.05, 1))):
            run_dir = write_run(res, alg, s, list(acc + 0.01 * z))
            config = json.loads(run_dir.config.read_text())
            run_dir.config.write_text(json.dumps(dict(config, nStart=0)))
    assert agg_results.main([str(res), "--fig", str(tmp_path / "fig")]) == 0
    P = pd.read_csv(tmp_path / "fig" / "penalty_digits_mlp_50.csv", index_col=0)
    assert P.loc["typiclust", "rand"] == pytest.approx(1.0)


def test_rounds_a_guard_stopped_are_counted_per_setting_and_algorithm(tmp_path, capsys):
    for seed in (1, 2):
        write_run(tmp_path / "res", "rand", seed, [0.5, 0.6, 0.7])
        write_run(tmp_path / "res", "conf", seed, [0.5, 0.6, 0.7],
                  stops=["target", "stalled", "cap" if seed == 2 else "target"])
    assert agg_results.main([str(tmp_path / "res"), "--fig", str(tmp_path / "fig")]) == 0
    assert ("rounds trained to the 0.99 target: 9 of 12 (stopped by a guard: cap 1, stalled 2; by setting and "
            "algorithm in train_stops.csv)") in capsys.readouterr().out
    stops = pd.read_csv(tmp_path / "fig" / "train_stops.csv")
    assert stops[["alg", "target", "unreachable", "cap", "stalled"]].to_numpy().tolist() == \
        [["conf", 3, 0, 1, 2], ["rand", 6, 0, 0, 0]]
    assert stops[["data", "model", "nQuery"]].drop_duplicates().to_numpy().tolist() == [["digits", "mlp", 50]]


def test_each_runs_training_and_query_costs_are_summed_in_run_costs_csv(tmp_path):
    """run_costs.csv: one row per run that records its training (a real run of run.py, and a run whose rounds a
    guard stopped), its sums and extremes those of its rounds.csv; an original's log, which records no training, has
    no row; the analysis of the written results.csv gives the same file."""
    proc = run_cli("--alg", "entropy", "--nEnd", "300", "--out", tmp_path / "res")
    assert proc.returncode == 0, proc.stderr
    write_run(tmp_path / "res", "conf", 1, [0.5, 0.6, 0.7], stops=["target", "stalled", "cap"], train_s=0.3)
    (tmp_path / "res" / "old").mkdir()
    (tmp_path / "res" / "old" / "cifar_badge.txt").write_text(f"{NAMESPACE}\n100\ttesting accuracy 0.3\n")
    assert agg_main(tmp_path / "res", "--fig", tmp_path / "fig").returncode == 0
    costs = pd.read_csv(tmp_path / "fig" / "run_costs.csv").set_index("alg")
    assert sorted(costs.index) == ["conf", "entropy"]
    for alg in costs.index:
        rounds = pd.read_csv(Path(costs.source[alg]) / "rounds.csv")
        guarded = int((rounds.train_stop != "target").sum())
        expected = [len(rounds), rounds.n_labeled.max(), rounds.train_seconds.sum(), rounds.train_epochs.sum(),
                    rounds.train_epochs.max(), rounds.query_seconds.sum(), guarded]
        assert costs.loc[alg, ["rounds", "n_labeled", "train_seconds", "train_epochs", "most_epochs",
                               "query_seconds", "guard_stops"]].tolist() == pytest.approx(expected)
    assert costs.loc["entropy", "rounds"] == 3 and costs.loc["conf", "guard_stops"] == 2
    assert costs.loc["entropy", "query_seconds"] > 0 and costs.loc["entropy", "train_epochs"] > 0
    assert agg_main(tmp_path / "fig" / "results.csv", "--fig", tmp_path / "again").returncode == 0
    assert (tmp_path / "again" / "run_costs.csv").read_text() == (tmp_path / "fig" / "run_costs.csv").read_text()


def test_a_stopping_reason_this_version_does_not_know_is_counted_too(tmp_path, capsys):
    """A results.csv of a newer version whose train_stop names another reason: its rounds count in the total and
    in a column of their own, not left out of both."""
    table = analysed_table(tmp_path)
    table.loc[1, "train_stop"] = "diverged"
    table.to_csv(tmp_path / "newer.csv", index=False)
    capsys.readouterr()
    assert agg_results.main([str(tmp_path / "newer.csv"), "--fig", str(tmp_path / "g")]) == 0
    assert ("rounds trained to the 0.99 target: 5 of 6 (stopped by a guard: diverged 1; by setting and algorithm in "
            "train_stops.csv)") in capsys.readouterr().out
    stops = pd.read_csv(tmp_path / "g" / "train_stops.csv")
    assert stops[["alg", "target", "unreachable", "cap", "stalled", "diverged"]].to_numpy().tolist() == \
        [["rand", 5, 0, 0, 0, 1]]


def test_the_summary_gives_each_strategy_s_training_cost_per_round(tmp_path):
    """train_seconds_mean and train_epochs_mean: the mean over seeds of each run's mean per round."""
    for seed, cost in ((1, 1.0), (2, 3.0)):
        write_run(tmp_path / "res", "rand", seed, [0.5, 0.6, 0.7], train_s=cost)
    write_run(tmp_path / "res", "conf", 1, [0.5, 0.6], train_s=8.0)
    assert agg_results.main([str(tmp_path / "res"), "--fig", str(tmp_path / "fig")]) == 0
    summary = pd.read_csv(tmp_path / "fig" / "summary_digits_mlp_50.csv", index_col="alg")
    assert summary.loc[["rand", "conf"], "train_seconds_mean"].tolist() == [2.0, 8.0]
    assert summary.loc[["rand", "conf"], "train_epochs_mean"].tolist() == [200, 800]


def analysed_table(tmp_path, name="f"):
    """A first analysis of two rand seeds' runs (under tmp_path/<name>-runs) and its results.csv as a table."""
    for seed in (1, 2):
        write_run(tmp_path / f"{name}-runs", "rand", seed, [0.5, 0.6, 0.7])
    assert agg_results.main([str(tmp_path / f"{name}-runs"), "--fig", str(tmp_path / name)]) == 0
    return pd.read_csv(tmp_path / name / "results.csv")


@pytest.mark.parametrize("damage, message", [
    (lambda t: t.drop(columns="round"), "(no round column)"),
    (lambda t: t.drop(columns="kind"), "(no kind column)"),
    (lambda t: t.assign(source=[""] + list(t.source[1:])), "row 2's source is empty"),
    (lambda t: t.assign(alg=[" "] + list(t.alg[1:])), "row 2's alg is empty"),
    (lambda t: t.assign(data=""), "row 2's data is empty"),
    (lambda t: t.assign(test_acc=100 * t.test_acc), "row 2's test_acc is 50, not a fraction in [0, 1]"),
    (lambda t: t.assign(source=t.source[0]), "has rows of more than one seed: not one run's rows"),
    (lambda t: pd.concat([t, t.head(1).assign(test_acc=0.9)]), "row 8 repeats the n_labeled 50 of source"),
    (lambda t: t.assign(query_seconds=["fast"] + list(t.query_seconds[1:])), "row 2's query_seconds is fast"),
    (lambda t: t.assign(balanced_acc=["x"] + list(t.balanced_acc[1:])), "row 2's balanced_acc is x"),
    (lambda t: t.assign(train_epochs=["many"] + list(t.train_epochs[1:])), "row 2's train_epochs is many"),
])
def test_a_hand_made_results_table_is_one_error(tmp_path, capsys, damage, message):
    (tmp_path / "bad.csv").write_text(damage(analysed_table(tmp_path)).to_csv(index=False))
    capsys.readouterr()
    assert agg_results.main([str(tmp_path / "bad.csv"), "--fig", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_two_tables_holding_one_folder_name_with_other_results_are_separate_runs(tmp_path):
    """Two machines' results/x_seed1 are not spliced into one run: each keeps its rows, named after its table;
    a table holding the very same rows as another still counts once."""
    a = analysed_table(tmp_path, "a")
    b = a.assign(test_acc=a.test_acc - 0.2, lr=0.01)
    b.to_csv(tmp_path / "b.csv", index=False)
    a.to_csv(tmp_path / "a2.csv", index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = agg_read.load_results([tmp_path / "a" / "results.csv", tmp_path / "b.csv", tmp_path / "a2.csv"])
    messages = [str(w.message) for w in caught]
    assert any("2 run folder name(s) appear in several results tables with different results" in m for m in messages)
    assert any("its runs differ in lr" in m for m in messages), messages
    assert table.source.nunique() == 4 and len(table) == 2 * len(a)
    for accs in table.groupby("source").test_acc.apply(list):
        assert accs in ([0.5, 0.6, 0.7], [0.3, 0.4, 0.5]) or np.allclose(accs, [0.3, 0.4, 0.5])


def test_runs_that_record_no_flag_pool_only_with_runs_of_the_default(tmp_path):
    """An older results.csv without flag columns pools with new default runs, but not with runs of --lr 0.01 or
    --imbalance 50 (which it was most likely not made with)."""
    old = analysed_table(tmp_path, "old")
    old = old[[c for c in old.columns if c not in agg_read.PROTOCOL_COLUMNS or c in ("nStart",)]]
    old.to_csv(tmp_path / "old.csv", index=False)
    for seed in (3, 4):
        write_run(tmp_path / "default", "rand", seed, [0.5, 0.6, 0.7], maxEpochs=0)
        write_run(tmp_path / "other", "rand", seed, [0.4, 0.5, 0.6], maxEpochs=0, lr=0.01, imbalance=50.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pooled = agg_read.load_results([tmp_path / "old.csv", tmp_path / "default"])
    assert set(pooled.protocol) == {""} and not [w for w in caught if "differ" in str(w.message)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        apart = agg_read.load_results([tmp_path / "old.csv", tmp_path / "other"])
    assert sorted(set(apart.protocol)) == ["lr=0.01 imbalance=50", "lr=? imbalance=?"]
    assert any("its runs differ in lr, imbalance" in str(w.message) for w in caught)


def test_a_log_s_namespace_flags_keep_it_apart_from_runs_of_other_values(tmp_path):
    """The original's Namespace line records --lr: a log of lr=0.01 is not averaged with runs of 1e-4."""
    write_run(tmp_path, "rand", 1, [0.5, 0.6], maxEpochs=0)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "x.txt").write_text("Namespace(alg='rand', data='', did=0, lr=0.01, model='mlp', nEnd=100, "
                                             "nQuery=50, nStart=50, nEmb=128, seed=2)\n50\ttesting accuracy 0.3\n")
    with pytest.warns(UserWarning, match="its runs differ in lr"):
        table = agg_read.load_results([tmp_path])
    assert sorted(set(table.protocol)) == ["lr=0.0001", "lr=0.01"]


@pytest.mark.parametrize("text, message", [
    ("50\ttesting accuracy 0.7\n100\ttesting accuracy 0.8\n50\ttesting accuracy 0.2\n",
     "its labelled counts go back from 100 to 50 (accuracy line 3): two runs' output in one file?"),
    ("50\ttesting accuracy 51.0\n", "it has testing accuracy 51.0, not a fraction in [0, 1]"),
    ("50\ttesting accuracy nan\n100\ttesting accuracy 0.85\n", "it has testing accuracy nan, not a fraction in"),
])
def test_a_log_of_two_runs_or_of_percentages_is_skipped_with_a_warning(tmp_path, text, message):
    (tmp_path / "digits_mlp_conf_50_seed1.txt").write_text(text)
    with pytest.warns(UserWarning, match=re.escape(message)):
        assert agg_read.load_results([tmp_path]).empty


def test_a_rounds_csv_with_quoted_fields_is_read(tmp_path):
    """A rounds.csv saved again with every field quoted (pandas' QUOTE_ALL, a spreadsheet) was skipped as having
    no n_labeled and test_acc columns."""
    run = write_run(tmp_path, "rand", 1, [0.5, 0.6])
    plain = agg_read.load_results([tmp_path])
    pd.read_csv(run.rounds).to_csv(run.rounds, index=False, quoting=1, lineterminator="\n")
    assert run.rounds.read_text().startswith('"round","n_labeled"')
    quoted = agg_read.load_results([tmp_path])
    assert quoted.test_acc.tolist() == plain.test_acc.tolist() == [0.5, 0.6]


def test_rounds_with_an_accuracy_above_one_are_a_broken_run(tmp_path):
    run = write_run(tmp_path, "rand", 1, [0.5, 0.6])
    run.rounds.write_text(run.rounds.read_text().replace(",0.6,", ",60.0,", 1))
    with pytest.warns(UserWarning, match="line 3 has test_acc 60, not a fraction in"):
        assert agg_read.load_results([tmp_path]).empty


def test_files_of_an_earlier_analysis_left_in_fig_are_named(tmp_path):
    write_run(tmp_path / "one", "rand", 1, [0.5, 0.6])
    write_run(tmp_path / "one", "rand", 2, [0.5, 0.6])
    write_run(tmp_path / "two", "conf", 1, [0.5, 0.6], nQuery=60)
    assert agg_results.main([str(tmp_path / "one"), "--fig", str(tmp_path / "f")]) == 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert agg_results.main([str(tmp_path / "one"), "--fig", str(tmp_path / "f")]) == 0
    assert not [w for w in caught if "earlier analysis" in str(w.message)]  # every file written again
    with pytest.warns(UserWarning, match=r"f holds \d+ file\(s\) of an earlier analysis that this one did not write, "
                                         r"e.g. cdf_digits_mlp_50.pdf"):
        assert agg_results.main([str(tmp_path / "two"), "--fig", str(tmp_path / "f")]) == 0


def test_runs_that_end_before_others_of_their_strategy_are_named(tmp_path):
    for seed in (1, 2, 3):
        write_run(tmp_path, "rand", seed, [0.5, 0.6, 0.7, 0.8])
        write_run(tmp_path, "conf", seed, [0.5, 0.6, 0.7, 0.8][:2 if seed == 3 else 4])
    with pytest.warns(UserWarning, match=r"digits, mlp, batch 50: 1 run\(s\) end before others of their strategy "
                                         r"\(conf seed 3 at 100\)"):
        assert agg_results.main([str(tmp_path), "--fig", str(tmp_path / "f")]) == 0


def test_a_strategy_without_some_seeds_the_others_ran_is_named(tmp_path):
    """Seed 3's initial set is better, so conf's mean at nStart, over seeds 1 and 2, is below rand's over 1-3
    though both start from the same labels: a warning says conf lacks seed 3; with every seed, none does."""
    for seed in (1, 2, 3):
        write_run(tmp_path / "res", "rand", seed, [0.5 + 0.1 * (seed == 3), 0.6, 0.7])
    for seed in (1, 2):
        write_run(tmp_path / "res", "conf", seed, [0.5, 0.6, 0.7])
    with pytest.warns(UserWarning, match=r"digits, mlp, batch 50: some strategies lack seeds that others ran "
                                         r"\(conf: 3\); their curves and means are over other seeds"):
        assert agg_results.main([str(tmp_path / "res"), "--fig", str(tmp_path / "f")]) == 0
    write_run(tmp_path / "res", "conf", 3, [0.6, 0.6, 0.7])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert agg_results.main([str(tmp_path / "res"), "--fig", str(tmp_path / "g")]) == 0
    assert not [w for w in caught if "lack seeds" in str(w.message)]


def test_an_empty_algs_or_versus_is_one_error(tmp_path, capsys):
    write_run(tmp_path, "rand", 1, [0.5, 0.6])
    for flag in ("--algs", "--versus"):
        assert agg_results.main([str(tmp_path), "--fig", str(tmp_path / "f"), flag, " , "]) == 2
        assert f"{flag} names no algorithm" in capsys.readouterr().err


def test_balanced_accuracy_summaries_name_their_metric(tmp_path):
    for seed in (1, 2):
        write_run(tmp_path, "rand", seed, [0.5, 0.6], balanced=[0.4, 0.5])
    assert agg_results.main([str(tmp_path), "--fig", str(tmp_path / "f"), "--metric", "balanced_acc"]) == 0
    summary = pd.read_csv(tmp_path / "f" / "summary_digits_mlp_50.csv", index_col=0)
    assert summary.loc["rand", "balanced_acc_100"] == pytest.approx(0.5) and "acc_100" not in summary


# ---------------------------------------------------------------- the command line as a user runs it

def agg_cli(*args):
    """`python scripts/agg_results.py args…` (cli.run_cli)."""
    return run_cli(*args, script="scripts/agg_results.py")


def agg_main(*args):
    """agg_results.main(args) in this process, its warnings one `agg_results.py: warning:` line each as cli() writes
    them, as a fresh process's filters show them: CompletedProcess of its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), redirect_stdout(out), redirect_stderr(err):
        fresh_process_warnings()
        warnings.showwarning = lambda msg, *a, **k: sys.stderr.write(f"agg_results.py: warning: {msg}\n")
        code = agg_results.main([*map(str, args)])
    return subprocess.CompletedProcess(["agg_results.py", *map(str, args)], code, out.getvalue(), err.getvalue())


def test_a_failed_write_leaves_the_earlier_results_csv_whole(tmp_path):
    """results.csv is read again by later analyses (as a RESULTS argument): a write cut short by a full disk (here
    a file-size limit) left a truncated table in place of the earlier analysis's. It is now whole or not written."""
    two_seeds(tmp_path / "runs")
    assert agg_main(tmp_path / "runs", "--fig", tmp_path / "fig").returncode == 0
    earlier = (tmp_path / "fig" / "results.csv").read_bytes()
    big = tmp_path / "big.csv"  # a table far larger than the earlier one: its runs as 40 times as many seeds
    rows = pd.read_csv(io.BytesIO(earlier))
    pd.concat([rows.assign(seed=rows.seed + 10 * i, source=rows.source + f"-{i}") for i in range(40)]).to_csv(
        big, index=False)
    limit = len(earlier) + 1000
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "agg_results.py"), str(big), "--fig",
                           str(tmp_path / "fig")], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit,) * 2))
    assert proc.returncode == 2 and "results.csv (File too large)" in proc.stderr, proc.stderr
    assert (tmp_path / "fig" / "results.csv").read_bytes() == earlier
    assert not list((tmp_path / "fig").glob(".*.tmp"))


def two_seeds(root):
    """Run folders of rand and badge, seeds 1 and 2, three rounds each (12 rounds, all to the target), and an
    original's log (a CIFAR10 setting) in root/old."""
    for seed in (1, 2):
        write_run(root, "rand", seed, [0.5, 0.6, 0.7])
        write_run(root, "badge", seed, [0.5, 0.65, 0.75])
    (root / "old").mkdir()
    (root / "old" / "cifar_badge.txt").write_text(f"{NAMESPACE}\n100\ttesting accuracy 0.3\n")


@pytest.mark.parametrize("roots", [["res", "res"], ["res", "res/"], ["", "res"], ["res", "res/../res"]],
                         ids=["twice", "trailing-slash", "parent-and-child", "dot-dot"])
def test_a_run_folder_reached_from_two_arguments_counts_once(tmp_path, roots):
    """Every run was counted twice (results.csv 24 rows, '24 of 24' rounds to the target), with no warning, and the
    results.csv written was then refused: only a second spelling (res/../res) was caught, as a duplicate source."""
    two_seeds(tmp_path / "res")
    proc = agg_main(*(f"{tmp_path}/{r}" for r in roots), "--fig", tmp_path / "fig")
    assert proc.returncode == 0, proc.stderr
    assert "warning: ignoring 5 run folder(s) or log(s) found again under another argument" in proc.stderr
    assert "5 runs, 2 settings" in proc.stdout and "rounds trained to the 0.99 target: 12 of 12\n" in proc.stdout
    table = pd.read_csv(tmp_path / "fig" / "results.csv")
    assert len(table) == 13 and not table.duplicated(["source", "n_labeled"]).any()
    assert pd.read_csv(tmp_path / "fig" / "train_stops.csv").target.sum() == 12
    again = agg_main(tmp_path / "fig" / "results.csv", "--fig", tmp_path / "again")
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("flags, fragments", [
    ([], ["the following arguments are required: --fig"]),
    (["--fig", "FIG", "--bogus"], ["unrecognized arguments: --bogus"]),
    (["--fig", "FIG", "--metric", "balanced"], ["invalid choice: 'balanced'", "did you mean balanced_acc?"]),
    (["--fi", "FIG"], ["the following arguments are required: --fig"]),  # was taken for --fig
], ids=["no-fig", "unknown", "metric", "abbreviated"])
def test_a_bad_flag_is_one_line_error(tmp_path, flags, fragments):
    """argparse's own parser printed the usage block (6 lines) before the error, and took --fi for --fig."""
    write_run(tmp_path / "res", "rand", 1, [0.5, 0.6])
    proc = agg_cli(tmp_path / "res", *[str(tmp_path / "f") if f == "FIG" else f for f in flags])
    assert_one_line_error(proc, "agg_results.py: error:", *fragments, "(see --help)")
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("inside", ["", "figures"])
def test_a_fig_folder_that_is_or_lies_in_a_run_folder_is_one_error(tmp_path, inside):
    """It wrote some 25 analysis files into the run folder."""
    run_dir = write_run(tmp_path / "res", "rand", 1, [0.5, 0.6])
    write_run(tmp_path / "res", "rand", 2, [0.5, 0.6])
    before = sorted(p.name for p in run_dir.path.iterdir())
    proc = agg_cli(tmp_path / "res", "--fig", run_dir.path / inside)
    where = "inside the run folder " if inside else "a run folder"
    assert_one_line_error(proc, f"agg_results.py: error: --fig {run_dir.path / inside} is {where}",
                          "name a folder outside the runs")
    assert sorted(p.name for p in run_dir.path.iterdir()) == before


@pytest.mark.parametrize("alg, recorded, named", [("", {}, "alg ('')"), ("conf", {"model": " "}, "model (' ')")],
                         ids=["no-alg", "blank-model"])
def test_a_run_folder_that_names_no_strategy_or_model_is_skipped_as_broken(tmp_path, alg, recorded, named):
    """It was analysed under a blank name (`not every algorithm is in all 2 settings:  (1)`), and the results.csv
    written was then refused."""
    for seed in (1, 2):
        write_run(tmp_path / "res", "rand", seed, [0.5, 0.6])
    broken = write_run(tmp_path / "res", alg, 1, [0.5, 0.6], **recorded)
    proc = agg_main(tmp_path / "res", "--fig", tmp_path / "fig")
    assert proc.returncode == 0, proc.stderr
    assert (f"warning: skipping broken run folder {broken.path}: {broken.config} records no {named}, which run.py "
            f"always names") in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"agg_results.py: skipped 1 broken run folder(s): {broken.path}"
    assert pd.read_csv(tmp_path / "fig" / "results.csv", keep_default_na=False).alg.tolist() == ["rand"] * 4
    again = agg_main(tmp_path / "fig" / "results.csv", "--fig", tmp_path / "again")
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("column", ["infer_seconds", "select_seconds", "trainer_identity"])
def test_a_results_table_without_an_optional_column_is_analysed(tmp_path, column):
    """A results.csv lacking one of these (an older analysis's, or trimmed by hand) stopped the analysis with a
    KeyError or AttributeError traceback; the other optional columns were already read as unknown."""
    trainer = dict(trainer="compiled", trainer_identity={"build": "x"})
    for seed in (1, 2):
        write_run(tmp_path / "res", "rand", seed, [0.5, 0.6, 0.7], **trainer)
        write_run(tmp_path / "res", "badge", seed, [0.5, 0.65, 0.75], **trainer)
    assert agg_main(tmp_path / "res", "--fig", tmp_path / "fig").returncode == 0
    table = pd.read_csv(tmp_path / "fig" / "results.csv", keep_default_na=False)
    table.drop(columns=column).to_csv(tmp_path / "trimmed.csv", index=False)
    proc = agg_main(tmp_path / "trimmed.csv", "--fig", tmp_path / "again")
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(tmp_path / "again" / "results.csv")) == len(table)


@pytest.mark.parametrize("damage, reason", [
    (lambda run: run.rounds.write_text(drop_first_column(run.rounds.read_text())), "has no round column"),
    (lambda run: run.rounds.write_text(run.rounds.read_text().replace("\n1,", "\nabc,")),
     "line 3 holds no number in round, n_labeled or test_acc"),
    (lambda run: recorded(run, lr=[0.0001]), "records lr as list [0.0001], not the one value run.py writes"),
    (lambda run: recorded(run, nQuery=10 ** 30), f"records nQuery {10 ** 30}, beyond run.py's largest (2**64 - 1)"),
], ids=["no-round-column", "round-not-a-number", "a-list-for-a-flag", "a-batch-beyond-uint64"])
def test_a_run_folder_with_a_malformed_round_or_setting_is_skipped_as_broken(tmp_path, damage, reason):
    """Each stopped the analysis with a traceback (KeyError, ValueError, OverflowError), or, for a round that is
    not a number, wrote a results.csv that the next analysis refused."""
    for seed in (1, 2):
        write_run(tmp_path / "res", "rand", seed, [0.5, 0.6])
    broken = write_run(tmp_path / "res", "conf", 1, [0.5, 0.6])
    damage(broken)
    proc = agg_main(tmp_path / "res", "--fig", tmp_path / "fig")
    assert proc.returncode == 0, proc.stderr
    assert reason in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"agg_results.py: skipped 1 broken run folder(s): {broken.path}"
    assert agg_main(tmp_path / "fig" / "results.csv", "--fig", tmp_path / "again").returncode == 0


def test_seeds_beyond_int64_are_written_as_they_are(tmp_path):
    """run.py takes seeds up to 2**64 - 1: results.csv wrote 2**64 - 1 as -1 and 2**63 as -2**63 (a signed cast),
    and the next analysis refused the file it had written."""
    seeds = [1, 2 ** 63, 2 ** 64 - 1]
    for seed in seeds:
        write_run(tmp_path / "res", "rand", seed, [0.5, 0.6])
        write_run(tmp_path / "res", "badge", seed, [0.5, 0.7])
    assert agg_main(tmp_path / "res", "--fig", tmp_path / "fig").returncode == 0
    assert sorted(set(pd.read_csv(tmp_path / "fig" / "results.csv", dtype={"seed": str}).seed.map(int))) == seeds
    proc = agg_main(tmp_path / "fig" / "results.csv", "--fig", tmp_path / "again")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "again" / "results.csv").read_text() == (tmp_path / "fig" / "results.csv").read_text()


def drop_first_column(text):
    """A CSV's text without its first column."""
    return "".join(line.split(",", 1)[1] + "\n" for line in text.splitlines())


def recorded(run_dir, **values):
    """Rewrite the run's config.json with these values."""
    config = json.loads(run_dir.config.read_text()) | values
    run_dir.config.write_text(json.dumps(config))


def many_settings(root):
    """Run folders of rand and badge, 2 seeds, in 6 batch sizes: an analysis of some seconds (its figures)."""
    for n_query in (10, 20, 30, 40, 50, 60):
        for seed in (1, 2):
            write_run(root, "rand", seed, [0.5, 0.6, 0.7], n_query=n_query)
            write_run(root, "badge", seed, [0.5, 0.65, 0.75], n_query=n_query)


@pytest.mark.parametrize("moment, message", [
    ("starting", "agg_results.py: interrupted while starting up; nothing was written"),
    ("analysing", "agg_results.py: interrupted; --fig {fig} may hold part of this analysis only: run it again"),
], ids=["starting", "analysing"])
def test_ctrl_c_is_one_line_and_exit_130(tmp_path, moment, message):
    """Ctrl-C while it imports its libraries (pandas loaded, torch not yet) or while it writes the figures
    (results.csv written, penalty_overall not yet) was a KeyboardInterrupt traceback, and, started in the
    background (SIGINT ignored), did not stop it."""
    many_settings(tmp_path / "res")
    fig = tmp_path / "fig"
    moments = {"starting": lambda pid: loaded(pid, "pandas") and not loaded(pid, "libtorch"),
               "analysing": lambda pid: (fig / "results.csv").exists() and not (fig / "penalty_overall.csv").exists()}

    def start_afresh():  # a retry (caught_mid_run) must not find the files of the attempt it replaced
        shutil.rmtree(fig, ignore_errors=True)
        return start_cli(tmp_path / "res", "--fig", fig, script="scripts/agg_results.py")

    code, err = ctrl_c_at(start_afresh, moments[moment])
    assert code == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == message.format(fig=fig)


def test_folders_and_logs_this_user_cannot_read_are_named_not_a_traceback(tmp_path, monkeypatch):
    """A shared results folder with another user's files: a log of mode 600 stopped the analysis with a
    PermissionError traceback, and a run folder of mode 700 was left out without a word (rglob passes over what it
    cannot list). Root reads everything, so the denial is what os.scandir and Path.read_bytes raise on them."""
    two_seeds(tmp_path / "res")
    closed = next((tmp_path / "res").glob("*badge*seed2"))
    log = tmp_path / "res" / "old" / "cifar_badge.txt"
    scandir, stat, lstat, read_bytes = os.scandir, os.stat, os.lstat, Path.read_bytes

    def deny(real, denied):
        """`real`, raising EACCES for the paths `denied`(Path) names (never for a file descriptor)."""
        def call(path=".", *args, **kwargs):
            if not isinstance(path, int) and denied(Path(path)):
                raise PermissionError(13, "Permission denied", str(path))
            return real(path, *args, **kwargs)
        return call

    monkeypatch.setattr(os, "scandir", deny(scandir, lambda p: p == closed))  # the folder is listed by no one
    monkeypatch.setattr(os, "stat", deny(stat, lambda p: closed in p.parents))  # nor what lies in it
    monkeypatch.setattr(os, "lstat", deny(lstat, lambda p: closed in p.parents))
    monkeypatch.setattr(Path, "read_bytes", deny(read_bytes, lambda p: p == log))
    proc = agg_main(tmp_path / "res", "--fig", tmp_path / "fig")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert f"warning: skipping 1 folder that cannot be read, e.g. {closed} (Permission denied)" in proc.stderr
    assert f"warning: skipping {log}: it cannot be read (Permission denied)" in proc.stderr
    assert "3 runs, 1 setting" in proc.stdout
