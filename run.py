"""Batch active-learning experiment runner (BADGE, Ash et al. 2020; BAIT, Ash et al. 2021).

    python run.py --model mlp --nQuery 100 --data MNIST --path ../shared/data --alg badge

Round 0 labels --nStart random pool points (or, with --nStart 0, a first batch of --nQuery); every round trains a
fresh network on the labelled points, prints `<n labelled>\\ttesting accuracy <acc>`, and the strategy picks
--nQuery more. Results go to OUT/<data>_<model>_<alg>_<nQuery>_seed<seed>/ (config.json, rounds.csv, queries.csv,
checkpoint.pt, training.pt while a round trains, and summary.json once the run ends)."""
import os
import signal
import sys

from errors import quiet_start

if __name__ == "__main__":
    quiet_start("run.py")

import errno
import inspect
import math
import platform
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from catalog import CONV_MODELS, IMAGE_NAMES, MODELS, PATIENCE, canonical_name, unknown_data
from errors import (HANGUP, UNCHANGED_WHILE_STARTING, GuardWarning, HelpFormatter, Parser, TrainingDiverged, UserError,
                    exit_with, first_paragraph, put_back, stdout_to_devnull, stop_on_terminate, stopped_by)
from query_strategies import ALIASES, STRATEGIES
from resume import (changed_flags, check_same_run, check_trainer, checkpoint_state, is_finished, restore_checkpoint,
                    run_identity, run_owner)
from runlock import enclosing_run_folder, run_folder_lock
from statefile import StateError
from strategy_params import add_flags, arguments, given_flags, ignored_flags

# torch, torchvision and the modules built on them are imported after the flags are parsed (import_libraries),
# so that --help and flag errors answer at once.


def build_parser():
    p = Parser(prog="run.py", description=first_paragraph(__doc__), allow_abbrev=False,
               formatter_class=HelpFormatter)
    p.add_argument("--alg", default="rand", type=str.lower, choices=sorted(STRATEGIES), metavar="ALG",
                   help=f"selection strategy: {', '.join(sorted(STRATEGIES))}")
    p.add_argument("--did", type=int, default=0,
                   help="OpenML data set id; > 0 overrides --data (with --model mlp or lin only); 0 = use --data")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate")
    p.add_argument("--model", default="mlp", type=str.lower, choices=MODELS, help="network: " + ", ".join(MODELS))
    p.add_argument("--path", default="data", help="data folder: torchvision files, OpenML cache, PATH/openml/<did>.csv")
    p.add_argument("--data", default="", type=canonical_name,
                   help="digits (default), MNIST, FashionMNIST, SVHN, CIFAR10 (any case), "
                   "a .csv file (label in the last column) or a .npz file (arrays X, y; or X_train, y_train, "
                   "X_test, y_test for its own test set)")
    p.add_argument("--test", default="",
                   help="the test set of a --data .csv or .npz file, as a .csv or .npz file of the same features "
                        "(the labels those of the training file); default: a random 10%% of --data")
    p.add_argument("--nQuery", type=int, default=100, help="points labelled per round")
    p.add_argument("--nStart", type=int, default=100,
                   help="initial random labels; 0 = a cold start: the strategy picks the first --nQuery where it "
                        "needs no labels (typiclust, probcover, coreset, coreset_pca, kmeans with --select-on "
                        "input), else they are drawn at random, the same draw as rand's")
    p.add_argument("--nEnd", type=int, default=50000, help="label budget")
    p.add_argument("--nEmb", type=int, default=DEFAULT_N_EMB, help="MLP hidden / embedding width (the mlp's only)")
    p.add_argument("--rounds", type=int, default=0,
                   help="cap on query rounds on top of the --nEnd budget: the run stops at whichever comes first "
                        "(0 = no cap)")
    p.add_argument("--trunc", type=int, default=-1,
                   help="keep this many random pool points, then only classes 0-9 (-1 = all)")
    p.add_argument("--imbalance", type=float, default=None, metavar="R",
                   help="long-tailed pool: in a seeded class order, class r keeps ⌊n_max·R^(−r/(C−1))⌋ of its "
                        "pool points (n_max: the smallest class's count), from n_max down to ⌊n_max/R⌋, so the largest "
                        "class has R times the smallest's up to that floor (at most n_max); the test set is untouched")
    p.add_argument("--select-on", dest="select_on", default="model", choices=("model", "input"),
                   help="what the embedding-based strategies (typiclust, probcover, coreset, coreset_pca, kmeans, "
                        "cluster_margin; albl's coreset) select on: model = the trained network's embedding, "
                        "input = the data's own features (e.g. pretrained embeddings in an .npz written by "
                        "scripts/embed.py); strategies on the network's predictions are unchanged, those on its "
                        "gradients (badge, baseline, bait, bim, deepfool, vessal, glister, flqmi, logdetmi) refuse "
                        "input")
    p.add_argument("--aug", type=int, default=0, choices=(0, 1),
                   help="1 = CIFAR10 train-time augmentation (random crop 32, padding 4, horizontal flip)")
    p.add_argument("--dummy", type=int, default=1,
                   help="replicate index for shell sweeps; the seed when --seed is absent")
    p.add_argument("--seed", type=int, default=None, help="seed of every random draw (default: --dummy)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto = CUDA when available, else CPU")
    p.add_argument("--out", default="results", help="results folder")
    p.add_argument("--maxEpochs", type=int, default=0,
                   help="opt-in epoch cap per round, 0 = none: train until the epoch's training accuracy is 0.99 "
                        "(a warning and train_stop=cap in rounds.csv when hit)")
    p.add_argument("--patience", type=int, default=PATIENCE,
                   help="guard against endless training: stop after this many epochs without a better epoch "
                        "accuracy (a warning and train_stop=stalled), 0 = never")
    p.add_argument("--kernel", default="auto", choices=("auto", "on", "off"),
                   help="auto = the mlp trains on the CPU with a compiled epoch (kernels/, built once with the C "
                        "compiler $CC or cc) where a fixed rule expects it to be faster (sparse or narrow inputs; "
                        "on some CPUs dense inputs 64-256 wide are faster with off); PyTorch elsewhere and where no "
                        "compiler works; on = the compiled epoch wherever it applies (the mlp on the CPU, "
                        "--nEmb a multiple of 16, no augmentation), an error where it does not or cannot be built; "
                        "off = PyTorch always. Same training rule, float rounding differs; config.json's trainer and "
                        "trainer_identity say which ran")
    p.add_argument("--threads", type=int, default=1,
                   help="torch, BLAS and OpenMP threads of this run; picks can differ between thread counts")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in the output folder from its last finished round")
    p.add_argument("--force", action="store_true", help="overwrite an existing run folder")
    p.add_argument("--snapshotEvery", type=float, default=SNAPSHOT_SECONDS,
                   help="seconds between saves of a round's training in progress (training.pt in the run folder), "
                        "so that --resume continues a long training where it stopped rather than from its first "
                        "epoch; 0 = never. Results are the same either way")
    add_flags(p)  # each strategy's own parameters (strategy_params.DECLARED)
    return p


