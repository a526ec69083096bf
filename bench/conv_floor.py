"""Convolutional training on the CPU against its arithmetic floor: ms per minibatch step of the learner's epoch
(batch 64 of 1×28×28 images, one torch thread) beside the time its floating-point operations take at the rate the
core reaches on a large matrix product.

    python bench/conv_floor.py                        # the MNIST cnn and the resnet
    python bench/conv_floor.py --models cnn --rounds 5

The operations are counted per layer, forward and backward, by torch.utils.flop_counter.FlopCounterMode over one
autograd step, the step the learner's epoch takes. The rate is that of a single-thread 1024×1024 float32 matrix
product, measured in rounds interleaved with the step timings (rate, epoch, rate, epoch, ...), and every figure is
process CPU time, so that a shared machine's load weighs on both sides alike; floor = operations / rate. The
step's time is also split between the convolutions (forward, backward) and the rest by the profiler's shares of
one epoch, and the convolutions' operations give their own rate."""
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the project's modules, from the repository root

from bench import flags  # noqa: E402

flags.starting(__name__)

import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from contextlib import contextmanager  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import dataset  # noqa: E402
from strategy_params import positive  # noqa: E402
from learner import Learner  # noqa: E402

BATCH, SHAPE, CLASSES = 64, (1, 28, 28), 10
MATMUL = 1024
PARTS = {"conv forward": ("convolution",), "conv backward": ("convolution_backward",)}


def images(n, seed=0):
    """A labelled set of n random 1×28×28 'MNIST' images (the cnn chooses its layers by the data set's name)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, *SHAPE, generator=g)
    y = torch.randint(0, CLASSES, (n,), generator=g)
    return dataset.Dataset("MNIST", X, y, X[:BATCH], y[:BATCH], CLASSES, BATCH)


def step_flops(model, x, y):
    """The flops of one autograd step at (x, y): {layer: (forward, backward)} per convolution block or layer, and
    {part: flops} split as PARTS (forward convolutions, their backward)."""
    mode = FlopCounterMode(display=False)
    with mode:
        loss = F.cross_entropy(model(x)[0], y)
        forward = {k: sum(v.values()) for k, v in mode.get_flop_counts().items()}
        torch.autograd.grad(loss, list(model.parameters()))
    counts = mode.get_flop_counts()
    both = {k: sum(v.values()) for k, v in counts.items()}
    names = [n for n, _ in model.named_modules() if n and n.count(".") <= 1]
    rows = [f"{type(model).__name__}.{n}" for n in names if not any(m.startswith(n + ".") for m in names)]
    layers = {r.split(".", 1)[1]: (forward.get(r, 0), both[r] - forward.get(r, 0)) for r in rows if both.get(r)}
    by_op = {str(op).split(".")[-1]: c for op, c in counts["Global"].items()}
    return layers, {k: sum(by_op.get(op, 0) for op in ops) for k, ops in PARTS.items()}


def matmul_rate(reps=3):
    """Float operations per CPU second of a single-thread MATMUL×MATMUL float32 product, the best of `reps`."""
    a, b = torch.randn(MATMUL, MATMUL), torch.randn(MATMUL, MATMUL)
    a @ b
    best = float("inf")
    for _ in range(reps):
        start = time.process_time()
        a @ b
        best = min(best, time.process_time() - start)
    return 2 * MATMUL**3 / best


def epoch_cpu_seconds(epoch):
    """Process CPU seconds of one call of `epoch`."""
    start = time.process_time()
    epoch()
    return time.process_time() - start


@contextmanager
def stderr_silenced():
    """File descriptor 2 pointed at /dev/null: the profiler's C++ library writes its start and stop lines there."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def part_seconds(epoch, steps, step_s):
    """CPU seconds per step of each PARTS entry and of the rest: `step_s` shared out as the profiler's times of
    their operations over one epoch share out that epoch's wall time."""
    with stderr_silenced(), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        epoch()
        wall_us = 1e6 * (time.perf_counter() - start)
    events = {e.key: e.cpu_time_total for e in prof.key_averages()}
    parts = {k: step_s * sum(events.get("aten::" + op, 0) for op in ops) / wall_us for k, ops in PARTS.items()}
    parts["rest"] = step_s - sum(parts.values())
    return parts


def measure(model_name, rounds, steps):
    """step_flops, per-step CPU seconds (median over rounds), the matmul rate (median) and the profiled split for
    `model_name`, trained by the learner's own epoch on BATCH·steps random images."""
    ds = images(BATCH * steps)
    learner = Learner(model_name, ds, "cpu", torch.Generator().manual_seed(0), max_epochs=0)
    model = learner.training.fresh_model()
    flops = step_flops(learner.training.fresh_model().train(), ds.X_train[:BATCH], ds.y_train[:BATCH])
    epoch = learner.training.engine.epoch_function(model, ds.X_train, ds.y_train)
    epoch()  # warm up oneDNN's kernels
    rates, step_s = [], []
    for _ in range(rounds):
        rates.append(matmul_rate())
        step_s.append(epoch_cpu_seconds(epoch) / steps)
    rates.append(matmul_rate())
    return (flops, statistics.median(step_s), statistics.median(rates),
            part_seconds(epoch, steps, statistics.median(step_s)))


def report(model_name, counts, step_s, rate, parts):
    """Print the per-layer table and the step against its floor."""
    flops, part_flops = counts
    total = sum(f + b for f, b in flops.values())
    print(f"\n{model_name}: batch {BATCH} of {'×'.join(map(str, SHAPE))}; matmul rate {rate / 1e9:.1f} GFLOP/s "
          "(single thread, CPU time)")
    print("| layer | forward MFLOP | backward MFLOP | floor ms |")
    print("|---|---|---|---|")
    for name, (f, b) in flops.items():
        print(f"| {name} | {f / 1e6:.1f} | {b / 1e6:.1f} | {1000 * (f + b) / rate:.2f} |")
    floor = total / rate
    print(f"| **step** | {sum(f for f, _ in flops.values()) / 1e6:.1f} | {sum(b for _, b in flops.values()) / 1e6:.1f} "
          f"| **{1000 * floor:.2f}** |")
    print(f"measured {1000 * step_s:.2f} ms per step (CPU time); time / floor = {step_s / floor:.2f}")
    print("| part of the step | ms | GFLOP/s | of the matmul rate |")
    print("|---|---|---|---|")
    for k, s in parts.items():
        f = part_flops.get(k, 0)
        cells = [f"{f / s / 1e9:.1f}", f"{f / s / rate:.0%}"] if f else ["", ""]
        print(f"| {k} | {1000 * s:.2f} | " + " | ".join(cells) + " |")


def main():
    """Print each model's layer table and its step against the floor."""
    p = flags.parser(__doc__)
    p.add_argument("--models", type=flags.subset(["cnn", "resnet"], "model"), default="cnn,resnet",
                   help="comma-separated subset of: cnn, resnet")
    p.add_argument("--rounds", type=positive(int), default=3, help="interleaved rounds of (matmul rate, one epoch)")
    p.add_argument("--steps", type=positive(int), default=10, help="minibatch steps per epoch")
    args = p.parse_args()
    models = args.models
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    print(f"{flags.conditions()}; median of {args.rounds} round(s) of {args.steps} steps")
    for m in models:
        report(m, *measure(m, args.rounds, args.steps))
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    flags.command(main)
