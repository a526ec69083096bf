"""Measured effects of the deliberate differences from the original (docs/FIDELITY.md); prints one table.

    python bench/fidelity.py [--path ../shared/data] [--seed 1]

- MC dropout on the mlp (no dropout layers): the original's 10 passes are identical, so its `conf_dropout`,
  `marg_dropout` and `entropy_dropout` pick what `conf`, `marg` and `entropy` pick; ours drops embedding units.
  Measured: the share of our dropout picks that the plain strategy also picks (1.0 = no effect).
- BatchNorm recalibration: a ResNet trained on 100 MNIST images, eval-mode accuracy on those images and on the
  first 2,000 test images with its momentum running statistics (the original) and after the recalibration (ours).
- Iteration caps: how many unlabelled points BIM (100 steps) and DeepFool (50 steps) leave on their class; BIM
  ranks them last, DeepFool scores them where they stopped (as the original).
- The compiled mlp epoch (kernels/) rounds differently from the PyTorch path (and the original's autograd): over
  ten seeds, each training a fresh mlp on --nStart random points with both, the mean test accuracy and epochs.
The networks train as in a run (to 99 % training accuracy, capped at --maxEpochs), on --nStart random points."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # the project's modules, from the repository root

from bench import flags  # noqa: E402

flags.starting(__name__)

import functools  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import dataset  # noqa: E402
from strategy_params import non_negative, positive  # noqa: E402
from errors import UserError  # noqa: E402
from learner import Learner  # noqa: E402
from query_strategies import STRATEGIES  # noqa: E402
from query_strategies.adversarial_bim import bim_perturbations  # noqa: E402
from query_strategies.adversarial_deepfool import deepfool_perturbations  # noqa: E402
from training import recalibrate_batchnorm  # noqa: E402

DROPOUT_DATA = (("digits", 0), ("", 6))  # (--data, --did) of the MC-dropout and iteration-cap rows
TRAINER_DATA = (("MNIST", 0), ("", 6))  # of the compiled-epoch rows
BATCHNORM_DATA = ("MNIST", 0)  # of the BatchNorm row
DATA = tuple(dict.fromkeys((*DROPOUT_DATA, *TRAINER_DATA, BATCHNORM_DATA)))  # every one the table reads, digits first
print = functools.partial(print, flush=True)  # each row out as soon as it is measured (minutes apart)


def trained_learner(data, did, model, args):
    """A Learner on the data set, trained on args.nStart random pool points; (data set, learner, labelled mask)."""
    rng = np.random.default_rng(args.seed)
    ds = dataset.load(data, did, args.path, rng)
    learner = Learner(model, ds, "cpu", torch.Generator().manual_seed(args.seed), max_epochs=args.maxEpochs)
    labeled = np.zeros(len(ds.y_train), dtype=bool)
    labeled[rng.choice(len(labeled), args.nStart, replace=False)] = True
    learner.train(np.flatnonzero(labeled))
    return ds, learner, labeled


def dropout_overlap(learner, labeled, seed, n):
    """{plain: |dropout picks ∩ plain picks| / n} for conf, marg, entropy."""
    picks = {alg: set(STRATEGIES[alg](learner.predictor, labeled, torch.Generator().manual_seed(seed))
                      .query(n).index.tolist())
             for alg in ("conf", "marg", "entropy", "conf_dropout", "marg_dropout", "entropy_dropout")}
    return {alg: len(picks[alg] & picks[alg + "_dropout"]) / n for alg in ("conf", "marg", "entropy")}


def eval_accuracy(model, X, y):
    """The eval-mode accuracy of `model` on (X, y)."""
    with torch.no_grad():
        return float((model.eval()(X)[0].argmax(1) == y).double().mean())


def batchnorm_effect(args):
    """Eval-mode accuracy (own training images, test images) of a ResNet on args.nStart MNIST images, before and
    after recalibrate_batchnorm."""
    rng = np.random.default_rng(args.seed)
    ds = dataset.load(*BATCHNORM_DATA, args.path, rng)
    learner = Learner("resnet", ds, "cpu", torch.Generator().manual_seed(args.seed))
    idx = torch.as_tensor(rng.choice(len(ds.y_train), args.nStart, replace=False))
    X, y = ds.X_train[idx], ds.y_train[idx]
    model = learner.training.fresh_model()
    epoch = learner.training.engine.epoch_function(model, X, y)
    epochs, acc = 0, 0.0
    while acc < 0.99 and epochs < args.maxEpochs:
        acc, epochs = epoch(), epochs + 1
    X_test, y_test = ds.X_test[:2000], ds.y_test[:2000]
    before = (eval_accuracy(model, X, y), eval_accuracy(model, X_test, y_test))
    recalibrate_batchnorm(model, X, ds.train_batch)
    return epochs, acc, before, (eval_accuracy(model, X, y), eval_accuracy(model, X_test, y_test))


def trainer_agreement(data, did, args, seeds=10):
    """Mean test accuracy and epochs of an mlp trained with the compiled epoch and with PyTorch, on the same
    `seeds` random labelled sets and initial weights; returns (data name, {trainer: (accuracy, epochs)}, largest
    accuracy difference of a pair)."""
    ds = dataset.load(data, did, args.path, np.random.default_rng(args.seed))
    runs = {"compiled": [], "torch": []}
    for seed in range(args.seed, args.seed + seeds):
        idx = np.random.default_rng(seed).choice(len(ds.y_train), args.nStart, replace=False)
        for trainer, kernel in (("compiled", "on"), ("torch", "off")):
            learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(seed), max_epochs=args.maxEpochs,
                              kernel=kernel)
            res = learner.train(idx)
            runs[trainer].append((learner.test_accuracy(), res.epochs))
    gap = max(abs(a[0] - b[0]) for a, b in zip(runs["compiled"], runs["torch"]))
    return ds.name, {t: np.mean(r, axis=0) for t, r in runs.items()}, gap


def not_flipped(ds, learner, labeled):
    """How many unlabelled pool points BIM (≤ 100 steps) and DeepFool (≤ 50 steps) leave on their class, and n."""
    X = ds.X_train[torch.as_tensor(np.flatnonzero(~labeled))]
    bim = torch.cat([bim_perturbations(learner.model, part)[1] for part in X.split(500)])
    deepfool = torch.cat([deepfool_perturbations(learner.model, part)[1] for part in X.split(500)])
    return int((~bim).sum()), int((~deepfool).sum()), len(X)


def main():
    """Check the flags, then print the table (a data or size problem: one line)."""
    p = flags.parser(__doc__)
    flags.add_path(p, "MNIST and OpenML's letter (openml/6.csv)")
    p.add_argument("--seed", type=non_negative(int), default=1, help="seed of the labelled sets and the networks")
    p.add_argument("--nStart", type=positive(int), default=100, help="random labelled points each network trains on")
    p.add_argument("--nQuery", type=positive(int), default=100, help="picks compared per strategy")
    p.add_argument("--maxEpochs", type=positive(int), default=2000, help="cap on each training's epochs")
    args = p.parse_args()
    torch.set_num_threads(1)
    flags.require_kernel()  # its rows come last, minutes into the table
    try:
        for data, did in DATA:  # each found (and decoded into the cache) before the first row's minutes of work
            check_pool(dataset.load(data, did, args.path, np.random.default_rng(args.seed)), args)
        table(args)
    except UserError as e:
        p.error(str(e))


def check_pool(ds, args):
    """UserError when the pool of `ds` cannot hold --nStart labels and --nQuery picks."""
    if args.nStart + args.nQuery > len(ds.y_train):
        raise UserError(f"--nStart plus --nQuery is {args.nStart + args.nQuery}, more than the "
                        f"{len(ds.y_train)} points of the pool of {ds.name}")


def table(args):
    """Print the table, row by row, after the machine and date."""
    print(flags.conditions())
    print("| difference | data, model | measured |\n|---|---|---|")
    for data, did in DROPOUT_DATA:
        ds, learner, labeled = trained_learner(data, did, "mlp", args)
        name = ds.name
        overlap = dropout_overlap(learner, labeled, args.seed, args.nQuery)
        print(f"| MC dropout on a net without dropout | {name}, mlp, {args.nStart} labels, {args.nQuery} picks | "
              + ", ".join(f"{alg}_dropout picks shared with {alg}: {v:.2f}" for alg, v in overlap.items()) + " |")
        bim, deepfool, n = not_flipped(ds, learner, labeled)
        print(f"| iteration caps | {name}, mlp, {n} unlabelled points | not flipped by BIM in 100 steps: {bim}; "
              f"by DeepFool in 50 steps: {deepfool} |")
    for data, did in TRAINER_DATA:
        name, means, gap = trainer_agreement(data, did, args)
        print(f"| compiled mlp epoch | {name}, mlp, {args.nStart} labels, 10 seeds | mean test accuracy (epochs): "
              + ", ".join(f"{t} {acc:.4f} ({epochs:.0f})" for t, (acc, epochs) in means.items())
              + f"; largest difference of a pair {gap:.4f} |")
    epochs, acc, before, after = batchnorm_effect(args)
    print(f"| BatchNorm recalibration | MNIST, resnet, {args.nStart} images ({epochs} epochs, training accuracy "
          f"{acc:.2f}) | eval accuracy on its training images / 2,000 test images: the training's running statistics "
          f"{before[0]:.2f} / {before[1]:.2f}, recalibrated {after[0]:.2f} / {after[1]:.2f} |")


if __name__ == "__main__":
    flags.command(main)
