"""The benchmarks as a user runs them: bad flags are one-line errors before any work, --help describes the
benchmark and every flag, and the tables they print are complete."""
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench import flags
from cli import NO_CUDA, ROOT, SHARED_DATA, assert_one_line_error, run_cli
from ctrl_c import ctrl_c_at, loaded
from procs import children, cpu_seconds, start_cli, wait_for_cpu, wait_until_gone

BENCHMARKS = sorted(p.name for p in (ROOT / "bench").glob("*.py") if p.name != "flags.py")
SELECT = ["--alg", "badge", "--n", "200", "--d", "8"]


@pytest.mark.parametrize("script, args, fragments", [
    ("selection_speed.py", [*SELECT, "--k", "0"], ["--k", "must be a positive int, got 0"]),
    ("selection_speed.py", [*SELECT, "--k", "5", "--labeled", "200"], ["--labeled 200 leaves no unlabelled row"]),
    ("selection_speed.py", [*SELECT, "--k", "5", "--lam", "-1"], ["--lam", "a positive float"]),
    ("selection_speed.py", [*SELECT, "--k", "5", "--delta", "nan"], ["--delta"]),
    ("selection_speed.py", [*SELECT, "--k", "300", "--labeled", "10"], ["--k 300", "190 unlabelled rows"]),
    ("selection_speed.py", [*SELECT, "--k", "5", "--classes", "1"], ["--classes", "an int of at least 2"]),
    ("selection_speed.py", [*SELECT, "--k", "5", "--draws", "x"], ["--draws", "'x' is not"]),
    ("selection_speed.py", ["--alg", "flqmi", "--n", "200", "--d", "8", "--k", "5"], ["flqmi", "--labeled"]),
    ("selection_speed.py", [*SELECT, "--k", "5", "--seed", "-1"], ["--seed", "must be 0 or a positive int, got -1"]),
    ("selection_speed.py", ["--alg", "bait", "--n", "50", "--d", "4", "--k", "10", "--classes", "1000000"],
     ["out of memory; give the benchmark smaller sizes"]),  # a 19-line traceback: a C × C matrix of 8 TB
    ("kernel_start.py", ["--rounds", "0"], ["--rounds"]),
    ("kernel_crossover.py", ["--epochs", "-1"], ["--epochs", "a positive int"]),
    ("infer_speed.py", ["--repeats", "0"], ["--repeats"]),
    ("infer_speed.py", ["--threads", "0"], ["--threads"]),
    ("mc_speed.py", ["--n", "0"], ["--n"]),
    ("mc_speed.py", ["--models", "mlp,vit"], ["unknown model 'vit'"]),
    ("mc_speed.py", ["--compare", "bench"], ["not a checkout of this project"]),
    ("mc_speed.py", ["--compare", "a" * 300], ["cannot be read as a folder"]),
    ("mc_speed.py", ["--compare", "~no_such_user_here/x"], ["cannot be read as a folder"]),
    ("snapshot_cost.py", ["--configs", "bogus"], ["unknown configuration 'bogus'", "MNIST mlp 1000"]),
    ("snapshot_cost.py", ["--repeats", "0"], ["--repeats"]),
    ("run_time.py", ["--with-load", "-1"], ["--with-load", "0 or a positive int"]),
    ("run_time.py", ["--repeats", "0"], ["--repeats"]),
    ("run_time.py", ["--compare", "tests"], ["tests is not a checkout"]),
    ("run_time.py", ["--", "--help"], ["made no run to time"]),
    ("strategy_cost.py", ["--algs", "rand", "--", "--help"], ["made no run to time"]),
    ("strategy_cost.py", ["--algs", "rand", "--", "--nEnd", "300", "--alg", "coreset"],
     ["--alg after -- cannot be used", "runs each of --algs"]),  # it timed coreset under rand's name
    ("strategy_cost.py", ["--algs", "rand", "--", "--out=elsewhere"], ["--out after -- cannot be used"]),  # ignored
    ("strategy_cost.py", ["--results", "results", "--", "--nEnd", "300"], ["--nEnd 300) would not be used"]),
    ("strategy_cost.py", ["--results", "results", "--algs", "badge"], ["--algs", "would not be used"]),  # ignored
    ("strategy_cost.py", ["--algs", "rand,badge,rand"], ["--algs", "strategy 'rand' named twice"]),  # run 2 failed
    ("strategy_cost.py", ["--algs", "kcenter,coreset"], ["coreset twice, as itself and as its alias kcenter"]),  # same
    ("train_speed.py", ["--configs", "digits lin 200,digits lin 200"], ["'digits lin 200' named twice"]),  # 2 rows
    ("run_time.py", ["--", "--nEnd", "300", "--out", "elsewhere"], ["--out after -- cannot be used"]),  # ignored
    ("peers.py", ["--repeats", "0"], ["--repeats"]),
    ("peers.py", ["--threads", "1,0"], ["--threads", "must be a positive int, got 0"]),
    ("peers.py", ["--cases", "epig,typiclsut"], ["unknown case 'typiclsut'; did you mean typiclust?"]),
    ("peers.py", ["--cases", "epig,typiclust", "--threads", "1,2", "--repeats", "0"], ["--repeats"]),  # lists pass
    ("fidelity.py", ["--nStart", "0"], ["--nStart"]),
    ("fidelity.py", ["--seed", "-1"], ["--seed"]),
    ("fidelity.py", ["--path", "nowhere"], ["OpenML data set 6", "nowhere/openml/6.csv"]),  # came after the digits rows
    ("fidelity.py", ["--nStart", "1600", "--nQuery", "100"], ["1700", "1617 points of the pool of digits"]),
    ("selection_speed.py", ["--alg", "ldm", "--n", "300", "--d", "8", "--k", "5", "--ref", "100000"],
     ["--ref 100000 is more than the 300 rows of the pool", "at most 300"]),  # its floor counted 100,000 rows
    ("peers.py", ["--threads", "1,9999", "--repeats", "0"], ["--threads", "9999 is more than 4096"]),  # rows of 9999
    ("infer_speed.py", ["--threads", "9999", "--repeats", "0"], ["--threads", "9999 is more than 4096"]),  # the same
    ("cuda_agreement.py", ["--n", "100"], ["--n", "an int of at least 101"]),
    ("cuda_agreement.py", ["--n", "200", "--k", "150"], ["--k 150", "100 unlabelled"]),
    ("conv_floor.py", ["--steps", "0"], ["--steps"]),
])
def test_bad_flag_is_one_line_error(script, args, fragments):
    """Each of these tracebacks, ran on with a nonsense value or ran nothing before the value was checked."""
    proc = run_cli(*args, script=f"bench/{script}", timeout=120)
    assert_one_line_error(proc, f"{script}: error:", *fragments)


