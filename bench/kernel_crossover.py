"""Where the compiled mlp epoch beats PyTorch: ms per step of both on synthetic inputs of width d with a given share
of entries that differ from their feature's minimum (0 here), one thread, the two paths' epochs alternated;
prints a table.

    python bench/kernel_crossover.py [--epochs 20]

The kernel's cost grows with those entries, PyTorch's with all d; kernels.pays_off picks the kernel when a row has
at most 0.6·d + 9000/batch of them on average (the last column)."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # the project's modules, from the repository root

from bench import flags  # noqa: E402

flags.starting(__name__)

import time  # noqa: E402
import warnings  # noqa: E402

import torch  # noqa: E402

import dataset  # noqa: E402
import kernels  # noqa: E402
from strategy_params import positive  # noqa: E402
from learner import Learner  # noqa: E402

# (d, share of entries off the minimum, minibatch)
GRID = [(16, 1.0, 128), (64, 1.0, 128), (128, 1.0, 128), (192, 1.0, 128), (256, 1.0, 128), (256, 1.0, 64),
        (784, 1.0, 128), (784, 0.6, 64), (784, 0.4, 64), (784, 0.2, 64), (3072, 1.0, 128), (3072, 0.2, 128)]


def synthetic(d, share, n=512):
    """n points of width d, `share` of their entries in [0.5, 1.5), the rest 0 (each feature's minimum)."""
    g = torch.Generator().manual_seed(0)
    return (torch.rand(n, d, generator=g) + 0.5) * (torch.rand(n, d, generator=g) < share)


def epoch_function(X, batch, kernel):
    """One epoch of a fresh mlp on X, as a callable, with the kernel forced on or off; run once (warm-up)."""
    y = torch.arange(len(X)) % 10
    ds = dataset.Dataset("synthetic", X, y, X[:10], y[:10], 10, batch)
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), kernel="on" if kernel else "off")
    epoch = learner.training.engine.epoch_function(learner.training.fresh_model(), X, y)
    epoch()
    return epoch


def step_ms(X, batch, epochs):
    """(kernel, PyTorch) ms per minibatch step over `epochs` epochs of each, alternated epoch by epoch, so that a
    shared machine's load weighs on both alike."""
    functions, totals = [epoch_function(X, batch, kernel) for kernel in (True, False)], [0.0, 0.0]
    for _ in range(epochs):
        for i, epoch in enumerate(functions):
            start = time.perf_counter()
            epoch()
            totals[i] += time.perf_counter() - start
    steps = epochs * -(-len(X) // batch)
    return tuple(1000 * total / steps for total in totals)


def main():
    """Print a row per grid point: both paths' ms per step, the speed-up, and what auto picks."""
    p = flags.parser(__doc__)
    p.add_argument("--epochs", type=positive(int), default=20, help="timed epochs of each path per grid point")
    args = p.parse_args()
    flags.require_kernel()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    print(flags.conditions())
    print("| d | entries off the minimum | batch | kernel ms/step | PyTorch ms/step | kernel speed-up | auto picks |")
    print("|---|---|---|---|---|---|---|")
    for d, share, batch in GRID:
        X = synthetic(d, share)
        ours, torch_ms = step_ms(X, batch, args.epochs)
        auto = "kernel" if kernels.pays_off(X, batch) else "PyTorch"
        print(f"| {d} | {share:.0%} | {batch} | {ours:.3f} | {torch_ms:.3f} | {torch_ms / ours:.2f}× | {auto} |")


if __name__ == "__main__":
    flags.command(main)
