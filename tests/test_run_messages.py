"""What run.py tells its user: --help without empty defaults, names in any case, the final line (where the
results are, why the run stopped), warnings on their own line, what an interrupt leaves, the cost warning
before an expensive BAIT run, one-line download errors."""
import importlib
import re
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest

import dataset
import run
from cli import SHARED_DATA, assert_one_line_error, run_cli
from errors import GuardWarning, exit_with, interrupted_line, put_back, stop_on_terminate
from kernels import bait as bait_kernel
from learner import Learner
from query_strategies import STRATEGIES
from query_strategies.bait_sampling import bait_query_seconds, bait_step_path

TINY = ["--nStart", "50", "--nQuery", "50", "--nEnd", "150"]
# (pool, classes, k, greedy step, median CPU seconds) of bench/selection_speed.py --alg bait --d 128 (BENCHMARKS.md,
# "BAIT's cost warning"): the points bait_sampling.STEP_RATES are fitted to
BAIT_MEASURED = [(1617, 10, 100, "compiled", 8.5), (60000, 10, 100, "compiled", 36.1),
                 (60000, 10, 1000, "compiled", 220.9), (18000, 26, 100, "compiled", 177.6),
                 (1617, 10, 100, "PyTorch", 11.1), (60000, 10, 100, "PyTorch", 85.4),
                 (18000, 26, 100, "PyTorch", 379.7)]


def test_help_shows_only_meaningful_defaults():
    text = " ".join(run.build_parser().format_help().split())
    assert "(default: None)" not in text and "(default: )" not in text and "(default: False)" not in text
    assert "(default: --dummy)" in text and "(default: 50000)" in text and "(default: 0)" in text


@pytest.mark.parametrize("argv, alg, data, model", [
    (["--alg", "BADGE", "--data", "mnist"], "badge", "MNIST", "mlp"),
    (["--alg", "Entropy", "--data", "fashionmnist", "--model", "LIN"], "entropy", "FashionMNIST", "lin"),
    (["--data", "DIGITS"], "rand", "digits", "mlp"),
    (["--data", "cifar10"], "rand", "CIFAR10", "mlp"),
    (["--data", "My.CSV"], "rand", "My.CSV", "mlp"),
])
def test_names_are_accepted_in_any_case(argv, alg, data, model):
    a = run.build_parser().parse_args(argv)
    assert (a.alg, a.data, a.model) == (alg, data, model)


def test_a_misspelt_name_is_still_refused():
    assert_one_line_error(run_cli("--alg", "Badgee"), "invalid choice", "badgee", "; did you mean badge or bald?")


