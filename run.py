"""Batch active-learning experiment runner (BADGE, Ash et al. 2020; BAIT, Ash et al. 2021).

    python run.py --model mlp --nQuery 100 --data MNIST --path ../shared/data --alg badge

Round 0 labels --nStart random pool points; every round trains a fresh network on the labelled points, prints
`<n labelled>\\ttesting accuracy <acc>`, and the strategy picks --nQuery more. Results go to
OUT/<data>_<model>_<alg>_<nQuery>_seed<seed>/ (config.json, rounds.csv, queries.csv)."""
import argparse
import json
import math
import platform
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import dataset
from dataset import UserError
from learner import Learner, TrainingDiverged
from model import CNNS, CONV_MODELS, MODELS
from query_strategies import STRATEGIES
from results import RunDir
from runlock import run_folder_lock


class Parser(argparse.ArgumentParser):
    def error(self, message):
        """One line, no usage block."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser():
    p = Parser(prog="run.py", description=__doc__.split("\n\n")[0],
               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--alg", default="rand", choices=sorted(STRATEGIES), metavar="ALG",
                   help=f"selection strategy: {', '.join(sorted(STRATEGIES))}")
    p.add_argument("--did", type=int, default=0,
                   help="OpenML data set id; > 0 overrides --data (with --model mlp or lin only)")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate")
    p.add_argument("--model", default="mlp", choices=MODELS, help="network: " + ", ".join(MODELS))
    p.add_argument("--path", default="data", help="data folder: torchvision files, OpenML cache, PATH/openml/<did>.csv")
    p.add_argument("--data", default="", help="digits (default), MNIST, FashionMNIST, SVHN, CIFAR10, "
                   "a .csv file (label in the last column) or a .npz file (arrays X, y)")
    p.add_argument("--nQuery", type=int, default=100, help="points labelled per round")
    p.add_argument("--nStart", type=int, default=100, help="initial random labels")
    p.add_argument("--nEnd", type=int, default=50000, help="label budget")
    p.add_argument("--nEmb", type=int, default=128, help="MLP hidden / embedding width")
    p.add_argument("--rounds", type=int, default=0, help="cap on query rounds (0 = none)")
    p.add_argument("--trunc", type=int, default=-1,
                   help="keep this many random pool points, then only classes 0-9 (-1 = all)")
    p.add_argument("--aug", type=int, default=0, choices=(0, 1),
                   help="1 = CIFAR10 train-time augmentation (random crop 32, padding 4, horizontal flip)")
    p.add_argument("--dummy", type=int, default=1, help="replicate index for shell sweeps; the seed when --seed is absent")
    p.add_argument("--seed", type=int, default=None, help="seed of every random draw (default: --dummy)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto = CUDA when available, else CPU")
    p.add_argument("--out", default="results", help="results folder")
    p.add_argument("--maxEpochs", type=int, default=2000, help="epoch cap per round (a warning when hit)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in the output folder from its last finished round")
    p.add_argument("--force", action="store_true", help="overwrite an existing run folder")
    return p


def check_flags(args):
    """Flag values that are wrong before any data is read."""
    if args.nQuery <= 0:
        raise UserError(f"--nQuery must be positive, got {args.nQuery}")
    if args.nStart <= 0:
        raise UserError(f"--nStart must be positive, got {args.nStart}")
    if args.nEnd < args.nStart:
        raise UserError(f"--nEnd ({args.nEnd}) is below --nStart ({args.nStart}); raise --nEnd")
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise UserError(f"--lr must be a positive finite number, got {args.lr}")
    if not args.out.strip():
        raise UserError("--out is empty; name a results folder, e.g. --out results")
    if args.resume and args.force:
        raise UserError("--resume continues a run and --force overwrites it; pass only one of them")
    if args.nEmb <= 0 or args.maxEpochs <= 0 or args.rounds < 0:
        raise UserError("--nEmb and --maxEpochs must be positive and --rounds at least 0")
    if args.did > 0 and args.model in CONV_MODELS:
        raise UserError(f"--did (tabular OpenML data) works only with --model mlp or lin, not {args.model}")
    if args.model == "cnn" and args.did <= 0 and args.data not in CNNS:
        raise UserError(f"--model cnn is defined for {', '.join(CNNS)}; use mlp or lin for {args.data or 'digits'}")


def pick_device(name):
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but no CUDA device is available; use --device cpu")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def data_label(args):
    """openml<did>, a data file's stem (suffix matched in any case) made safe as a folder name, else the name."""
    if args.did > 0:
        return f"openml{args.did}"
    if args.data.lower().endswith((".csv", ".npz")):
        return safe_label(Path(args.data).stem)
    return args.data or "digits"


