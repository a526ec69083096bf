"""Seconds of the MC-dropout inference over a pool (Predictor.mc_probs: 10 passes), this checkout against another.

    python bench/mc_speed.py --compare OLD_CHECKOUT [--models mlp,cnn] [--n 60000] [--repeats 3]

Each measurement runs in its own process (one torch thread): a network of the given kind freshly initialised from a
fixed seed, on n random MNIST-shaped images, mc_probs over all of them; this checkout's and OLD_CHECKOUT's runs
alternate, and the medians, their ratio and whether both computed the same numbers (SHA-256 of the output) are
printed. A worker imports only the measured checkout's modules (this script's --worker entry puts no other checkout
on the module path)."""
import json
import os
import statistics
import sys
import time
from pathlib import Path

import flags  # bench/flags.py, beside this script: it imports nothing of the project's until asked

flags.starting(__name__)

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("mlp", "lin", "cnn", "resnet", "vgg")
IMAGE_BYTES = 28 * 28 * 4  # one of the pool's MNIST-shaped float32 images


def measure(root, model, n):
    """(seconds of mc_probs over n points, SHA-256 of its output) with the Learner of checkout `root`."""
    sys.path.insert(0, str(root))
    import hashlib

    import numpy as np
    import torch

    import dataset
    from learner import Learner

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(n, 1, 28, 28, generator=g), torch.arange(n) % 10
    ds = dataset.Dataset("MNIST", X, y, X[:100], y[:100], 10, 64)
    learner = Learner(model, ds, "cpu", torch.Generator().manual_seed(1))
    if hasattr(learner, "predictor"):
        predictor = learner.predictor
        predictor.use(learner.training.fresh_model(), [])
    else:  # a checkout before predictor.py: the learner answers itself
        predictor, learner.model = learner, learner.fresh_model().eval()
    start = time.perf_counter()
    probs = predictor.mc_probs(np.arange(n))
    seconds = time.perf_counter() - start
    return seconds, hashlib.sha256(probs.numpy().tobytes()).hexdigest()


def check_pool(p, n):
    """Stop with one line (p.error) before any worker starts when the pool's n images alone (IMAGE_BYTES each) need
    more than this machine's memory."""
    have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if n * IMAGE_BYTES > have:
        p.error(f"--n {n}: the pool's images alone (n × 28 × 28 float32) need more than this machine's "
                f"{have / 2**30:.1f} GiB of memory; lower --n")


def run_worker(root, model, n):
    """measure() in a fresh process; its result as a dict. A failed worker stops the benchmark with its last line."""
    proc = flags.run_or_stop([sys.executable, __file__, "--worker", str(root), model, str(n)], f"{model} in {root}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    """The table of this checkout's (and --compare's) medians; as `--worker ROOT MODEL N`, one measurement."""
    worker = flags.worker_args(("ROOT", "MODEL", "N"))
    if worker:
        seconds, sha = measure(Path(worker[0]), worker[1], int(worker[2]))
        print(json.dumps({"seconds": seconds, "sha256": sha}))
        return
    sys.path.insert(0, str(ROOT))  # the project's modules, from the repository root
    from strategy_params import positive

    p = flags.parser(__doc__)
    p.add_argument("--compare", type=flags.checkout, help="the other checkout's root")
    p.add_argument("--models", type=flags.subset(MODELS, "model"), default="mlp,cnn",
                   help="comma-separated subset of: " + ", ".join(MODELS))
    p.add_argument("--n", type=positive(int), default=60000,
                   help="pool points (their images must fit in this machine's memory)")
    p.add_argument("--repeats", type=positive(int), default=3, help="timed runs of each checkout, alternating")
    args = p.parse_args()
    check_pool(p, args.n)
    models = args.models
    roots = {"this": ROOT, **({"old": args.compare} if args.compare else {})}
    head = "| model | n | this checkout (s) |" + (" old (s) | speed-up | same output |" if args.compare else "")
    print(f"{flags.conditions(args.compare)}\n{head}\n|{'---|' * (head.count('|') - 1)}")
    for model in models:
        runs = {k: [] for k in roots}
        for _ in range(args.repeats):
            for k, root in roots.items():
                runs[k].append(run_worker(root, model, args.n))
        med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
        line = f"| {model} | {args.n} | {med['this']:.3f} |"
        if args.compare:
            same = {r["sha256"] for v in runs.values() for r in v}
            line += f" {med['old']:.3f} | {med['old'] / med['this']:.1f}× | {'yes' if len(same) == 1 else 'no'} |"
        print(line)


if __name__ == "__main__":
    flags.command(main)
