"""bench/strategy_cost.py and bench/train_speed.py as a user runs them: strategy_cost's table keeps runs of
different settings apart (read from real run.py output), and bad --results folders, flags and --compare checkouts
are one-line errors before any work."""
import json
import shutil

import pandas as pd
import pytest

from cli import NO_CUDA, ROOT, SHARED_DATA, assert_one_line_error, run_cli



@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """A finished run folder of run.py (entropy on digits, two query rounds of 100)."""
    out = tmp_path_factory.mktemp("runs")
    proc = run_cli("--alg", "entropy", "--nEnd", "300", "--out", out)
    assert proc.returncode == 0, proc.stderr
    (folder,) = out.iterdir()
    return folder


def table_rows(stdout):
    """The body of the Markdown table strategy_cost.py prints, as lists of cells."""
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def copy_run(run, folder, query_seconds, **config):
    """A copy of the run folder `run` as `folder`, another run (its own run_id, the folder's name) with `config`
    changed in its config.json and its query rounds' inference, selection and query seconds set to 0.1 q, 0.9 q and
    q for each q of query_seconds."""
    shutil.copytree(run, folder)
    settings = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**settings, "run_id": folder.name, **config}))
    rounds = pd.read_csv(folder / "rounds.csv")
    q = pd.Series([0.0, *query_seconds], index=rounds.index)
    rounds = rounds.assign(infer_seconds=0.1 * q, select_seconds=0.9 * q, query_seconds=q)
    rounds.to_csv(folder / "rounds.csv", index=False)


def test_runs_of_different_settings_are_separate_rows(tmp_path, real_run):
    """The table pooled every run of a data set and strategy into one median, whatever its model or batch size."""
    results = tmp_path / "results"
    shutil.copytree(real_run, results / real_run.name)
    copy_run(real_run, results / "seed2", [1.0, 3.0])
    copy_run(real_run, results / "seed3", [5.0, 7.0])
    copy_run(real_run, results / "lin", [10.0, 20.0], model="lin")
    copy_run(real_run, results / "batch50", [40.0, 60.0], nQuery=50)
    copy_run(real_run, results / "unfinished", [99.0, 99.0], model="cnn")
    (results / "unfinished" / "summary.json").unlink()
    proc = run_cli("--results", results, script="bench/strategy_cost.py")
    assert proc.returncode == 0, proc.stderr
    assert "| data | model | nQuery | device | protocol | strategy | runs | inference s | selection s | query s |" \
        in proc.stdout
    real = pd.read_csv(real_run / "rounds.csv").query("round > 0")

    def median(column, copies):
        """The median of the real run's query rounds' `column` and the copies' values of it, as printed."""
        return f"{pd.concat([real[column], pd.Series(copies)]).median():.2f}"

    assert table_rows(proc.stdout) == [
        ["digits", "lin", "100", "cpu", "–", "entropy", "1", "1.50", "13.50", "15.00"],
        ["digits", "mlp", "50", "cpu", "–", "entropy", "1", "5.00", "45.00", "50.00"],
        ["digits", "mlp", "100", "cpu", "–", "entropy", "3", median("infer_seconds", [0.1, 0.3, 0.5, 0.7]),
         median("select_seconds", [0.9, 2.7, 4.5, 6.3]), median("query_seconds", [1.0, 3.0, 5.0, 7.0])],
    ]