@pytest.mark.parametrize("script, args, fragment", [
    ("infer_speed.py", [], "MNIST"),  # a traceback (errors.UserError)
    ("snapshot_cost.py", [], "MNIST"),  # a traceback after the table's first rows
    ("snapshot_cost.py", ["--configs", "FashionMNIST cnn 1000"], "FashionMNIST"),
    ("train_speed.py", ["--configs", "digits lin 200,letter mlp 100"], "OpenML data set 6"),  # the worker's last line
    ("run_time.py", [], "MNIST"),  # it had no --path (README named it among those that take one)
])
def test_data_missing_from_path_is_one_line_error_before_any_work(script, args, fragment, tmp_path):
    """--path names the data folder (these read ../shared/data whatever the caller wanted); a folder without the
    data is one line naming it, and no table has begun."""
    proc = run_cli(*args, "--path", tmp_path, script=f"bench/{script}", timeout=300)
    assert_one_line_error(proc, f"{script}: error:", fragment, str(tmp_path))
    assert "|" not in proc.stdout


@pytest.mark.parametrize("script, args", [
    ("kernel_start.py", ["--rounds", "2"]),  # a kernels.Unavailable traceback
    ("kernel_crossover.py", ["--epochs", "1"]),  # one line without `error:`
    ("infer_speed.py", ["--repeats", "1", "--path", SHARED_DATA]),  # the same
    ("fidelity.py", ["--path", SHARED_DATA]),  # "no working C compiler", whatever the reason, minutes into the table
])
def test_no_working_compiler_is_one_line_error(script, args, tmp_path):
    """With CC=false (and a fresh cache) the compiled mlp epoch cannot be built: one line saying so and why."""
    proc = run_cli(*args, script=f"bench/{script}", timeout=300, env={"CC": "false", "BADGE_CACHE": str(tmp_path)})
    assert_one_line_error(proc, f"{script}: error: the compiled mlp epoch is not available here (",
                          "false --version")
    assert "|" not in proc.stdout


