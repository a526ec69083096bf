"""Training speed: epochs per second and milliseconds per minibatch step of Learner.train, one torch thread.

    python bench/train_speed.py                              # this checkout
    python bench/train_speed.py --compare /path/to/old/checkout --repeats 3
    python bench/train_speed.py --kernel off                 # this checkout's PyTorch path for the mlp
    python bench/train_speed.py --path /data --device cuda   # MNIST and openml/6.csv from /data, on a GPU

Each configuration trains a fresh network on a fixed random labelled set for a fixed number of epochs (fewer
when it reaches 99 % training accuracy first) in its own process. With --compare, the other checkout's learner
runs the same configurations, interleaved with this one's (A, B, A, B, ...), and the table gives the median of
each and their ratio, with the load average during the run: on a shared machine only such ratios are fair. The
last column says what trained this checkout's networks: "compiled" (the mlp's compiled epoch, kernels/) or
"torch". A worker imports only the measured checkout's modules (this script's --worker entry puts no other checkout
on the module path)."""
import json
import os
import statistics
import sys
from pathlib import Path

import flags  # bench/flags.py, beside this script: it imports nothing of the project's until asked

flags.starting(__name__)

ROOT = Path(__file__).resolve().parents[1]
# name: (data, did, model, labelled points, epochs)
CONFIGS = {
    "letter mlp 100": ("", 6, "mlp", 100, 1000),
    "letter mlp 700": ("", 6, "mlp", 700, 300),
    "MNIST mlp 400": ("MNIST", 0, "mlp", 400, 100),
    "MNIST cnn 400": ("MNIST", 0, "cnn", 400, 20),
    "digits lin 200": ("digits", 0, "lin", 200, 1000),
}


def measure(root, config, device, kernel, path):
    """Train once with the learner of checkout `root` on `device` (with --kernel `kernel` where the checkout has the
    flag) and the data of folder `path`; returns {epochs, seconds, steps, trainer}."""
    sys.path.insert(0, str(root))
    import inspect

    import numpy as np
    import torch

    import dataset
    from learner import Learner

    data, did, model, n, epochs = CONFIGS[config]
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    ds = dataset.load(data, did, path, rng)
    idx = rng.choice(len(ds.y_train), n, replace=False)
    parameters = inspect.signature(Learner).parameters
    default = parameters.get("kernel")  # older checkouts take a bool, or no choice
    options = {} if default is None else {"kernel": kernel if isinstance(default.default, str) else kernel == "auto"}
    if "patience" in parameters:
        options["patience"] = 0
    learner = Learner(model, ds, device, torch.Generator().manual_seed(0), 1e-4, 128, epochs, **options)
    res = learner.train(idx)
    steps_per_epoch = -(-n // ds.train_batch)
    return {"epochs": res.epochs, "seconds": res.seconds, "steps": res.epochs * steps_per_epoch,
            "trainer": getattr(learner, "trainer", "torch")}


def run_worker(root, config, device, kernel, path):
    """measure() in a fresh process (one torch thread); stops with the worker's last error line when it fails."""
    out = flags.run_or_stop([sys.executable, __file__, "--worker", str(root), config, device, kernel, path],
                            f"{config} in {root}", env=dict(os.environ, OMP_NUM_THREADS="1"))
    return json.loads(out.stdout.strip().splitlines()[-1])


def check_data(p, configs, path):
    """Stop with one line (p.error) when the data of a configuration cannot be read from `path`, before any
    worker: a worker would stop with its traceback's last line."""
    for data, did in dict.fromkeys(CONFIGS[c][:2] for c in configs):
        flags.load_data(p, data, did, path)


def main():
    """Time each configuration in workers (interleaved with --compare's) and print the table; or, as
    `--worker ROOT CONFIG DEVICE KERNEL PATH`, time one configuration and print its measure() as JSON."""
    worker = flags.worker_args(("ROOT", "CONFIG", "DEVICE", "KERNEL", "PATH"))
    if worker:
        import warnings
        warnings.simplefilter("ignore")
        print(json.dumps(measure(*worker)))
        return
    sys.path.insert(0, str(ROOT))  # the project's modules, from the repository root
    from strategy_params import positive

    p = flags.parser(__doc__)
    flags.add_path(p, "MNIST and OpenML's letter (openml/6.csv)")
    p.add_argument("--compare", type=flags.checkout,
                   help="another checkout (its root folder) whose learner to time against this one, interleaved")
    p.add_argument("--repeats", type=positive(int), default=1, help="runs of each configuration and checkout")
    p.add_argument("--configs", type=flags.subset(list(CONFIGS), "configuration"), default=",".join(CONFIGS),
                   help="comma-separated subset of: " + ", ".join(CONFIGS))
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the networks train")
    p.add_argument("--kernel", default="auto", choices=("auto", "off"),
                   help="run.py's --kernel for both checkouts (a checkout whose Learner takes a bool gets auto: "
                        "True)")
    args = p.parse_args()
    roots = [ROOT] + ([args.compare] if args.compare else [])
    configs = args.configs
    flags.check_device(p, args.device)
    check_data(p, configs, args.path)
    rate = {(c, r): [] for c in configs for r in roots}
    step_ms = {(c, r): [] for c in configs for r in roots}
    trainer = {c: set() for c in configs}
    loads = []
    print(flags.conditions(args.compare), flush=True)
    for _ in range(args.repeats):
        for c in configs:
            for r in roots:
                res = run_worker(r, c, args.device, args.kernel, args.path)
                rate[c, r].append(res["epochs"] / res["seconds"])
                step_ms[c, r].append(1000 * res["seconds"] / res["steps"])
                if r == ROOT:
                    trainer[c].add(res["trainer"])
                loads.append(os.getloadavg()[0])
    head = "| configuration | epochs/s | ms/step |" + (" epochs/s (compared) | ms/step (compared) | speed-up |"
                                                      if args.compare else "") + " trainer |"
    print(f"load average during the runs: {min(loads):.1f}-{max(loads):.1f}; median of {args.repeats} run(s); "
          f"{args.device}")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for c in configs:
        cells = []
        for r in roots:
            cells += [f"{statistics.median(rate[c, r]):.0f}", f"{statistics.median(step_ms[c, r]):.3f}"]
        if args.compare:
            cells.append(f"{statistics.median(rate[c, ROOT]) / statistics.median(rate[c, roots[1]]):.1f}×")
        cells.append(", ".join(sorted(trainer[c])))
        print(f"| {c} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    flags.command(main)