def test_runs_of_other_flags_are_separate_rows_and_a_copied_run_counts_once(tmp_path):
    """Runs of other --trunc, --lr and --imbalance, and one resumed with other --threads (config.json's segments),
    were pooled into one row of their data, model, nQuery and device; a copied run folder (the same run_id) counted
    as a second run."""
    out = tmp_path / "results"
    base = ["--alg", "rand", "--nStart", "20", "--nQuery", "20", "--out", out]
    for seed, flags in [(1, ["--trunc", "200"]), (2, []), (3, ["--lr", "0.01", "--imbalance", "5"]), (4, []),
                        (4, ["--nEnd", "100", "--threads", "2", "--resume"])]:
        proc = run_cli(*base, "--nEnd", "60", "--seed", seed, *flags)
        assert proc.returncode == 0, proc.stderr
    shutil.copytree(out / "digits_mlp_rand_20_seed2", out / "copy_of_seed2")
    proc = run_cli("--results", out, script="bench/strategy_cost.py")
    assert proc.returncode == 0, proc.stderr
    assert {tuple(row[4:7]) for row in table_rows(proc.stdout)} == {
        ("lr=0.0001 trunc=200 threads=1 imbalance=none", "rand", "1"),
        ("lr=0.0001 trunc=-1 threads=1 imbalance=none", "rand", "1"),
        ("lr=0.01 trunc=-1 threads=1 imbalance=5", "rand", "1"),
        ("lr=0.0001 trunc=-1 threads=1+2 imbalance=none", "rand", "1")}
    copied = [line for line in proc.stderr.splitlines() if "the same run_id" in line]
    assert len(copied) == 1 and "digits_mlp_rand_20_seed2" in copied[0] and "copy_of_seed2" in copied[0]
    assert "its runs differ in lr, trunc, threads, imbalance" in proc.stderr


GOOD_CONFIG = json.dumps({"alg": "rand", "data_name": "digits", "model": "mlp", "nQuery": 10, "device": "cpu"})
ROUNDS = "round,infer_seconds,select_seconds,query_seconds\n"