@pytest.mark.parametrize("argv, message", [
    (["--alg", "entropy_dropot"], "invalid choice: 'entropy_dropot' (choose from"),
    (["--alg", "entropy_dropot"], "; did you mean entropy_dropout or entropy or"),
    (["--model", "resnt"], "; did you mean resnet?"),
    (["--alg", "zzzz"], "'zzzz' (choose from"),
])
def test_a_mistyped_choice_names_the_closest_ones(argv, message, capsys):
    with pytest.raises(SystemExit):
        run.build_parser().parse_args(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert argv[1] != "zzzz" or "did you mean" not in err[0]


def test_final_line_and_warnings_on_their_own_lines(tmp_path):
    """An upper-case run on digits that hits the epoch cap (one epoch): each warning starts its own line (after the
    progress bar's carriage return), and the last line says where the results are and why the run stopped."""
    proc = run_cli("--alg", "ENTROPY", "--data", "Digits", *TINY, "--maxEpochs", "1", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "digits_mlp_entropy_50_seed1"
    assert (folder / "summary.json").is_file()
    pieces = re.split(r"[\r\n]", proc.stderr)
    warned = [p for p in pieces if "warning:" in p]
    assert warned and all(p.startswith("warning: ") for p in warned), warned
    assert proc.stderr.splitlines()[-1] == f"run.py: done: 2 query rounds, 150 labelled, budget (--nEnd) reached; " \
                                           f"results in {folder}"


def interrupt_at_training(monkeypatch, call):
    """Learner.train raises KeyboardInterrupt (as Ctrl-C would) on its `call`-th call, trains before it."""
    train, calls = Learner.train, []

    def train_until_interrupted(self, idx, snapshot=None, report=None):
        calls.append(len(idx))
        if len(calls) == call:
            raise KeyboardInterrupt
        return train(self, idx, snapshot, report)

    monkeypatch.setattr(Learner, "train", train_until_interrupted)


@pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")
@pytest.mark.parametrize("call, message", [
    (1, "run.py: interrupted; no round had finished, so nothing is saved"),
    (3, "run.py: interrupted; 2 finished rounds saved in {folder}; continue with --resume"),
])
def test_interrupt_says_what_is_saved(tmp_path, monkeypatch, capsys, call, message):
    interrupt_at_training(monkeypatch, call)
    code = run.main(["--alg", "marg", *TINY, "--maxEpochs", "20", "--out", str(tmp_path)])
    err = capsys.readouterr().err.splitlines()
    assert code == 130
    assert err[-1] == message.format(folder=tmp_path / "digits_mlp_marg_50_seed1")


@pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")
def test_interrupt_in_round_0_names_its_training_snapshot(tmp_path, monkeypatch, capsys):
    """Ctrl-C in round 0 after a training snapshot was saved: the snapshot is named and --resume offered (it said
    nothing was saved, which invited --force)."""
    folder = tmp_path / "digits_mlp_marg_50_seed1"

    def snapshot_then_interrupted(self, idx, snapshot=None, report=None):
        (folder / "training.pt").write_bytes(b"a snapshot")
        raise KeyboardInterrupt

    monkeypatch.setattr(Learner, "train", snapshot_then_interrupted)
    assert run.main(["--alg", "marg", *TINY, "--out", str(tmp_path)]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"run.py: interrupted; no round had finished; round 0's training so far is saved in {folder / 'training.pt'}: "
        f"continue with --resume")


def test_a_budget_between_two_queries_says_where_it_stopped(tmp_path):
    proc = run_cli("--nStart", "20", "--nQuery", "20", "--nEnd", "70", "--maxEpochs", "20", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[-1] == (f"run.py: done: 2 query rounds, 60 labelled, budget (--nEnd 70) reached: "
                                            f"one more query of 20 would pass it; results in "
                                            f"{tmp_path / 'digits_mlp_rand_20_seed1'}")


def test_ctrl_c_after_main_has_returned_is_exit_130_without_a_traceback(capsys):
    """Ctrl-C between main's return and exit_quietly ignoring Ctrl-C (cli's `exit_with(lambda:
    exit_quietly(main()))`): it escaped as a KeyboardInterrupt traceback."""
    def main_returned_then_ctrl_c():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as ended:
        exit_with(main_returned_then_ctrl_c)
    assert ended.value.code == 130 and capsys.readouterr().err == ""


@pytest.mark.parametrize("module, step, argv", [
    ("run", "build_parser", []), ("scripts.agg_results", "parse_args", []), ("scripts.embed", "parse_args", []),
    ("scripts.sweep", "parse_args", []), ("scripts.sweep", "plan", ["--algs", "rand", "--seeds", "1"])])
def test_ctrl_c_while_a_command_reads_its_flags_or_plans_is_one_line(monkeypatch, capsys, module, step, argv):
    """Ctrl-C once the command's own handler is in place (`cli`), while main reads the flags (or the sweep plans its
    runs): it escaped main as a KeyboardInterrupt traceback, exit -2 (seen once in forty starts of run.py)."""
    command = importlib.import_module(module)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(command, step, interrupted)
    assert command.main(argv) == 130
    script = Path(command.__file__).name
    assert capsys.readouterr().err == interrupted_line(script) + "\n"


@pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")
@pytest.mark.parametrize("sig,code,stopped", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated"),
                                               (signal.SIGHUP, 129, "hung up")])
def test_ctrl_c_while_a_round_is_reported_lets_the_report_finish(tmp_path, monkeypatch, capsys, sig, code, stopped):
    """A real SIGINT (or SIGTERM or SIGHUP, with run.cli's handlers) arriving inside the first tqdm.write of round
    0 is held until the round's lines and bar are written (tqdm's write lock is never left half-taken), then stops
    the run with round 0 saved."""
    write, calls = run.tqdm.write, []

    def write_interrupted(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            signal.raise_signal(sig)
        write(*args, **kwargs)

    monkeypatch.setattr(run.tqdm, "write", write_interrupted)
    hangup = signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as in a terminal: pytest may run under `nohup`
    previous = stop_on_terminate()
    try:
        assert run.main(["--alg", "marg", *TINY, "--maxEpochs", "20", "--out", str(tmp_path)]) == code
    finally:
        put_back({**previous, signal.SIGHUP: hangup})
    out, err = capsys.readouterr()
    assert len(calls) == 2
    assert out.splitlines()[0].startswith("50\ttesting accuracy ") and "round 0: 50 labelled" in err
    assert err.splitlines()[-1] == (f"run.py: {stopped}; 1 finished round saved in "
                                    f"{tmp_path / 'digits_mlp_marg_50_seed1'}; continue with --resume")


@pytest.mark.filterwarnings("ignore:training stopped")
def test_a_warning_made_an_error_mid_run_says_the_finished_rounds_are_kept(tmp_path, monkeypatch):
    """A warning in round 1's query under -W error stops the run as an OSError does: its note (which exit_with
    prints on the error's line) says to continue with --resume, and round 0 is saved."""
    from query_strategies.random_sampling import RandomSampling

    def warned(self, n):
        warnings.warn("a warning of round 1")

    monkeypatch.setattr(RandomSampling, "select", warned)
    with warnings.catch_warnings(), pytest.raises(UserWarning, match="a warning of round 1") as raised:
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", GuardWarning)
        run.main([*TINY, "--maxEpochs", "5", "--out", str(tmp_path)])
    assert raised.value.__notes__ == ["continue with --resume (every finished round is kept)"]
    assert len((tmp_path / "digits_mlp_rand_50_seed1" / "rounds.csv").read_text().splitlines()) == 2  # round 0


@pytest.mark.filterwarnings("ignore:training stopped")
def test_aug_off_cifar10_warns_and_trains_without_augmentation(tmp_path):
    with pytest.warns(UserWarning, match=r"--aug 1 is defined for CIFAR10 only .* digits is trained without "
                      r"augmentation \(it is still recorded, so the run pools only with runs of --aug 1\)"):
        assert run.main(["--aug", "1", *TINY, "--rounds", "1", "--maxEpochs", "5", "--out", str(tmp_path)]) == 0


def test_interrupt_while_loading_data(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset, "load", interrupted)
    assert run.main(["--out", str(tmp_path)]) == 130
    assert capsys.readouterr().err.splitlines() == ["run.py: interrupted; no round had finished, so nothing is saved"]


@pytest.mark.parametrize("n_pool, classes, k, path, measured", BAIT_MEASURED)
def test_bait_cost_estimate_is_within_a_third_of_the_measured_queries(n_pool, classes, k, path, measured):
    """The estimate against bench/selection_speed.py's CPU seconds (d = 128) that its rates were fitted to."""
    assert 0.75 < bait_query_seconds(n_pool, classes, 128, k, path) / measured < 1.33


@pytest.mark.parametrize("path", ["compiled", "PyTorch"])
def test_bait_cost_follows_its_complexity(path):
    """Linear in k; in n only through the streaming part; the compiled step the cheaper."""
    base = bait_query_seconds(18000, 26, 128, 100, path)
    assert bait_query_seconds(18000, 26, 128, 200, path) == pytest.approx(2 * base, rel=0.1)
    assert base < bait_query_seconds(36000, 26, 128, 100, path) < 2 * base
    assert bait_query_seconds(60000, 10, 128, 100, "compiled") < bait_query_seconds(60000, 10, 128, 100, "PyTorch")


@pytest.fixture
def bait_path(request, monkeypatch):
    """The greedy step bait would run, the test's parameter: "compiled" (skipped where it cannot be built), or
    "PyTorch", that of a machine without a working C compiler ($CC=false)."""
    if request.param == "PyTorch":
        monkeypatch.setenv("CC", "false")
    bait_kernel.state.cache_clear()
    if bait_step_path() != request.param:
        pytest.skip(f"the compiled bait step cannot be built here: {bait_kernel.state()[1]}")
    yield request.param
    bait_kernel.state.cache_clear()


BOTH = {"compiled": True, "PyTorch": True}
# (run.py's flags, {greedy step: whether bait warns with it})
EXPENSIVE = [
    (["--alg", "bait", "--did", "6", "--path", str(SHARED_DATA)], BOTH),  # letter: 3.0 and 6.3 CPU-min a query
    (["--alg", "bait", "--data", "MNIST", "--path", str(SHARED_DATA), "--nQuery", "1000"], BOTH),
    (["--alg", "bait"], {"compiled": False}),  # digits at nQuery 100: 7.2 CPU-s compiled; PyTorch's 9.6 at the edge
    (["--alg", "bait", "--nQuery", "20"], {"compiled": False, "PyTorch": False}),
    (["--alg", "badge", "--did", "6", "--path", str(SHARED_DATA)], {"compiled": False, "PyTorch": False}),
]


@pytest.mark.parametrize("argv, bait_path, warns", [(argv, path, warn) for argv, by_path in EXPENSIVE
                                                    for path, warn in by_path.items()], indirect=["bait_path"])
def test_warning_before_an_expensive_bait_run(argv, warns, bait_path):
    """The warning fires where the step this machine runs is estimated over 10 s a query, and names that step."""
    args = run.build_parser().parse_args(argv)
    ds = dataset.load(args.data, args.did, args.path, np.random.default_rng(0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        STRATEGIES[args.alg].warn_if_expensive(ds, args.model, args.nEmb, args.nQuery)
    assert len(caught) == int(warns)
    if caught:
        assert re.search(rf"bait on {len(ds.y_train)} pool points .* about \d+ s per query on a 2-core CPU "
                         rf"\({bait_path} greedy step\)", str(caught[0].message))


def test_download_failure_names_its_cause_on_one_line():
    """torchvision's download error: 'Error downloading X:' then one 'Tried URL, got:' and cause per mirror."""
    e = RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://a/, got:\n<urlopen error a>\n"
                     "Tried http://b/, got:\n<urlopen error [Errno -2] Name or service not known>\n")
    assert dataset.first_line(e) == ("RuntimeError: Error downloading train-images-idx3-ubyte.gz: "
                                     "<urlopen error [Errno -2] Name or service not known>")
    assert dataset.first_line(ValueError("bad value\nmore")) == "ValueError: bad value"