def safe_label(text):
    """`text` with every character outside [A-Za-z0-9._-] replaced by '_', leading dots and dashes dropped, at
    most 64 characters ('data' when nothing is left): never a path, a hidden name or an option."""
    label = re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip(".-")[:64]
    return label or "data"


def run_name(args, seed):
    """The run folder's name: <data>_<model>_<alg>_<nQuery>_seed<seed>."""
    return f"{data_label(args)}_{args.model}_{args.alg}_{args.nQuery}_seed{seed}"


def seeds(seed, n):
    """n independent 63-bit seeds derived from one."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n, dtype=np.uint64) >> np.uint64(1)]


def n_query_rounds(args):
    """(nEnd − nStart) / nQuery query rounds, or --rounds when it is positive."""
    return args.rounds if args.rounds > 0 else (args.nEnd - args.nStart) // args.nQuery


def n_possible_rounds(args, n_pool):
    """Query rounds that will run: n_query_rounds, but none once fewer than nQuery unlabelled points remain."""
    return min(n_query_rounds(args), (n_pool - args.nStart) // args.nQuery)


# Options that must match when a run is resumed (nEnd and rounds may grow: the run then goes on further).
RESUME_KEYS = ("alg", "data_name", "model", "nQuery", "nStart", "nEmb", "lr", "trunc", "aug", "seed", "maxEpochs")


def run(args):
    """One experiment, from the flags to a finished run folder (see the module docstring)."""
    check_flags(args)
    device = pick_device(args.device)
    seed = args.dummy if args.seed is None else args.seed
    data_seed, learn_seed, select_seed = seeds(seed, 3)
    data_rng = np.random.default_rng(data_seed)
    ds = dataset.load(args.data, args.did, args.path, data_rng, args.trunc, args.aug)
    if args.model in CONV_MODELS and not ds.is_image:
        raise UserError(f"--model {args.model} needs image data; use --model mlp or lin for {ds.name}")
    n_pool = len(ds.y_train)
    if args.nStart > n_pool:
        raise UserError(f"--nStart {args.nStart} is larger than the pool of {n_pool} points; lower --nStart")

    learner = Learner(args.model, ds, device, torch.Generator().manual_seed(learn_seed), args.lr, args.nEmb,
                      args.maxEpochs)
    labeled = np.zeros(n_pool, dtype=bool)
    initial = data_rng.choice(n_pool, args.nStart, replace=False)
    labeled[initial] = True
    strategy = STRATEGIES[args.alg](learner, labeled, torch.Generator().manual_seed(select_seed), args)
    config = dict(vars(args), seed=seed, device=device, data_name=ds.name, n_pool=n_pool,
                  n_test=len(ds.y_test), n_classes=ds.n_classes, input_shape=list(ds.X_train.shape[1:]),
                  torch=torch.__version__, python=platform.python_version(),
                  started=time.strftime("%Y-%m-%dT%H:%M:%S"))
    run_dir = RunDir(Path(args.out) / run_name(args, seed))
    if args.resume and not run_dir.path.is_dir():
        raise UserError(f"--resume: there is no run folder {run_dir.path}; check --out and the flags that name "
                        f"the run (--data, --did, --model, --alg, --nQuery, --seed), or drop --resume")
    with run_folder_lock(run_dir.path):
        first = open_run_dir(run_dir, args, config, learner, strategy)
        if first is not None:
            run_rounds(args, run_dir, learner, strategy, initial, first)
    return run_dir


def open_run_dir(run_dir, args, config, learner, strategy):
    """The first round to run: 0 in a fresh folder, or the one after the last checkpoint with --resume (the
    learner and strategy then continue from it); None when a resumed run has nothing left to do."""
    if not args.resume or not run_dir.checkpoint.is_file():
        if run_dir.rounds.exists() and not args.force and not args.resume:
            raise UserError(f"{run_dir.path} already holds results; pass --resume to continue that run, "
                            f"--force to overwrite it, or use another --out")
        run_dir.start(config)
        return 0
    check_same_run(run_dir, config)
    state = run_dir.load_checkpoint()
    summary = run_dir.read_summary()
    if summary and (summary["stopped_by"] == "pool exhausted" or summary["rounds"] >= n_query_rounds(args)):
        print(f"run.py: {run_dir.path} is already finished", file=sys.stderr)
        return None
    run_dir.truncate_to(state["round"])
    run_dir.update_config({"nEnd": args.nEnd, "rounds": args.rounds})
    learner.model = learner.fresh_model()
    learner.model.load_state_dict(state["model"])
    learner.model.eval()
    learner.gen.set_state(state["learner_gen"])
    strategy.gen.set_state(state["strategy_gen"])
    strategy.load_state_dict(state["strategy"])
    for n_lab, acc in run_dir.accuracies():
        print(f"{n_lab}\ttesting accuracy {acc}", flush=True)
    print(f"run.py: resuming {run_dir.path} after round {state['round']}", file=sys.stderr)
    return state["round"] + 1


def check_same_run(run_dir, config):
    old = json.loads(run_dir.config.read_text())
    for key in RESUME_KEYS:
        if old.get(key) != config[key]:
            raise UserError(f"{run_dir.path} was started with {key}={old.get(key)!r}, not {config[key]!r}; "
                            f"resume with the same flags or use another --out")


def run_rounds(args, run_dir, learner, strategy, initial, first):
    """Rounds `first`.. : query (after round 0), train, test; each round's rows and a checkpoint are saved
    before the next begins."""
    n_rounds = n_query_rounds(args)
    stop, done = ("budget" if args.rounds <= 0 else "rounds"), first - 1
    with tqdm(total=n_possible_rounds(args, strategy.n_pool) + 1, initial=first, unit="round", file=sys.stderr,
              desc=f"{args.alg} on {learner.ds.name}") as bar:
        for rd in range(first, n_rounds + 1):
            row = {"round": rd, "infer_seconds": 0.0, "select_seconds": 0.0, "query_seconds": 0.0}
            if rd == 0:
                queried = initial
            elif (~strategy.labeled).sum() < args.nQuery:
                tqdm.write("too few remaining points to query", file=sys.stderr)
                stop = "pool exhausted"
                break
            else:
                queried = timed_query(strategy, learner, args.nQuery, row)
                strategy.update(queried)
            try:
                res = learner.train(strategy.labeled_idx())
            except TrainingDiverged as e:
                raise TrainingDiverged(f"round {rd}: {e}; the rounds before it are saved in {run_dir.path}")
            strategy.trained()
            start = time.perf_counter()
            acc = learner.test_accuracy()
            n_lab = int(strategy.labeled.sum())
            row.update(n_labeled=n_lab, test_acc=acc, train_acc=res.train_acc, train_epochs=res.epochs,
                       epoch_cap_hit=res.capped, restarts=res.restarts, train_seconds=res.seconds,
                       test_seconds=time.perf_counter() - start)
            run_dir.append_round(row, queried)
            run_dir.save_checkpoint({"round": rd, "model": learner.model.state_dict(),
                                     "learner_gen": learner.gen.get_state(), "strategy_gen": strategy.gen.get_state(),
                                     "strategy": strategy.state_dict()})
            tqdm.write(f"{n_lab}\ttesting accuracy {acc}", file=sys.stdout)
            sys.stdout.flush()
            tqdm.write(f"round {rd}: {n_lab} labelled, train {res.seconds:.2f} s ({res.epochs} epochs), "
                       f"test {row['test_seconds']:.2f} s, inference {row['infer_seconds']:.2f} s, "
                       f"query {row['select_seconds']:.2f} s", file=sys.stderr)
            bar.set_postfix(acc=f"{acc:.4f}", n=n_lab, refresh=False)
            bar.update()
            done = rd
    run_dir.finish({"finished": True, "stopped_by": stop, "rounds": done,
                    "n_labeled": int(strategy.labeled.sum())})


def timed_query(strategy, learner, n, row):
    """The strategy's picks, checked; fills the row's inference / selection / total query seconds."""
    learner.infer_seconds = 0.0
    start = time.perf_counter()
    picked = np.asarray(strategy.query(n), dtype=np.int64)
    row["query_seconds"] = time.perf_counter() - start
    row["infer_seconds"] = learner.infer_seconds
    row["select_seconds"] = row["query_seconds"] - learner.infer_seconds
    if len(picked) != n or len(np.unique(picked)) != n or strategy.labeled[picked].any():
        raise RuntimeError(f"{strategy.name} returned {len(picked)} picks, not {n} distinct unlabelled points")
    return picked


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except UserError as e:
        print(f"run.py: error: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"run.py: training diverged in {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("run.py: interrupted; finished rounds are saved", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"
    sys.exit(main())