def write_run(folder, config=GOOD_CONFIG, rounds=ROUNDS + "0,0,0,0\n1,1,1,2\n"):
    """A finished run folder (summary.json) with the given config.json and rounds.csv texts."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(config)
    (folder / "rounds.csv").write_text(rounds)
    (folder / "summary.json").write_text("{}")


@pytest.mark.parametrize("make, fragments", [
    (lambda results: None, ["does not exist"]),  # FileNotFoundError traceback
    (lambda results: results.write_text("x"), ["is a file"]),  # NotADirectoryError traceback
    (lambda results: (results / "run").mkdir(parents=True), ["holds no finished run"]),  # pd.concat's ValueError
    (lambda results: write_run(results / "run", config="{not json"), ["config.json could not be read",
                                                                       "JSONDecodeError"]),
    (lambda results: write_run(results / "run", config='{"alg": "rand"}'), ["config.json lacks data_name, model, "
                                                                             "nQuery, device"]),  # KeyError
    (lambda results: write_run(results / "run", config=GOOD_CONFIG[:-1] + ', "lr": [0.1]}'),
     ["config.json: lr is not", "as run.py writes it; is", "a run folder of run.py?"]),  # TypeError: unhashable list
    (lambda results: write_run(results / "run", rounds="round,seconds\n1,2\n"),
     ["rounds.csv could not be read", "no column infer_seconds, select_seconds, query_seconds"]),  # KeyError
    (lambda results: write_run(results / "run", rounds=ROUNDS + "1,x,1,1\n"), ["rounds.csv could not be read"]),
    (lambda results: write_run(results / "run", rounds=""), ["rounds.csv could not be read", "EmptyDataError"]),
    (lambda results: write_run(results / "run", rounds=ROUNDS + "0,0,0,0\n"), ["no query round"]),  # an empty table
])
def test_a_results_folder_without_readable_finished_runs_is_one_line_error(make, fragments, tmp_path):
    """Each was a traceback (or, for runs without a query round, an empty table and exit 0)."""
    make(tmp_path / "results")
    proc = run_cli("--results", tmp_path / "results", script="bench/strategy_cost.py")
    assert proc.returncode == 2
    assert_one_line_error(proc, "strategy_cost.py: error: ", *fragments)


def test_the_good_run_the_error_cases_damage_gives_its_table(tmp_path):
    """The run each case above starts from (write_run's defaults) is read: one row, rand on digits."""
    write_run(tmp_path / "good" / "run")
    proc = run_cli("--results", tmp_path / "good", script="bench/strategy_cost.py")
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| digits")]
    assert len(rows) == 1 and "| rand | 1 |" in rows[0], proc.stdout


def test_an_unknown_strategy_is_one_line_error_before_any_run():
    """It ran the strategies before the unknown one first: here rand, whose run.py error (no such --data) came
    instead."""
    proc = run_cli("--algs", "rand,bdage", "--", "--data", "nowhere.csv", script="bench/strategy_cost.py")
    assert proc.returncode == 2
    assert_one_line_error(proc, "strategy_cost.py: error: argument --algs: unknown strategy 'bdage'; "
                                "did you mean badge?")


QUICK = ["--configs", "digits lin 200"]  # seconds of training where the old code ran on past a bad flag


@pytest.mark.parametrize("args, fragments", [
    (["--compare", "bench"], ["bench is not a checkout of this project"]),  # timed this checkout against itself
    (["--compare", "nowhere"], ["nowhere is not a checkout of this project"]),  # the same
    (["--compare", "."], ["is this checkout; give another"]),  # the same, its rows pooled in one list
    (["--repeats", "0"], ["argument --repeats: must be a positive int, got 0"]),  # min() of no loads: a traceback
    (["--repeats", "-1"], ["argument --repeats: must be a positive int, got -1"]),  # the same
    (["--configs", "digits"], ["unknown configuration 'digits'", "digits lin 200"]),  # exit 1, no valid names
])
def test_train_speed_bad_flag_is_one_line_error_before_any_training(args, fragments):
    """The flag is refused at parse time: no table, no worker (the old code trained, then timed or crashed)."""
    proc = run_cli(*QUICK, *args, script="bench/train_speed.py", timeout=300)
    assert proc.returncode == 2
    assert_one_line_error(proc, "train_speed.py: error: ", *fragments)
    assert proc.stdout == ""


@NO_CUDA
def test_train_speed_cuda_without_a_gpu_is_one_line_error_before_any_worker():
    """The worker failed on torch's "no NVIDIA driver" and the benchmark exited 1 with that line."""
    proc = run_cli(*QUICK, "--device", "cuda", script="bench/train_speed.py", timeout=300)
    assert proc.returncode == 2
    assert_one_line_error(proc, "train_speed.py: error: --device cuda asked for, but no CUDA device is available; "
                                "use --device cpu")


def test_train_speed_worker_takes_its_modules_from_the_measured_checkout_only(tmp_path):
    """A checkout without dataset.py fails in its worker, whose last line the benchmark shows; the old worker had
    this checkout on its module path and imported this checkout's dataset for it."""
    for name in ("run.py", "learner.py"):
        (tmp_path / name).write_text("")
    proc = run_cli(*QUICK, "--compare", tmp_path, script="bench/train_speed.py", timeout=300)
    assert_one_line_error(proc, f"train_speed.py: error: digits lin 200 in {tmp_path.resolve()}: ",
                          "No module named 'dataset'")


def test_train_speed_worker_times_one_configuration():
    """The hidden --worker that the benchmark runs for each configuration and checkout (digits reads no data
    folder: its PATH is not used)."""
    proc = run_cli("--worker", ROOT, "digits lin 200", "cpu", "auto", "unused", script="bench/train_speed.py",
                   timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["steps"] == result["epochs"] * 2 and result["seconds"] > 0 and result["trainer"] == "torch"


def test_train_speed_workers_read_the_data_of_path(tmp_path):
    """The workers read letter from --path (they read ../shared/data, whatever the caller wanted)."""
    (tmp_path / "openml").mkdir()
    shutil.copy(SHARED_DATA / "openml" / "6.csv", tmp_path / "openml")
    proc = run_cli("--configs", "letter mlp 100", "--path", tmp_path, script="bench/train_speed.py", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert table_rows(proc.stdout)[0][0] == "letter mlp 100"