MAX_THREADS = 4096  # far above any machine's cores; torch takes a C int
DEFAULT_N_EMB = 128  # --nEmb
SNAPSHOT_SECONDS = 300.0  # default of --snapshotEvery


def usable_cores():
    """The cores this process may run on: its CPU affinity where the system has one (Linux), else every core of the
    machine (macOS has no affinity call)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check_threads(count):
    """ValueError (one line) when the thread count `count` is more than MAX_THREADS; a warning when it is more than
    the cores this process may use (it still runs with that many). run.py's --threads and the benchmarks' share it."""
    cores = usable_cores()
    if count > MAX_THREADS:
        raise ValueError(f"{count} is more than {MAX_THREADS}; give at most the machine's cores ({cores} here)")
    if count > cores:
        warnings.warn(f"--threads {count} is more than the {cores} cores this process may use; the threads then wait "
                      f"on each other (much slower), and results can differ from a run with fewer", stacklevel=3)


def check_flags(args, given=()):
    """Flag values that are wrong before any data is read, and warnings for those the run ignores (`given`: the
    flags written on the command line, which warn at any value)."""
    if args.nQuery <= 0:
        raise UserError(f"--nQuery must be positive, got {args.nQuery}")
    if args.nStart < 0:
        raise UserError(f"--nStart must be at least 0 (0 = a cold start), got {args.nStart}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise UserError(f"--lr must be a positive finite number, got {args.lr}")
    if not args.out.strip():
        raise UserError("--out is empty; name a results folder, e.g. --out results")
    if os.path.lexists(args.out) and not os.path.isdir(args.out):
        raise UserError(f"--out {args.out} is a file, not a results folder; move it away or use another --out")
    if run_folder := enclosing_run_folder(args.out):
        raise UserError(f"--out {args.out} lies in the run folder {run_folder}; give the results folder that holds "
                        f"the runs (e.g. {run_folder.parent})")
    if args.did < 0:
        raise UserError(f"--did is an OpenML data set id, at least 1 (0: use --data), got {args.did}")
    if args.did == 0 and (message := unknown_data(args.data)):
        raise UserError(message)
    if args.resume and args.force:
        raise UserError("--resume continues a run and --force overwrites it; pass only one of them")
    for flag in ("nEmb", "threads"):
        if getattr(args, flag) <= 0:
            raise UserError(f"--{flag} must be positive, got {getattr(args, flag)}")
    try:
        check_threads(args.threads)
    except ValueError as e:
        raise UserError(f"--threads {e}") from None
    if args.model != "mlp" and (args.nEmb != DEFAULT_N_EMB or "nEmb" in given):
        warnings.warn(f"--nEmb is the mlp's width; --model {args.model} ignores it (it is still recorded, so the "
                      f"run pools only with runs of --nEmb {args.nEmb})", stacklevel=2)
    if not (math.isfinite(args.snapshotEvery) and args.snapshotEvery >= 0):
        raise UserError(f"--snapshotEvery must be a number of seconds, at least 0 (0 = never), "
                        f"got {args.snapshotEvery}")
    for flag in ("maxEpochs", "patience", "rounds"):
        if getattr(args, flag) < 0:
            raise UserError(f"--{flag} must be at least 0 (0 = no limit), got {getattr(args, flag)}")
    if not 0 <= run_seed(args) < 2**64:
        raise UserError(f"the seed must be from 0 to 2^64 - 1, got {run_seed(args)} "
                        f"({'--dummy' if args.seed is None else '--seed'}); give a seed in that range")
    if args.test and args.did > 0:
        raise UserError(f"--test {args.test} is the test set of a --data .csv or .npz file, and --did {args.did} "
                        f"replaces --data; drop --did (or --test)")
    if args.test and not args.data.lower().endswith((".csv", ".npz")):
        raise UserError(f"--test {args.test} is the test set of a --data .csv or .npz file; give --data such a file")
    if args.imbalance is not None and not (math.isfinite(args.imbalance) and args.imbalance >= 1):
        raise UserError(f"--imbalance is the ratio of the largest class to the smallest, at least 1, got "
                        f"{args.imbalance:g}")
    if args.did > 0 and args.model in CONV_MODELS:
        raise UserError(f"--did (tabular OpenML data) works only with --model mlp or lin, not {args.model}")
    if args.model == "cnn" and args.did <= 0 and args.data not in IMAGE_NAMES:
        raise UserError(f"--model cnn is defined for {', '.join(IMAGE_NAMES)}; use mlp or lin for "
                        f"{args.data or 'digits'}")


def check_selection_flags(args, given=()):
    """--select-on and --nStart 0 against what the --alg strategy declares (on_embedding, label_free), its
    parameters against its own bounds (Strategy.check_parameters), and a warning for each other strategy's flag
    given (named in `given`, the command line's flags) or set away from its default. --select-on input for a
    strategy off the embedding is set back to model (with a warning): the run is the same, and records so."""
    cls = STRATEGIES[args.alg]
    if args.select_on == "input" and cls.takes_gradients:
        raise UserError(f"--select-on input gives the embedding-based strategies ({embedding_strategies()}) the "
                        f"data's own features; {args.alg} selects on the network's gradients, which they cannot "
                        f"stand for: drop --select-on input")
    if args.select_on == "input" and not cls.on_embedding:
        takes = "draws its picks uniformly at random" if cls.uniform_draw else "takes the network's outputs"
        warnings.warn(f"--select-on input changes what the strategies on an embedding select "
                      f"({embedding_strategies()}); {args.alg} {takes} whatever it says: it is ignored (the run "
                      f"records --select-on model, and a sweep reuses its runs)", stacklevel=2)
        args.select_on = "model"
    warn_ignored_flags(args, given)
    try:
        cls.check_parameters(arguments(args.alg, vars(args)))
    except ValueError as e:
        raise UserError(str(e)) from None
    if args.nStart == 0 and cls.label_free and cls.on_embedding and args.select_on == "model":
        raise UserError(f"--nStart 0: {args.alg} picks the first batch on an embedding, and no network is trained "
                        f"before any label; add --select-on input (the data's own features) or give --nStart")


def warn_ignored_flags(args, given=(), stacklevel=3):
    """A warning for each other strategy's flag than the --alg strategy's given (named in `given`, the command
    line's flags) or set away from its default: it is ignored. `stacklevel` as warnings.warn's, from here."""
    for flag, takers in ignored_flags(args.alg, vars(args), given):
        warnings.warn(f"--{flag} is a flag of {', '.join(takers)}, not of {args.alg}; it is ignored",
                      stacklevel=stacklevel)


def embedding_strategies():
    """The strategies that select on an embedding (on_embedding), comma-separated; it imports every strategy's
    module, so only a message about --select-on asks for it."""
    return ", ".join(sorted(a for a, c in STRATEGIES.items() if c.on_embedding and c.name == a))


def first_batch(args):
    """The labels of round 0: --nStart, or --nQuery in a cold start (--nStart 0)."""
    return args.nStart or args.nQuery


def check_device(name):
    """UserError when --device `name` is cuda and this machine has no CUDA device."""
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but no CUDA device is available; use --device cpu")


def pick_device(name):
    """The device --device names ('auto': CUDA when available); on CUDA, with deterministic kernels
    (cuda_deterministic)."""
    import torch

    check_device(name)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name
    if device == "cuda":
        cuda_deterministic()
    return device


def cuda_deterministic():
    """CUDA kernels that give the same results every run: torch's deterministic algorithms (a warning names any
    operation without one), cuDNN without benchmarking, and cuBLAS with a fixed workspace (CUBLAS_WORKSPACE_CONFIG,
    read when cuBLAS starts, so set before the first CUDA product)."""
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def strategy_picks_first(args):
    """Whether the strategy picks round 0's labels: in a cold start (--nStart 0) of a label_free strategy whose
    pick is not a uniform draw (rand's is: it takes the draw every strategy that needs labels takes, so that a
    seed's first batch is the same for all of them)."""
    cls = STRATEGIES[args.alg]
    return args.nStart == 0 and cls.label_free and not cls.uniform_draw


COLD_RANDOM = ("run.py: --nStart 0: {} needs labels to select, so its first batch of {} is drawn uniformly at "
               "random")


RECORDED_LIBRARIES = ("numpy", "scipy", "scikit-learn", "torchvision", "threadpoolctl")


def library_versions():
    """The installed version of each library whose code can change a run's numbers (RECORDED_LIBRARIES; None where
    it is not installed), read from the packages' metadata without importing them."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in RECORDED_LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def run_name(args, seed):
    """The run folder's name: <data>_<model>_<alg>_<nQuery>_seed<seed>."""
    from results import data_label

    return f"{data_label(args.did, args.data)}_{args.model}_{args.alg}_{args.nQuery}_seed{seed}"


def run_seed(args):
    """The run's seed: --seed, else --dummy (the original's replicate index)."""
    return args.dummy if args.seed is None else args.seed


def seeds(seed, n):
    """n independent 63-bit seeds derived from one."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n, dtype=np.uint64) >> np.uint64(1)]


def n_budget_rounds(args):
    """Query rounds the label budget allows: ⌊(nEnd − first batch) / nQuery⌋."""
    return (args.nEnd - first_batch(args)) // args.nQuery


def rounds_cap_binds(args):
    """True when --rounds (> 0) stops the run before the label budget does."""
    return 0 < args.rounds < n_budget_rounds(args)


def n_query_rounds(args):
    """Query rounds to run: min(--rounds, budget rounds) when --rounds > 0, else the budget rounds (the original
    ran --rounds − 1; we run --rounds, PROTOCOL §1)."""
    return args.rounds if rounds_cap_binds(args) else n_budget_rounds(args)


def n_possible_rounds(args, n_pool):
    """Query rounds that will run: n_query_rounds, but none once fewer than nQuery unlabelled points remain."""
    return min(n_query_rounds(args), (n_pool - first_batch(args)) // args.nQuery)


def data_source(args):
    """Where the data came from, for config.json: the resolved file or folder, or the built-in name."""
    if args.did > 0:
        return f"OpenML {args.did} via {Path(args.path).resolve()}"
    if args.data.lower().endswith((".csv", ".npz")):
        return str(Path(args.data).resolve()) + (f" with test set {Path(args.test).resolve()}" if args.test else "")
    if args.data and args.data != "digits":
        return f"{args.data} in {Path(args.path).resolve()}"
    return "digits (scikit-learn)"


def build_strategy(args, learner, labeled, generator):
    """The --alg strategy with the parameters it declares, each from its flag (strategy_params.arguments), and
    those it derives from the name of the data it runs on (Strategy.data_parameters: BAIT's λ; with --did, the
    OpenML data set's, whatever --data says; note_data_parameters says which)."""
    from results import data_label

    cls, name = STRATEGIES[args.alg], data_label(args.did, args.data)
    derived = cls.data_parameters(name)
    note_data_parameters(cls, args.alg, name, derived)
    return cls(learner, labeled, generator, **arguments(args.alg, vars(args)), **derived)


def note_data_parameters(cls, alg, name, derived):
    """One line on stderr for each of the `derived` parameters that strategy `cls` takes from the data's `name` at
    other than its default (BAIT's λ = 0.01 for a name holding "cifar", a file's too), so that a name never sets
    one unseen."""
    defaults = inspect.signature(cls.__init__).parameters
    for key, value in derived.items():
        if value != defaults[key].default:
            print(f"run.py: {alg} takes {key} = {value} from the data's name {name!r} (other data: "
                  f"{defaults[key].default})", file=sys.stderr)


def check_memory(args, ds):
    """Refuse --nEmb too large for this machine before anything is allocated: the mlp's first and last layers (4
    float32 copies: weights, gradients, two Adam moments) and the pool's embeddings need at least
    4·(4·nEmb·(d + C) + n_pool·nEmb) bytes (the other models have their own widths)."""
    if args.model != "mlp":
        return
    d = int(np.prod(ds.X_train.shape[1:]))
    need = 4 * (4 * args.nEmb * (d + ds.n_classes) + len(ds.y_train) * args.nEmb)
    have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if need > have:
        raise UserError(f"--nEmb {args.nEmb} needs at least {need / 2**30:.1f} GiB, more than this machine's "
                        f"{have / 2**30:.1f} GiB; lower --nEmb")


class Stopwatch:
    """Seconds of consecutive phases: lap(name) records the time since the previous lap (or since it was made)."""

    def __init__(self):
        self.seconds, self.last = {}, time.perf_counter()

    def lap(self, name):
        now = time.perf_counter()
        self.seconds[name], self.last = round(now - self.last, 4), now


def import_libraries(alg):
    """Import what a run needs beyond the parser: torch and the project's modules built on it, and the strategy
    `alg`'s module (not the other strategies', nor torchvision, which dataset.py imports for image data only)."""
    import learner  # noqa: F401 (with torch, dataset, model and kernels)
    import results  # noqa: F401

    STRATEGIES[alg]


def run(args, watch):
    """One experiment, from the flags to a finished run folder (see the module docstring). `watch` (a Stopwatch)
    has timed the imports; the data's and the set-up's seconds are added, and config.json's startup_seconds
    records all three."""
    import torch

    from learner import Learner
    from results import RunDir, data_fingerprint

    device = pick_device(args.device)
    seed = run_seed(args)
    data_seed, learn_seed, select_seed = seeds(seed, 3)
    data_rng = np.random.default_rng(data_seed)
    ds = load_run_data(args, data_rng)
    n_pool = len(ds.y_train)
    data_identity = data_fingerprint(ds, data_source(args))
    watch.lap("data")

    if args.aug and not ds.augment:
        warnings.warn(f"--aug 1 is defined for CIFAR10 only (random crops and flips of 32x32 images); {ds.name} is "
                      f"trained without augmentation (it is still recorded, so the run pools only with runs of "
                      f"--aug 1)", stacklevel=2)
    STRATEGIES[args.alg].warn_if_expensive(ds, args.model, args.nEmb, args.nQuery)
    learner = Learner(args.model, ds, device, torch.Generator().manual_seed(learn_seed), args.lr, args.nEmb,
                      args.maxEpochs, args.patience, kernel=args.kernel, select_on=args.select_on)
    labeled = np.zeros(n_pool, dtype=bool)
    initial = None if strategy_picks_first(args) else data_rng.choice(n_pool, first_batch(args), replace=False)
    if initial is not None:
        labeled[initial] = True
    strategy = build_strategy(args, learner.predictor, labeled, torch.Generator().manual_seed(select_seed))
    if strategy.extensions:
        learner.extend(strategy.extensions)
    watch.lap("setup")
    config = run_config(args, seed, device, ds, learner, data_identity, watch.seconds)
    run_dir = RunDir(Path(args.out) / run_name(args, seed))
    if run_dir.path.exists() and not run_dir.path.is_dir():
        raise UserError(f"{run_dir.path} is a file, not a run folder; move it away or use another --out")
    if args.resume and not run_dir.path.is_dir():
        raise UserError(f"--resume: there is no run folder {run_dir.path}; check --out and the flags that name "
                        f"the run (--data, --did, --model, --alg, --nQuery, --seed), or drop --resume")
    try:
        with run_folder_lock(run_dir.path):
            first = open_run_dir(run_dir, args, config, learner, strategy)
            if first is not None:
                run_rounds(args, run_dir, ds, learner, strategy, initial, first)
    except KeyboardInterrupt as e:
        raise type(e)(saved_rounds_note(run_dir)) from None
    except BrokenPipeError as e:  # stdout's reader ended, not a file's fault
        e.add_note(saved_rounds_note(run_dir))
        raise
    except (OSError, Warning) as e:  # a Warning: one that -W error made an exception
        e.add_note(after_failure(run_dir))
        raise
    return run_dir


def load_run_data(args, data_rng):
    """The data set of the flags (--imbalance applied), checked against --model, the batch sizes and the memory
    (UserError saying what to lower)."""
    import dataset

    ds = dataset.load(args.data, args.did, args.path, data_rng, args.trunc, args.aug, args.test)
    if args.imbalance is not None:
        ds = dataset.long_tail(ds, args.imbalance, data_rng)
    check_pool(args, ds)
    check_memory(args, ds)
    return ds


def check_pool(args, ds):
    """UserError when --model cannot take the data, the first batch does not fit its pool, --nEnd leaves it no
    query, or --nQuery does not fit the pool; checked after the pool is known, so that each hint can be followed."""
    if args.model in CONV_MODELS and not ds.is_image:
        raise UserError(f"--model {args.model} needs image data ({', '.join(IMAGE_NAMES)}: a table's features, "
                        f"an .npz's too, are flattened); use --model mlp or lin for {ds.name}")
    n_pool = len(ds.y_train)
    if first_batch(args) > n_pool:
        what = f"--nStart {args.nStart}" if args.nStart else f"the first batch (--nQuery {args.nQuery})"
        raise UserError(f"{what} is larger than the pool of {n_pool} points; lower it")
    check_n_end(args, n_pool)
    if n_query_rounds(args) and first_batch(args) == n_pool:
        raise UserError(f"the first batch of {n_pool} labels the whole pool of {n_pool} points, leaving none to "
                        f"query; lower --nStart, or --nEnd to {n_pool} to train once on all of it")
    if n_query_rounds(args) and not n_possible_rounds(args, n_pool):
        raise UserError(f"--nQuery {args.nQuery} is larger than the {n_pool - first_batch(args)} unlabelled points "
                        f"left after the first batch of {first_batch(args)} (pool of {n_pool}); lower --nQuery")


def check_n_end(args, n_pool):
    """UserError when --nEnd is below the first batch, or between it and one query more, with fixes that fit a
    pool of n_pool points (at least the first batch)."""
    first, left = first_batch(args), n_pool - first_batch(args)
    if args.nEnd < first:
        raise UserError(f"--nEnd ({args.nEnd}) is below the first batch ({first}: --nStart, or --nQuery when "
                        f"--nStart is 0); raise --nEnd")
    if first < args.nEnd < first + args.nQuery:
        fixes = [f"raise --nEnd to {first + args.nQuery}"] if args.nQuery <= left else []
        fixes += [f"lower --nQuery to at most {min(args.nEnd - first, left)}"] if left else []
        fixes += [f"give --nEnd {first} to train once on the first batch"]
        raise UserError(f"--nEnd {args.nEnd} leaves room for no query of --nQuery {args.nQuery} after the first batch "
                        f"of {first} (pool of {n_pool}); {', '.join(fixes[:-1])}{' or ' if fixes[:-1] else ''}"
                        f"{fixes[-1]}")


def run_config(args, seed, device, ds, learner, data_identity, startup_seconds):
    """config.json's contents: the flags, the seed and device used, the data's shape and identity, the trainer, the
    versions, the start time and a run id."""
    import torch

    return dict(vars(args), seed=seed, device=device, data_name=ds.name, n_pool=len(ds.y_train),
                n_test=len(ds.y_test), n_classes=ds.n_classes, class_names=ds.class_names,
                input_shape=list(ds.X_train.shape[1:]),
                trainer=learner.trainer, torch=torch.__version__, python=platform.python_version(),
                libraries=library_versions(),
                started=time.strftime("%Y-%m-%dT%H:%M:%S"), run_id=f"{time.time_ns():x}-{os.getpid()}",
                data_identity=data_identity, trainer_identity=learner.trainer_identity,
                startup_seconds=startup_seconds)


NOTHING_SAVED = "no round had finished, so nothing is saved"
UNOPENED = "the run folder was not opened yet, so nothing in it changed; continue with --resume"


def early_interrupt_note(args):
    """What a Ctrl-C before the run folder was opened (reading the flags (`args` None), importing, reading the data,
    setting up) leaves: with --resume, the folder as it was, finished rounds included; else no round of this run."""
    if args is None:
        return UNCHANGED_WHILE_STARTING["run.py"]
    return UNOPENED if args.resume else NOTHING_SAVED


def after_failure(run_dir):
    """What to do once the cause of an OSError in a run is fixed: continue with --resume from the last checkpoint;
    with none, run round 0 again, with --resume where the folder already holds the run's files (a plain command
    is refused there). A folder this user may not read (another user's) may hold finished rounds: --resume."""
    if run_dir.path.is_dir() and not os.access(run_dir.path, os.R_OK | os.X_OK):
        return f"continue with --resume (this user may not read {run_dir.path}, so its finished rounds are unknown)"
    if os.path.exists(run_dir.checkpoint):
        return "continue with --resume (every finished round is kept)"
    if run_dir.holds_results():
        return "run it again with --resume (no round had finished; it starts from round 0)"
    return "run it again (no round had finished)"


def saved_rounds_note(run_dir):
    """What an interrupted run leaves: the finished rounds (to continue with --resume), round 0's training snapshot,
    none, or the whole run (a Ctrl-C that came as it ended)."""
    n = len(run_dir.accuracies())
    if n == 0 and run_dir.training.exists():
        return (f"no round had finished; round 0's training so far is saved in {run_dir.training}: continue with "
                f"--resume")
    if n == 0:
        return NOTHING_SAVED
    rounds = f"{n} finished round{'s' * (n > 1)}"
    if run_dir.summary.exists():
        return f"the run had already ended; its {rounds} are saved in {run_dir.path}"
    return f"{rounds} saved in {run_dir.path}; continue with --resume"


def occupied(run_dir, config):
    """The refusal of a fresh start in a folder holding a run's files: its finished rounds, or (no checkpoint) a
    run that stopped in round 0 (a crash, a kill, a divergence); it names the flags in which that run differs from
    this command's `config` (runs that differ in --imbalance or a strategy parameter share a folder name)."""
    what = ("already holds results" if run_dir.checkpoint.exists() or run_dir.summary.exists()
            else "holds a run that stopped before its first round ended")
    try:
        was, now = changed_flags(run_dir.read_config(), config)
    except StateError:
        was = ""
    if was:  # --resume would refuse other flags: the fixes are the flags, --force or another folder
        return UserError(f"{run_dir.path} {what}, made with {was} (this command has {now}); give that run's flags "
                         f"with --resume to continue it, --force to overwrite it, or use another --out")
    return UserError(f"{run_dir.path} {what}; pass --resume to continue that run, --force to overwrite it, or use "
                     f"another --out")


def open_run_dir(run_dir, args, config, learner, strategy):
    """The first round to run: 0 in a fresh folder, or the one after the last checkpoint with --resume (the
    learner and strategy then continue from it); None when a resumed run has nothing left to do. A resume first
    checks that config.json, the checkpoint and the CSVs agree (RunDir.verify) and cuts off only lines written
    after the checkpoint. A resume before the first checkpoint starts afresh, keeping the run id, the segments,
    the first start's --kernel and the training snapshot of a first round cut off in its training
    (first_round_config)."""
    if args.resume:
        config = recorded_select_on(run_dir, config, strategy)
    if not args.resume or not run_dir.checkpoint.exists():
        if run_dir.holds_results() and not args.force and not args.resume:
            raise occupied(run_dir, config)
        kept = None
        if args.resume:
            run_dir.check_nothing_finished()
            kept = first_round_config(run_dir, config)
            print("run.py: no checkpoint: starting from round 0", file=sys.stderr)
            if kept:  # round 0 continues from its snapshot: with the trainer the run started with
                continue_trainer(learner, kept, run_dir, args.kernel)
        started = first_start(kept, config, run_dir)
        segments = [*(kept or {}).get("segments", []), segment(0, args, learner, config)]
        with interrupt_held():  # a fresh start (--force) replaces the folder's files whole
            run_dir.start(dict(config, **started, trainer=learner.trainer, trainer_identity=learner.trainer_identity,
                               segments=segments), keep=[run_dir.training] if kept else [])
        return 0
    old = run_dir.read_config()
    check_same_run(run_dir, old, config)
    segments = old.get("segments", [])  # none in an older version's run
    state = run_dir.load_checkpoint()
    owner = run_owner(old)
    longer = run_dir.verify(state, owner["run_id"], owner["identity"])
    summary = run_dir.read_summary(state, longer)
    run_dir.check_training(owner, state["round"] + 1)
    if not is_finished(summary, n_query_rounds(args)) and state["round"] > n_query_rounds(args):
        raise UserError(f"--resume: {run_dir.path} has run {state['round']} query rounds "
                        f"({first_batch(args) + state['round'] * args.nQuery} labelled), more than --nEnd and --rounds "
                        f"now allow ({n_query_rounds(args)}); raise them to continue it")
    if is_finished(summary, n_query_rounds(args)):
        print(f"run.py: {run_dir.path} is already finished", file=sys.stderr)
        return None
    check_trainer(state, old, run_dir.checkpoint)
    continue_trainer(learner, old, run_dir, args.kernel)
    restore_checkpoint(state, learner, strategy, run_dir.checkpoint)  # one that does not fit stops it here
    run_dir.cut_to(longer)  # only once nothing can refuse the resume: a refusal changes nothing
    run_dir.summary.unlink(missing_ok=True)
    continue_segment_flags(old, config, run_dir)
    run_dir.update_config({"nEnd": args.nEnd, "rounds": args.rounds,
                           "segments": [*segments, segment(state["round"] + 1, args, learner, config)]})
    for n_lab, acc in run_dir.accuracies():
        print(f"{n_lab}\ttesting accuracy {acc}", flush=True)
    print(f"run.py: resuming {run_dir.path} after round {state['round']}", file=sys.stderr)
    return state["round"] + 1


def recorded_select_on(run_dir, config, strategy):
    """This command's `config` with the folder's config.json's --select-on where kept_select_on keeps it."""
    try:
        old = run_dir.read_config() if run_dir.config.exists() else {}
    except StateError:  # the checks that follow name the broken file
        return config
    return kept_select_on(config, old, strategy)


def kept_select_on(config, recorded, strategy):
    """`config` with the --select-on input that a run's config.json (`recorded`) records for a `strategy` (class
    or instance) off the embedding, which ignores it (an older version recorded it; run.py now records model):
    such a run resumes, and a sweep reuses it, as it ran, with or without the flag given now."""
    if not strategy.on_embedding and recorded.get("select_on") == "input":
        return dict(config, select_on="input")
    return config


def first_round_config(run_dir, config):
    """The folder's config.json when it describes this same run (its identity hash, resume.run_identity) and
    training.pt is a training snapshot of it: a resume before the first checkpoint keeps its run id, segments and
    snapshot, and the first round's training continues from the snapshot. None otherwise (the folder then starts
    anew); UserError (check_same_run) when config.json names other flags or data than this command's, so that a
    typo does not throw the first round's training away."""
    if not os.path.lexists(run_dir.training):
        return None
    try:
        old = run_dir.read_config()
        owner = run_owner(old)
        if owner["identity"] != run_identity(config):
            check_same_run(run_dir, old, config)
            return None
        run_dir.check_training(owner, 0)
        return old
    except (StateError, KeyError, TypeError):
        return None


def first_start(kept, config, run_dir):
    """What a resume before the first checkpoint keeps of the run's first start (its config.json `kept`; None: the
    run starts anew and keeps nothing): the run id and the top-level --kernel, --threads and device, which name the
    first start's; a warning for another --threads or device now (continue_segment_flags), as in later rounds."""
    if not kept:
        return {}
    from results import SEGMENT_FLAGS

    continue_segment_flags(kept, config, run_dir)
    return {"run_id": run_owner(kept)["run_id"], **{k: kept.get(k, config[k]) for k in ("kernel", *SEGMENT_FLAGS)}}


def segment(first, args, learner, config):
    """config.json's record of one start or resume: the first round it runs and what it runs with."""
    return {"from_round": first, "threads": args.threads, "trainer": learner.trainer,
            "trainer_identity": learner.trainer_identity, "kernel": args.kernel, "device": config["device"],
            "started": time.strftime("%Y-%m-%dT%H:%M:%S")}


SEGMENT_PHRASES = {"threads": "with --threads {}", "device": "on {}"}  # how warnings name results.SEGMENT_FLAGS


def continue_segment_flags(old, config, run_dir):
    """A warning for each flag of SEGMENT_FLAGS with which a resumed run continues otherwise than it started (its
    config.json `old`, now `config`): another --threads, or another device (`--device auto` on another machine),
    rounds floats otherwise from here on; each segment of config.json records both."""
    from results import SEGMENT_FLAGS

    for key in SEGMENT_FLAGS:
        was, now = old.get(key), config[key]
        if was is not None and was != now:
            phrase = SEGMENT_PHRASES[key]
            warnings.warn(f"{run_dir.path} started {phrase.format(was)} and continues {phrase.format(now)}; its float "
                          f"rounding, and so its picks, can differ from here on (config.json's segments record each "
                          f"part's {key})", stacklevel=2)


def continue_trainer(learner, old, run_dir, kernel):
    """A resumed run trains as it started (its config.json `old`: trainer; runs older than the field trained with
    PyTorch): PyTorch when it started with it, whatever --kernel (`kernel`) says now (a warning when that is `on`);
    a warning when it started with the compiled epoch and that is not used here, or another build of it is
    (trainer_identity: another CPU or compiler, e.g. on another machine): its rounding differs from here on."""
    if old.get("trainer", "torch") == "torch":
        if kernel == "on" and learner.trainer == "compiled":
            warnings.warn(f"{run_dir.path} started with PyTorch's training, and a resumed run trains as it started: "
                          f"--kernel on does not apply to it (start it again with --force to train it compiled)",
                          stacklevel=2)
        learner.train_with_torch()
    elif learner.trainer != "compiled":
        warnings.warn(f"{run_dir.path} started with the compiled mlp epoch, which is not used here (--kernel off or "
                      f"no working C compiler); it continues with PyTorch, whose float rounding differs", stacklevel=2)
    elif old.get("trainer_identity", learner.trainer_identity) != learner.trainer_identity:
        warnings.warn(f"{run_dir.path} started with another build of the compiled mlp epoch than this one (another "
                      f"CPU or compiler: config.json's trainer_identity); its float rounding, and so its picks, can "
                      f"differ from here on (config.json's segments record each part's build)", stacklevel=2)


def run_rounds(args, run_dir, ds, learner, strategy, initial, first):
    """Rounds `first`.. on data set `ds`: query (after round 0; in round 0 too when `initial` is None, a cold start
    the strategy picks), train, test; each round's rows and a checkpoint are saved before the next begins. A
    round's training in progress is saved every --snapshotEvery seconds (results.TrainingSnapshot, training.pt)
    until its checkpoint replaces it."""
    from metrics import accuracy, balanced_accuracy, labels_of_class, rarest_class
    from query_strategies.selection import picks, reporting
    from results import TrainingSnapshot

    y_pool, y_test = ds.y_train.numpy(), ds.y_test.numpy()
    rarest = rarest_class(y_pool, ds.n_classes)
    n_rounds = n_query_rounds(args)
    stop, done = ("rounds" if rounds_cap_binds(args) else "budget"), first - 1
    config = run_dir.read_config()
    owner = run_owner(config)
    if first == 0 and args.nStart == 0 and not STRATEGIES[args.alg].label_free:
        print(COLD_RANDOM.format(args.alg, args.nQuery), file=sys.stderr)
    with progress_bar(total=n_possible_rounds(args, strategy.n_pool) + 1, initial=first, unit="round",
                      file=sys.stderr, desc=f"{args.alg} on {ds.name}") as bar:
        for rd in range(first, n_rounds + 1):
            row = {"round": rd, "infer_seconds": 0.0, "select_seconds": 0.0, "query_seconds": 0.0}
            if rd == 0 and initial is not None:
                queried = picks(initial)
            elif rd > 0 and (~strategy.labeled).sum() < args.nQuery:
                stop = "pool exhausted"
                break
            else:
                with reporting(query_progress(bar)):
                    queried = timed_query(strategy, learner.predictor, args.nQuery, row)
                strategy.update(queried.index)
            snapshot = TrainingSnapshot(run_dir.training, owner, rd, args.snapshotEvery)
            try:
                res = learner.train(strategy.labeled_idx(), snapshot, training_progress(bar))
            except TrainingDiverged as e:
                raise TrainingDiverged(f"round {rd}: {e}; " + (f"the rounds before it are saved in {run_dir.path}" if rd
                                       else "no round had finished: start again with --force"))
            strategy.trained()
            start = time.perf_counter()
            predicted = learner.test_predictions().cpu().numpy()
            acc = accuracy(predicted, y_test)
            n_lab = int(strategy.labeled.sum())
            row.update(n_labeled=n_lab, test_acc=acc, balanced_acc=balanced_accuracy(predicted, y_test),
                       rarest_labeled=labels_of_class(y_pool, strategy.labeled, rarest),
                       train_acc=res.train_acc, train_epochs=res.epochs,
                       train_stop=res.stop, restarts=res.restarts, train_seconds=res.seconds,
                       test_seconds=time.perf_counter() - start)
            with interrupt_held():
                run_dir.append_round(row, queried, ds.rows)
                run_dir.save_checkpoint(checkpoint_state(rd, config, learner, strategy))
                snapshot.remove()
                bar.set_postfix(acc=f"{acc:.4f}", n=n_lab, refresh=False)
                tqdm.write(f"{n_lab}\ttesting accuracy {acc}", file=sys.stdout)
                sys.stdout.flush()
                tqdm.write(f"round {rd}: {n_lab} labelled, train {res.seconds:.2f} s ({res.epochs} epochs), "
                           f"test {row['test_seconds']:.2f} s, query {row['query_seconds']:.2f} s (inference "
                           f"{row['infer_seconds']:.2f} s + selection {row['select_seconds']:.2f} s)", file=sys.stderr)
                bar.update()
            done = rd
    with interrupt_held():
        del bar  # its __del__ runs now, not as run_rounds returns: Python prints and ignores a Ctrl-C that lands in it
    n_lab = int(strategy.labeled.sum())
    run_dir.finish({"finished": True, "stopped_by": stop, "rounds": done, "n_labeled": n_lab})
    print(f"run.py: done: {done} query round{'s' * (done != 1)}, {n_lab} labelled, {stop_note(stop, args, n_lab)}; "
          f"results in {run_dir.path}", file=sys.stderr)


STOP_REASONS = {"budget": "budget (--nEnd) reached", "rounds": "--rounds reached",
                "pool exhausted": "pool exhausted (fewer than {} unlabelled points left)"}


def stop_note(stop, args, n_lab):
    """Why the run stopped (STOP_REASONS), for its last line; a budget that a whole query would pass says so."""
    if stop == "budget" and n_lab < args.nEnd:
        return f"budget (--nEnd {args.nEnd}) reached: one more query of {args.nQuery} would pass it"
    return STOP_REASONS[stop].format(args.nQuery)


PROGRESS_SECONDS = {True: 0.5, False: 60.0}  # how often a long step shows on the bar: on a terminal, in a log file


def bar_note(bar):
    """show(text): `text` as the bar's postfix, the first at once, then at most every PROGRESS_SECONDS (a log file,
    where each is a new line, gets one a minute)."""
    interval, shown = PROGRESS_SECONDS[sys.stderr.isatty()], [-math.inf]

    def show(text):
        if time.monotonic() - shown[0] >= interval:
            shown[0] = time.monotonic()
            with interrupt_held():
                bar.set_postfix_str(text)
    return show


def query_progress(bar):
    """A selection.reporting callback that shows `query: stage done/total` on the run's bar (bar_note)."""
    show = bar_note(bar)
    return lambda stage, done, total: show(f"query: {stage} {done}/{total}")


def training_progress(bar):
    """A Trainer.train report callback that shows `train: epoch E, accuracy A (best B)` on the run's bar
    (bar_note): a round that trains for an hour shows that it goes on."""
    show = bar_note(bar)

    def report(progress, acc):
        best = f" (best {progress.best:.3f})" if progress.best >= 0 else ""
        show(f"train: epoch {progress.epoch:,}, accuracy {acc:.3f}{best}")
    return report


def timed_query(strategy, predictor, n, row):
    """The strategy's Picks (pool indices and scores), checked; fills the row's inference (time spent in
    `predictor`) / selection / total query seconds."""
    inferred = predictor.infer_seconds
    start = time.perf_counter()
    picked = strategy.query(n)
    row["query_seconds"] = time.perf_counter() - start
    row["infer_seconds"] = predictor.infer_seconds - inferred
    row["select_seconds"] = row["query_seconds"] - row["infer_seconds"]
    return picked


def where_written(filename, args):
    """The flag or setting that chose where `filename` is: $BADGE_CACHE for a file in the project cache, --data or
    --test for the file it names, --path for a file under it, else --out."""
    from datacache import cache_dir

    if not filename:
        return "--out"
    path = Path(os.path.abspath(filename))
    if path.is_relative_to(os.path.abspath(cache_dir())):
        return "the cache folder, $BADGE_CACHE"
    for flag in ("data", "test"):
        if getattr(args, flag) and os.path.abspath(getattr(args, flag)) == str(path):
            return f"--{flag}"
    if path.is_relative_to(os.path.abspath(args.path)) and not path.is_relative_to(os.path.abspath(args.out)):
        return "--path"
    return "--out"


# The signals that stop a run with a line (Ctrl-C's, `kill`'s or a batch scheduler's, a closed terminal's)
HELD = (signal.SIGINT, signal.SIGTERM, *HANGUP)


@contextmanager
def interrupt_held():
    """Ctrl-C (SIGINT), SIGTERM and SIGHUP held back until the block ends, then delivered: a round's files and lines
    are written whole, and tqdm's two-part write lock is never left half-taken (its release would then fail instead
    of the interrupt being reported)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = {signum: signal.signal(signum, lambda signum, frame: caught.append(signum)) for signum in HELD}
    try:
        yield
    finally:
        put_back(previous)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


@contextmanager
def progress_bar(**kwargs):
    """A tqdm bar opened and closed with Ctrl-C held back (see interrupt_held)."""
    with interrupt_held():
        bar = tqdm(**kwargs)
    try:
        yield bar
    finally:
        with interrupt_held():
            bar.close()


def show_warning(message, category, filename, lineno, file=None, line=None):
    """A warning as its own `warning: ...` line on stderr, above the progress bar (never glued to it)."""
    with interrupt_held():
        tqdm.write(f"warning: {message}", file=sys.stderr)


def main(argv=None):
    args = None  # until the flags are read: a Ctrl-C then has changed nothing
    ended = []  # the run folder once run() has returned: a Ctrl-C after that says the run had ended
    try:
        args = build_parser().parse_args(argv)
        given = given_flags(sys.argv[1:] if argv is None else [str(a) for a in argv])
        args.alg = ALIASES.get(args.alg, args.alg)  # an alias runs, and names its folder, as the strategy it names
        check_flags(args, given)
        watch = Stopwatch()
        import_libraries(args.alg)
        check_selection_flags(args, given)
        watch.lap("imports")
        from query_strategies.selection import thread_limit

        with thread_limit(max(args.threads, 1)), threadpool_limits(max(args.threads, 1)), warnings.catch_warnings():
            warnings.simplefilter("always", GuardWarning)  # each round's, though words repeat (default: once)
            ended.append(run(args, watch))
    except UserError as e:
        print(f"run.py: error: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"run.py: training diverged in {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        note = str(e) or (saved_rounds_note(ended[0]) if ended else early_interrupt_note(args))
        stopped, code = stopped_by(e)
        print(f"run.py: {stopped}; {note}", file=sys.stderr)
        return code
    except BrokenPipeError as e:  # `run.py | head -1`: the reader of its output ended, and so does the run
        stdout_to_devnull()
        note = e.__notes__[0] if getattr(e, "__notes__", None) else early_interrupt_note(args)
        print(f"run.py: stopped: the reader of its output ended (a closed pipe); {note}", file=sys.stderr)
        return 1
    except OSError as e:
        then = e.__notes__[0] if getattr(e, "__notes__", None) else "run it again"
        causes = ("the file-size limit: ulimit -f" if e.errno == errno.EFBIG
                  else f"disk space, permissions, {where_written(e.filename, args)}")
        print(f"run.py: error: {e.filename or 'a file'}: {e.strerror or e}; fix the cause ({causes}) and {then}",
              file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as e:
        if not out_of_memory(e):
            raise
        print("run.py: error: out of memory; lower --nEmb, --nQuery or the data size", file=sys.stderr)
        return 2
    return 0


def out_of_memory(e):
    """Whether the exception is a failed allocation: Python's MemoryError, or torch's on the CPU or a GPU (torch's
    only once it is imported)."""
    torch = sys.modules.get("torch")
    errors = (MemoryError,) + ((torch.OutOfMemoryError,) if torch else ())
    return isinstance(e, errors) or "can't allocate memory" in str(e)


def cli():
    """The console command (`badge-run`, or `python run.py`): warnings on their own lines, Ctrl-C, SIGTERM and
    SIGHUP (unless `nohup` ignores it) stopping the run with a line that says what is saved, main's exit code."""
    warnings.showwarning = show_warning
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stop_on_terminate()
    exit_with(lambda: exit_quietly(main()))


def exit_quietly(code):
    """main's exit code `code`, with Ctrl-C, SIGTERM and SIGHUP ignored from now on: main has said how the run
    ended, and any of them while the interpreter shuts down (seconds with torch loaded) would print a traceback or
    end the process with another code."""
    for signum in HELD:
        signal.signal(signum, signal.SIG_IGN)
    return code


if __name__ == "__main__":
    cli()