@pytest.mark.parametrize("script", ["peers.py", "infer_speed.py"])
def test_threads_above_the_cores_warn_as_run_py_does(script):
    """run.py warns when --threads is more than the cores this process may use (and runs with them); the benchmarks
    took any count in silence. --repeats 0 stops each after its flags are read."""
    cores = len(os.sched_getaffinity(0))
    proc = run_cli("--threads", cores + 1, "--repeats", "0", script=f"bench/{script}", timeout=120)
    warning, error = proc.stderr.splitlines()
    assert warning == (f"{script}: warning: --threads {cores + 1} is more than the {cores} cores this process may "
                       f"use; the threads then wait on each other (much slower), and results can differ from a run "
                       f"with fewer")
    assert error.startswith(f"{script}: error: argument --repeats")


@pytest.mark.parametrize("script, what", [("strategy_cost.py", "rand"), ("run_time.py", f"run.py of {ROOT}")])
def test_a_run_py_error_points_at_run_py_s_help(script, what):
    """run.py's own `(see --help)` came under the benchmark's name, as if the benchmark's help would explain it."""
    proc = run_cli(*(["--algs", "rand"] if script == "strategy_cost.py" else []), "--", "--bogus", "1",
                   script=f"bench/{script}", timeout=300)
    assert_one_line_error(proc, f"{script}: error: {what}: run.py: error: unrecognized arguments: --bogus 1 "
                                f"(see python run.py --help)")


