"""The mlp's forward pass over the MNIST pool: PyTorch's dense layers against the compiled kernel's sparse first layer.

    python bench/infer_speed.py --repeats 5 [--path ../shared/data]

One process, the two paths interleaved (torch, compiled, torch, ...) on the same network and the same 59,800 pool
points (the pool of an MNIST run after its 200 first labels), PyTorch with --threads threads (default 1, run.py's
default; the compiled forward runs on one).
Prints the median seconds of each, their ratio, the one-off cost of the pool's sparse form (built once per run),
the largest difference of the softmax probabilities, and the load average before and after."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # the project's modules, from the repository root

from bench import flags  # noqa: E402

flags.starting(__name__)

import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from strategy_params import non_negative, positive  # noqa: E402


def seconds(f):
    """(wall seconds of f(), its result)."""
    start = time.perf_counter()
    out = f()
    return time.perf_counter() - start, out


def main():
    """Time both forward paths, interleaved, and print their medians, ratio and largest probability gap."""
    p = flags.parser(__doc__)
    p.add_argument("--repeats", type=positive(int), default=5, help="timed passes of each path")
    p.add_argument("--labelled", type=non_negative(int), default=200, help="points left out of the pool (below 60,000)")
    p.add_argument("--threads", type=flags.threads, default=1,
                   help="PyTorch's threads, checked as run.py's --threads (a warning above the cores)")
    flags.add_path(p, "MNIST")
    args = p.parse_args()

    import numpy as np
    import torch

    from model import MLP, reset_weights
    from predictor import Inputs

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    ds = flags.load_data(p, "MNIST", 0, args.path, rng)
    flags.require_kernel()
    if args.labelled >= len(ds.y_train):
        p.error(f"--labelled {args.labelled} leaves no pool of MNIST's {len(ds.y_train)} training images")
    pool = np.sort(rng.permutation(len(ds.y_train))[args.labelled:])
    net = MLP(ds.X_train[0].numel(), ds.n_classes, 256).eval()
    reset_weights(net, torch.Generator().manual_seed(0))
    inputs = Inputs(ds.X_train)
    print(f"{flags.conditions()}; {torch.get_num_threads()} torch threads")
    build, _ = seconds(lambda: inputs.outputs(net, pool[:1], compiled=True))
    times = {"torch": [], "compiled": []}
    for _ in range(args.repeats):
        for path in times:
            took, (logits, _) = seconds(lambda: inputs.outputs(net, pool, compiled=path == "compiled"))
            times[path].append(took)
            if path == "torch":
                dense = logits
    gap = (torch.softmax(logits, 1) - torch.softmax(dense, 1)).abs().max().item()
    t, c = statistics.median(times["torch"]), statistics.median(times["compiled"])
    print(f"pool forward, {len(pool)} points, 784 -> 256 -> 10: torch {t:.3f} s, compiled {c:.3f} s "
          f"(median of {args.repeats}): {t / c:.1f}x; sparse form built once in {build:.3f} s; "
          f"largest probability difference {gap:.1e}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    flags.command(main)
