"""What a training snapshot (training.pt, run.py --snapshotEvery) costs: one save (the state gathered, serialised,
written and synced) and the key hashed once per round, against an epoch of the same training.

    python bench/snapshot_cost.py --repeats 5 [--path ../shared/data]

Each configuration trains a fresh network on a fixed random labelled set for a few epochs (one torch thread),
then times `repeats` saves of its snapshot into a temporary folder and `repeats` computations of its key; the
table gives medians and the share of training time a save every 300 s (the default) takes. The data of every chosen
configuration is read from --path before the first one is timed."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # the project's modules, from the repository root

from bench import flags  # noqa: E402

flags.starting(__name__)

import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from strategy_params import positive  # noqa: E402
from learner import Learner  # noqa: E402
from results import TrainingSnapshot  # noqa: E402
from training import Progress, training_key  # noqa: E402

DEFAULT_EVERY = 300.0
# name: (data, model, labelled points, epochs)
CONFIGS = {"MNIST mlp 1000": ("MNIST", "mlp", 1000, 3), "FashionMNIST cnn 1000": ("FashionMNIST", "cnn", 1000, 3),
           "MNIST resnet 1000": ("MNIST", "resnet", 1000, 1)}


def timed(function, repeats):
    """Median seconds of `repeats` calls of function()."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_data(p, configs, path):
    """{data name: its data set from `path`} for the configurations; one line (p.error) when one cannot be read."""
    return {data: flags.load_data(p, data, 0, path) for data in dict.fromkeys(CONFIGS[c][0] for c in configs)}


def measure(config, ds, repeats, folder):
    """(seconds an epoch, seconds a save, seconds a key, bytes of the file) for one configuration on data set ds."""
    _, model, n, epochs = CONFIGS[config]
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(ds.y_train), n, replace=False))
    learner = Learner(model, ds, "cpu", torch.Generator().manual_seed(0), max_epochs=epochs, patience=0,
                      kernel="off")
    result = learner.train(idx)
    trainer, X, y = learner.training, ds.X_train[idx], ds.y_train[idx]
    epoch = trainer.engine.epoch_function(learner.model, X, y)
    snapshot = TrainingSnapshot(Path(folder) / "training.pt", {"run_id": "bench", "identity": "bench"}, 1,
                                DEFAULT_EVERY)
    key = training_key(X, y, trainer.gen)
    state = trainer.snapshot_state  # gathered anew for every save, as Trainer.train does
    save = timed(lambda: snapshot.save(key, state(learner.model, epoch, Progress(1, 0.5, 1), 1.0)), repeats)
    hashing = timed(lambda: training_key(X, y, trainer.gen), repeats)
    return result.seconds / result.epochs, save, hashing, os.path.getsize(snapshot.path)


def main():
    """Print a row per configuration: epoch, save and key times, file size, share of training."""
    p = flags.parser(__doc__)
    p.add_argument("--repeats", type=positive(int), default=5, help="timed saves and keys of each configuration")
    p.add_argument("--configs", type=flags.subset(list(CONFIGS), "configuration"), default=",".join(CONFIGS),
                   help="comma list of: " + ", ".join(CONFIGS))
    flags.add_path(p, "MNIST and FashionMNIST")
    args = p.parse_args()
    data = load_data(p, args.configs, args.path)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="training stopped")  # the few epochs end at their cap
    print(flags.conditions())
    print(f"| configuration | epoch (ms) | save (ms) | key (ms) | file (KB) | "
          f"share of training at {DEFAULT_EVERY:.0f} s |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for config in args.configs:
            epoch, save, hashing, size = measure(config, data[CONFIGS[config][0]], args.repeats, folder)
            print(f"| {config} | {epoch * 1e3:.1f} | {save * 1e3:.2f} | {hashing * 1e3:.2f} | {size / 1e3:.0f} | "
                  f"{save / DEFAULT_EVERY:.1e} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    flags.command(main)