def test_a_benchmark_s_warning_is_one_line():
    """Each fidelity.py training stopped by --maxEpochs warned in Python's two lines, the second the source line
    that raised it (`warnings.warn(message, GuardWarning)` of training.py)."""
    proc = run_cli("--nStart", "10", "--nQuery", "5", "--maxEpochs", "1", "--path", SHARED_DATA,
                   script="bench/fidelity.py", timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines and all(line.startswith("fidelity.py: warning: training stopped after 1 epochs") for line in lines)


def test_help_names_each_flag_s_default():
    proc = run_cli("--help", script="bench/selection_speed.py", env={"COLUMNS": "250"})
    assert re.search(r"--seed SEED +seed of the synthetic inputs and the selection \(default: 0\)", proc.stdout)
    assert re.search(r"--device \{cpu,cuda\} +where the inputs and selection live \(default: cpu\)", proc.stdout)


def test_selection_speed_draws_help_names_every_strategy_that_uses_it():
    """noise_stability takes --draws noisy copies, but the help named only the MC-dropout strategies."""
    proc = run_cli("--help", script="bench/selection_speed.py", env={"COLUMNS": "250"})
    draws = next(line for line in proc.stdout.splitlines() if line.lstrip().startswith("--draws"))
    for alg in ("batchbald", "powerbald", "meanstd", "epig", "noise_stability"):
        assert alg in draws


def test_ctrl_c_stops_a_benchmark_with_one_line_and_exit_130():
    """Ctrl-C in the middle of a selection (its imports done: 2 CPU seconds) printed a 36-line traceback; the
    benchmark is started as a background job (SIGINT ignored), which it undoes."""
    proc = start_cli("--alg", "kmeans", "--n", "50000", "--d", "64", "--k", "1000", script="bench/selection_speed.py")
    wait_for_cpu(proc, 5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err == "selection_speed.py: interrupted\n" and out == "", err


def test_ctrl_c_while_a_benchmark_imports_is_one_line_and_exit_130():
    """Ctrl-C while selection_speed.py imported its strategies (torch loaded, scikit-learn not yet: about a second)
    was a KeyboardInterrupt traceback of the import, and did nothing to a benchmark started as a background job
    (SIGINT ignored, as here: it ran to its end)."""
    code, err = ctrl_c_at(lambda: start_cli(*SELECT, "--k", "5", script="bench/selection_speed.py"),
                          lambda pid: loaded(pid, "libtorch") and not loaded(pid, "sklearn"))
    assert code == 130 and err == "selection_speed.py: interrupted\n", err


def busy_loops(pid):
    """The pids of run_time.py's busy loops among the children of `pid`."""
    loops = []
    for child in children(pid):
        with contextlib.suppress(OSError):
            if b"while True" in Path(f"/proc/{child}/cmdline").read_bytes():
                loops.append(child)
    return loops


def test_ctrl_c_at_a_terminal_stops_run_time_with_load_in_one_line():
    """A terminal's Ctrl-C goes to the whole foreground process group: each --with-load busy loop printed its own
    KeyboardInterrupt traceback under the benchmark's line."""
    proc = subprocess.Popen([sys.executable, "bench/run_time.py", "--with-load", "1", "--", "--alg", "rand",
                             "--nEnd", "1600"], cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        wait_for_cpu(proc, 0.5, used=lambda pid: max(map(cpu_seconds, busy_loops(pid)), default=0.0))
        loops = busy_loops(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and err == "run_time.py: interrupted\n", err
    assert loops and wait_until_gone(loops) == []


def test_output_cut_short_by_a_closed_pipe_is_no_traceback():
    """`python bench/kernel_crossover.py | head -3` ended in a BrokenPipeError traceback once head had its lines
    (the reader of stdout gone before the benchmark's next line)."""
    proc = subprocess.Popen([sys.executable, "bench/kernel_start.py", "--rounds", "1"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 1 and err == "", err


@pytest.mark.parametrize("script", BENCHMARKS)
def test_quiet_ctrl_c_comes_before_the_heavy_imports(script):
    """Every benchmark makes Ctrl-C one line (flags.starting) before it imports torch, numpy, pandas or a module of
    the project (which imports them)."""
    lines = (ROOT / "bench" / script).read_text().splitlines()
    first_heavy = next(i for i, line in enumerate(lines) if re.match(
        r"(import|from) (torch|numpy|pandas|dataset|kernels|learner|predictor|strategy_params|query_strategies)\b",
        line) or "sys.path.insert(0, str(root))" in line)
    assert lines.index("flags.starting(__name__)") < first_heavy


@NO_CUDA
@pytest.mark.parametrize("script, args", [
    ("selection_speed.py", [*SELECT, "--k", "5", "--device", "cuda"]),
    ("cuda_agreement.py", []),
])
def test_cuda_without_a_gpu_is_one_line_error(script, args):
    """A traceback from the first CUDA tensor (selection_speed), before."""
    proc = run_cli(*args, script=f"bench/{script}", timeout=120)
    assert_one_line_error(proc, "no CUDA device is available")


@pytest.mark.parametrize("script", BENCHMARKS)
def test_help_gives_the_whole_docstring_and_every_flag_a_text(script):
    """The description is the docstring's first paragraph, not its first line cut mid-sentence, and the rest of it
    (the usage examples) follows the flags; no flag is bare, and each default is written as it is typed (peers.py's
    --cases showed a Python list)."""
    proc = run_cli("--help", script=f"bench/{script}", env={"COLUMNS": "250"})
    assert proc.returncode == 0, proc.stderr
    assert "(default: [" not in proc.stdout
    usage, rest = proc.stdout.split("\n\n", 1)
    description, *sections = re.split(r"\n\n?(?:positional arguments|options):\n", rest)
    first, _, others = (ROOT / "bench" / script).read_text().split('"""')[1].partition("\n\n")
    assert " ".join(description.split()) == " ".join(first.split())
    last, _, epilog = sections.pop().partition("\n\n")
    assert " ".join(epilog.split()) == " ".join(others.split())
    lines = "\n".join([*sections, last]).splitlines() + [""]
    for line, after in zip(lines, lines[1:]):
        if line.lstrip().startswith("-"):  # its help on the same line, or on the next, indented further
            assert re.match(r"\s+-\S.*?\S {2,}\S", line) or re.match(r" {8,}\S", after), \
                f"{script}: a flag without help: {line}"


def cpu_model():
    """The model name /proc/cpuinfo gives this machine's CPU ('' where it gives none)."""
    return next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")), "")


@pytest.mark.parametrize("script, args", [
    ("kernel_start.py", ["--rounds", "1"]),  # its one line of figures only
    ("mc_speed.py", ["--models", "mlp", "--n", "10", "--repeats", "1"]),  # nothing but the table
])
def test_figures_come_with_their_machine_and_date(script, args):
    """BENCHMARKS.md asks figures to be compared only where they name the same CPU (the machine's CPU changed
    under it), but no benchmark printed the CPU, and several not the date either."""
    proc = run_cli(*args, script=f"bench/{script}", timeout=120)
    assert proc.returncode == 0, proc.stderr
    date, machine, load, commit = proc.stdout.splitlines()[0].split("; ")
    assert re.fullmatch(r"20\d\d-\d\d-\d\d \d\d:\d\d UTC", date) and re.fullmatch(r"load average [\d.]+", load)
    assert machine.startswith(cpu_model()) and machine.endswith(f", {os.cpu_count()} cores")
    assert commit == f"commit {flags.revision(ROOT)}"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_conditions_name_the_commit_of_each_checkout(tmp_path):
    """The figures of `--compare OLD` came without the commits they measured, which BENCHMARKS.md then had to give
    by hand ("epochs/s (8331854)"): a commit's short hash, `+` once a tracked file differs, `unknown` outside git."""
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "run.py").write_text("")
    subprocess.run([*git, "add", "run.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert flags.conditions(tmp_path).endswith(f", compared with {tmp_path} at commit {head}")
    (tmp_path / "run.py").write_text("changed")
    assert flags.revision(tmp_path) == f"{head}+"
    assert flags.revision("/") == "unknown"


@pytest.mark.parametrize("script", [b for b in BENCHMARKS if b != "cuda_agreement.py"])
def test_each_timing_benchmark_prints_its_conditions(script):
    """Every benchmark whose figures BENCHMARKS.md records prints flags.conditions with them (cuda_agreement.py
    prints picks, not figures)."""
    assert "flags.conditions(" in (ROOT / "bench" / script).read_text()


def test_a_compared_checkout_s_failed_allocation_is_named_as_such(tmp_path):
    """A worker measuring an older checkout (its run.py without out_of_memory, as 47a24dc's) reported a failed
    allocation as `ImportError: cannot import name 'out_of_memory' from 'run'`: flags.command took the check from
    the measured checkout's run.py."""
    (tmp_path / "run.py").write_text("")
    (tmp_path / "learner.py").write_text("")
    (tmp_path / "dataset.py").write_text("raise RuntimeError(\"DefaultCPUAllocator: can't allocate memory\")\n")
    proc = run_cli("--models", "mlp", "--n", "10", "--repeats", "1", "--compare", tmp_path, script="bench/mc_speed.py",
                   timeout=120)
    assert_one_line_error(proc, f"mlp in {tmp_path.resolve()}: mc_speed.py: error: out of memory")


@pytest.mark.parametrize("script", [*BENCHMARKS, "run_select.sh", "gpu_check.sh"])
def test_the_readme_names_each_benchmark(script):
    """README's Benchmarks section, the reader's list of what each benchmark measures, left out mc_speed.py and
    run_select.sh."""
    section = (ROOT / "README.md").read_text().split("\n## Benchmarks\n", 1)[1].split("\n## ", 1)[0]
    assert f"bench/{script}" in section


def test_mc_speed_prints_a_markdown_table_and_a_failed_workers_reason(tmp_path):
    """The table has its separator row; a checkout whose worker fails stops the benchmark with the worker's own
    last line (it was a CalledProcessError traceback that hid it)."""
    proc = run_cli("--models", "mlp", "--n", "300", "--repeats", "1", script="bench/mc_speed.py", timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1:3] == ["| model | n | this checkout (s) |", "|---|---|---|"] and lines[3].startswith("| mlp | 300 |")
    for name in ("run.py", "learner.py"):
        (tmp_path / name).write_text("")
    proc = run_cli("--models", "mlp", "--n", "300", "--repeats", "1", "--compare", tmp_path,
                   script="bench/mc_speed.py", timeout=120)
    assert_one_line_error(proc, f"mlp in {tmp_path.resolve()}", "No module named 'dataset'")


@pytest.mark.parametrize("args", [
    ["--alg", "badge", "--n", 10**30, "--d", "8", "--k", "5"],  # TypeError with a C++ frame dump (unpacking long long)
    [*SELECT, "--k", "5", "--classes", 10**20],  # the same
    ["--alg", "badge", "--n", 10**18, "--d", "8", "--k", "5"],  # RuntimeError: Storage size calculation overflowed
])
def test_sizes_beyond_what_torch_can_count_are_the_out_of_memory_line(args):
    """--n 10^12 gave the out-of-memory line, but sizes whose tensors torch cannot even count ended in its overflow
    errors' tracebacks, exit code 1."""
    proc = run_cli(*args, script="bench/selection_speed.py", timeout=120)
    assert_one_line_error(proc, "selection_speed.py: error: out of memory; give the benchmark smaller sizes")
    assert proc.returncode == 2


def test_mc_speed_pool_beyond_the_memory_is_one_line_before_any_worker():
    """--n 10^30 printed `mc_speed.py: error: mlp in ROOT: "`: the worker's TypeError cut to its last line, a lone
    quote closing its C++ frame dump."""
    proc = run_cli("--n", 10**30, "--repeats", "1", "--models", "mlp", script="bench/mc_speed.py", timeout=120)
    assert_one_line_error(proc, f"mc_speed.py: error: --n {10**30}: the pool's images alone (n × 28 × 28 float32) "
                                f"need more than this machine's ", "GiB of memory; lower --n")
    assert proc.returncode == 2 and "|" not in proc.stdout


class Started(Exception):
    """run_time.busy_processes was called (the test's stand-in: no busy loop starts)."""


def test_with_load_is_at_most_4_per_core_and_refused_before_any_busy_loop(monkeypatch, capsys):
    """--with-load had no upper bound: a typo such as 10^30 started busy loops until the machine gave out."""
    from bench import run_time

    def started(n):
        raise Started(n)
    monkeypatch.setattr(run_time, "busy_processes", started)
    monkeypatch.setattr(sys, "argv", ["bench/run_time.py"])
    monkeypatch.setenv("COLUMNS", "250")
    cores = len(os.sched_getaffinity(0))
    with pytest.raises(Started, match=f"^{4 * cores}$"):
        run_time.main(["--with-load", str(4 * cores)])  # the bound itself is taken
    for count in (4 * cores + 1, 10**30):
        with pytest.raises(SystemExit) as stop:
            run_time.main(["--with-load", str(count)])
        assert stop.value.code == 2 and capsys.readouterr().err == (
            f"run_time.py: error: argument --with-load: {count} is more than 4 per core ({4 * cores} for the {cores} "
            f"cores here); give at most {4 * cores} (see --help)\n")
    with pytest.raises(SystemExit):
        run_time.main(["--help"])
    assert f"at most 4 per core ({4 * cores} here)" in capsys.readouterr().out


def test_peers_table_names_each_peer():
    """The rows carry the peer column BENCHMARKS.md shows (the table had six columns, its header in BENCHMARKS
    seven)."""
    pytest.importorskip("baal")
    proc = run_cli("--cases", "epig", "--threads", "1", "--repeats", "1", script="bench/peers.py", timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("|")]
    assert rows[0] == "| selection | inputs | threads | ours (s) | peer (s) | peer / ours | peer |"
    assert rows[1] == "|---|---|---|---|---|---|---|"
    assert rows[2].startswith("| epig | n=5000 C=10 K=100 M=100 k=100 | 1 |") and rows[2].endswith("| baal `EPIG` |")


def test_run_select_stops_at_a_failed_run_with_its_error():
    """A selection_speed.py error ends the table with that one line and exit 1, not a JSON traceback; a first
    argument that is a flag is passed on, not taken for the interpreter."""
    proc = subprocess.run(["bash", "bench/run_select.sh", "--k", "0"], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PATH=f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"))
    assert proc.returncode == 1
    assert proc.stdout.split() == "alg n d C k L seconds cpu_s rss_mb".split()
    assert_one_line_error(proc, "selection_speed.py: error: argument --k: must be a positive int")


def test_run_select_answers_help_itself():
    """--help was passed on to selection_speed.py, whose help text was then parsed as JSON (a traceback)."""
    proc = subprocess.run(["bash", "bench/run_select.sh", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == ""
    assert "bench/run_select.sh [python] [extra bench/selection_speed.py flags" in proc.stdout


@NO_CUDA
def test_gpu_check_without_cuda_says_so_and_leaves_no_folder(tmp_path):
    """One line on stderr, exit 1, and no empty results folder made (it made one with mktemp first)."""
    proc = subprocess.run(["bash", "bench/gpu_check.sh", sys.executable], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert_one_line_error(proc, "gpu_check.sh: error:", "no CUDA device")
    assert proc.returncode == 1 and list(tmp_path.iterdir()) == []
