"""The README"s code blocks run as written: the pandas + matplotlib learning curve over real runs, the letter
sweep"s TOML grid, and the example of a new strategy."""
import re

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

import dataset
import run
import strategy_params
from learner import Learner
from query_strategies.entropy_sampling import EntropySampling
from query_strategies.selection import picks
from cli import ROOT
from scripts import agg_algs, sweep

README = (ROOT / "README.md").read_text()


def code_block(language, containing):
    """The README"s one ```language block that contains `containing`."""
    blocks = [b for b in re.findall(rf"```{language}\n(.*?)```", README, re.S) if containing in b]
    assert len(blocks) == 1, f"{len(blocks)} {language} blocks contain {containing!r}"
    return blocks[0]


@pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")
def test_learning_curve_example(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    tiny = ["--nStart", "100", "--nQuery", "100", "--nEnd", "200", "--maxEpochs", "20"]
    for alg, seed in [("rand", 1), ("rand", 2), ("entropy", 1)]:
        assert run.main(["--alg", alg, "--seed", str(seed), *tiny]) == 0
    matplotlib.use("Agg")
    scope = {}
    exec(code_block("python", "learning_curve.png"), scope)
    assert (tmp_path / "learning_curve.png").stat().st_size > 10_000
    drawn = {(ln.get_color(), ln.get_marker()) for ln in scope["ax"].lines}
    assert {(agg_algs.colour("rand"), ""), (agg_algs.colour("entropy"), agg_algs.style("entropy")["marker"])} <= drawn
    rand = [pd.read_csv(tmp_path / "results" / f"digits_mlp_rand_100_seed{s}" / "rounds.csv") for s in (1, 2)]
    curve = scope["curve"].set_index(["alg", "n_labeled"])
    assert sorted(curve.index) == [("entropy", 100), ("entropy", 200), ("rand", 100), ("rand", 200)]
    for n, row in ((100, 0), (200, 1)):
        assert curve.loc[("rand", n), "mean"] == pytest.approx((rand[0].test_acc[row] + rand[1].test_acc[row]) / 2)


def test_letter_grid_example_plans_the_letter_sweep(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "grid.toml").write_text(code_block("toml", "results/letter"))
    assert sweep.main(["--grid", "grid.toml", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 18 * 5 and all(" --did 6 " in ln and " --nEnd 700 " in ln for ln in lines)


GRIDS = {  # grid: (runs, flags every run has)
    "letter": (37 * 5, ("--did 6", "--nQuery 100", "--nEnd 700")),
    "mnist": (32 * 5, ("--nQuery 100", "--data MNIST", "--nEnd 1000")),
    "letter_mlp_1000": (13 * 5, ("--did 6", "--nQuery 1000", "--nEnd 5100")),
    "mnist_mlp_1000": (13 * 5, ("--model mlp", "--nQuery 1000", "--data MNIST", "--nEnd 10100")),
    "mnist_mlp_10000": (11 * 5, ("--model mlp", "--nQuery 10000", "--data MNIST", "--nEnd 50100")),
    "mnist_cnn_100": (13 * 5, ("--model cnn", "--nQuery 100", "--data MNIST", "--nEnd 1100")),
    "mnist_cnn_1000": (13 * 5, ("--model cnn", "--nQuery 1000", "--data MNIST", "--nEnd 10100")),
    "fashion_mlp_100": (13 * 5, ("--model mlp", "--nQuery 100", "--data FashionMNIST", "--nEnd 1100")),
    "fashion_mlp_1000": (13 * 5, ("--model mlp", "--nQuery 1000", "--data FashionMNIST", "--nEnd 10100")),
    "fashion_mlp_10000": (11 * 5, ("--model mlp", "--nQuery 10000", "--data FashionMNIST", "--nEnd 50100")),
    "fashion_cnn_100": (13 * 5, ("--model cnn", "--nQuery 100", "--data FashionMNIST", "--nEnd 1100")),
    "mnist_mlp_100_imb50": (13 * 5, ("--model mlp", "--nQuery 100", "--data MNIST", "--nEnd 1100", "--imbalance 50")),
}


def test_every_shipped_grid_is_tested():
    assert sorted(p.stem for p in (ROOT / "scripts" / "grids").glob("*.toml")) == sorted(GRIDS)


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_the_shipped_sweep_grids_plan_their_runs(grid, capsys):
    runs, flags = GRIDS[grid]
    assert sweep.main(["--grid", str(ROOT / "scripts" / "grids" / f"{grid}.toml"), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == runs, lines
    assert all(f" {flag} " in ln and " --maxEpochs" not in ln for ln in lines for flag in flags), lines[0]


@pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")
def test_new_strategy_example_picks_like_entropy_and_checks_its_picks(monkeypatch):
    declarations = {}
    exec(code_block("python", "DECLARED = {").replace("    ...\n", ""), vars(strategy_params) | {}, declarations)
    monkeypatch.setitem(strategy_params.DECLARED, "scaled_entropy", declarations["DECLARED"]["scaled_entropy"])
    scope = {}
    exec(code_block("python", "class ScaledEntropy(Strategy)"), scope)
    ds = dataset.load("digits", 0, "data", np.random.default_rng(0))
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), max_epochs=20)
    labeled = np.zeros(len(ds.y_train), dtype=bool)
    labeled[:60] = True
    learner.train(np.flatnonzero(labeled))
    mine = scope["ScaledEntropy"](learner.predictor, labeled, torch.Generator(), scale=2.0)
    assert mine.scale == 2.0
    theirs = EntropySampling(learner.predictor, labeled, torch.Generator()).query(10)
    assert mine.query(10).index.tolist() == theirs.index.tolist()
    for wrong in (np.arange(10), np.arange(-10, 0), np.full(10, 100), np.arange(100, 109)):
        mine.select = lambda n: picks(wrong)  # labelled, negative, repeated, too few: Strategy.query refuses them all
        with pytest.raises(RuntimeError, match="not 10 distinct unlabelled points"):
            mine.query(10)
    with pytest.raises(TypeError, match="no parameter gamma"):
        scope["ScaledEntropy"](learner.predictor, labeled, torch.Generator(), gamma=1.0)


def test_readme_recipes_map_a_pick_row_to_its_features(tmp_path):
    """"Your own data" says which row of the file a pool point's `row` (queries.csv) is: pd.read_csv(file) for a CSV
    with a header row was also given for a header-less one, whose first data row it takes for a header (off by one);
    each recipe, taken from the README, must give the loaded pool point's features, for CSV and .npz files, split at
    random or with their own test set."""
    recipes = set(re.findall(r"`(pd\.read_csv\(file(?:, header=None)?\)\.iloc\[row\])`", README))
    headed, plain = "pd.read_csv(file).iloc[row]", "pd.read_csv(file, header=None).iloc[row]"
    assert recipes == {headed, plain}
    assert "`X[row]` of an .npz and `X_train[row]` of one with its own test set" in README
    X = np.random.default_rng(0).normal(size=(60, 3)).round(3)
    y = np.array(["a", "b", "c"])[np.arange(60) % 3]
    table = pd.DataFrame(X, columns=["f1", "f2", "f3"]).assign(label=y)
    table.to_csv(tmp_path / "headed.csv", index=False)
    table.to_csv(tmp_path / "plain.csv", index=False, header=False)
    np.savez(tmp_path / "whole.npz", X=X, y=y)
    np.savez(tmp_path / "split.npz", X_train=X[:50], y_train=y[:50], X_test=X[50:], y_test=y[50:])
    table.iloc[50:].to_csv(tmp_path / "test.csv", index=False)
    cases = [("headed.csv", None, headed), ("plain.csv", None, plain), ("headed.csv", "test.csv", headed),
             ("whole.npz", None, "np.load(file)['X'][row]"), ("split.npz", None, "np.load(file)['X_train'][row]")]
    for name, test, recipe in cases:
        file = str(tmp_path / name)
        ds = dataset.load(file, 0, "", np.random.default_rng(1), test=test and str(tmp_path / test))
        for index in (0, 7, len(ds.rows) - 1):
            row = int(ds.rows[index])
            features = eval(recipe, {"pd": pd, "np": np, "file": file, "row": row})
            got = np.asarray(features, dtype=object)[:3].astype(np.float32)
            np.testing.assert_array_equal(got, ds.X_train[index].numpy(), err_msg=f"{name}: {recipe}")


def states(number, seconds):
    """Whether `number` (a string) is `seconds` written with its decimals; None (no sweep ran it) never is."""
    return seconds is not None and f"{seconds:.{len(number.partition('.')[2])}f}" == number


def cell_states(cell, seconds):
    """Whether a sweep column's cell of the cost table states `seconds`, the median seconds of the row's strategies
    (None where no sweep ran one), in the row's order: – for none ran, low–high for min–max of those that ran, one
    number for each of them, or a list with – for those that did not run."""
    ran = [s for s in seconds if s is not None]
    if cell == "–":
        return not ran
    if ", " in cell:
        stated = cell.split(", ")
        return len(stated) == len(seconds) and all(
            states(n, s) or (n == "–" and s is None) for n, s in zip(stated, seconds))
    if "–" in cell:
        low, high = cell.split("–")
        return states(low, min(ran, default=None)) and states(high, max(ran, default=None))
    return bool(ran) and all(states(cell, s) for s in ran)


def test_query_cost_table_states_the_committed_sweeps_medians(monkeypatch):
    monkeypatch.chdir(ROOT)
    scope = {}
    exec(code_block("python", 'queries.groupby(["data", "alg"])'), scope)
    section = README.split("### What a query costs\n")[1].split("\n## ")[0]
    rows = [line.strip(" |").split(" | ") for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) == 17
    for names, _, letter, mnist in rows:
        algs = re.findall(r"`(\w+)`", names)
        for data, cell in (("openml6", letter), ("MNIST", mnist)):
            seconds = [scope["median"].get((data, alg)) for alg in algs]
            assert cell_states(cell, seconds), (names, data, cell, seconds)


def test_fashion_cnn_table_states_the_committed_runs_costs(monkeypatch):
    """The FashionMNIST cnn table states what its code block computes from the committed runs (run_costs): a row
    per strategy in its order, hours as low–high (one number where they are equal)."""
    monkeypatch.chdir(ROOT)
    scope = {}
    exec(code_block("python", "run_costs(runs)"), scope)
    cnn = scope["cnn"].sort_values("acc_1100", ascending=False).round(scope["digits"])
    section = README.split("#### FashionMNIST cnn at batch 100 (running)\n")[1].split("\n#")[0]
    rows = [line.strip(" |").split(" | ") for line in section.splitlines() if line.startswith("| `")]
    assert [re.fullmatch(r"`(\w+)`", row[0])[1] for row in rows] == list(cnn.index)
    for row, (alg, r) in zip(rows, cnn.iterrows()):
        hours = [float(h) for h in row[3].split("–")]
        stated = [float(cell.replace(",", "")) for cell in (row[1], row[2], *row[4:])]
        assert hours == ([r.train_h_min] if r.train_h_min == r.train_h_max else [r.train_h_min, r.train_h_max]), alg
        assert stated == [r.seeds, r.acc_1100, r.epochs, r.most_epochs, r.query_s, r.patience_stops], alg
    assert f"as they come: {int(cnn.seeds.sum())} of 65 so far" in section
