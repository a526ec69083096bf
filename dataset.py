"""Data sets of SPEC §3 as tensors: a pool (train) split, a test split, normalised once, and the loader batch size.

Every loader returns a `Dataset`; every problem a user can fix (a missing file, a corrupt one, non-numeric
columns) raises `UserError` with one line that says what to do."""
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

IMAGE_DATA = {
    # name: (torchvision class, channel means, channel stds, train batch size)
    "MNIST": ("MNIST", (0.1307,), (0.3081,), 64),
    "FashionMNIST": ("FashionMNIST", (0.1307,), (0.3081,), 64),
    "SVHN": ("SVHN", (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970), 64),
    "CIFAR10": ("CIFAR10", (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 128),
}
TABULAR_BATCH = 128
TEST_BATCH = 1000
TEST_FRACTION = 0.1
POOL_CAP = 50_000


class UserError(Exception):
    """A problem with the user's input: run.py prints it as one line and exits non-zero."""


@dataclass
class Dataset:
    name: str
    X_train: torch.Tensor  # float32, normalised; (n, d) or (n, channels, height, width)
    y_train: torch.Tensor  # int64 in 0..C-1
    X_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    train_batch: int
    augment: bool = False
    black: torch.Tensor = None  # image data: the normalised value of a black pixel, per channel (−mean/std)

    @property
    def is_image(self):
        return self.X_train.dim() == 4


def cache_dir():
    """The project's cache folder: $BADGE_CACHE, else ~/.cache/badge."""
    return Path(os.environ.get("BADGE_CACHE", Path.home() / ".cache" / "badge"))


def load(data, did, path, rng, trunc=-1, aug=0):
    """The data set named by the flags: `--did` > 0 wins, then `--data` (a name or a .csv/.npz file), else digits."""
    if did > 0:
        ds = load_openml(did, path, rng)
    elif not data or data == "digits":
        ds = load_digits(rng)
    elif data in IMAGE_DATA:
        ds = load_image_data(data, path)
    elif data.endswith((".csv", ".npz")):
        ds = load_file(data, rng)
    else:
        raise UserError(f"unknown --data {data!r}: use digits, {', '.join(IMAGE_DATA)}, or a .csv/.npz file")
    if trunc != -1:
        ds = truncate(ds, trunc, rng)
    ds.augment = bool(aug) and ds.name == "CIFAR10"
    return ds


def truncate(ds, n, rng):
    """Keep `n` random pool points, then only those of classes 0–9 (pool and test alike)."""
    if n <= 0:
        raise UserError(f"--trunc must be positive (or -1 for no truncation), got {n}")
    keep = torch.from_numpy(rng.permutation(len(ds.y_train))[:n])
    X, y = ds.X_train[keep], ds.y_train[keep]
    small, small_te = y < 10, ds.y_test < 10
    ds.X_train, ds.y_train = X[small], y[small]
    ds.X_test, ds.y_test = ds.X_test[small_te], ds.y_test[small_te]
    ds.n_classes = min(ds.n_classes, 10)
    return ds


def load_digits(rng):
    """scikit-learn's 8×8 digits (1,797 images, 64 pixel intensities 0..16, unscaled), split as tabular data."""
    from sklearn.datasets import load_digits as sk_digits

    X, y = sk_digits(return_X_y=True)
    return tabular_split("digits", X, y, rng)


def tabular_split(name, X, y, rng):
    """Labels re-encoded to 0..C-1, a random 10 % test split, the pool capped at 50,000 random points,
    redrawn until every class is in the pool."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
        raise UserError(f"{name}: features must be a 2-D table with one label per row")
    if not np.isfinite(X).all():
        raise UserError(f"{name}: features contain NaN or infinite values; clean or impute them first")
    classes, y = np.unique(np.asarray(y), return_inverse=True)
    if len(classes) < 2:
        raise UserError(f"{name}: only one class in the labels; active learning needs at least two")
    n_test = int(round(TEST_FRACTION * len(X)))
    for _ in range(100):
        order = rng.permutation(len(X))
        test, pool = order[:n_test], order[n_test:][:POOL_CAP]
        if len(np.unique(y[pool])) == len(classes):
            break
    else:
        raise UserError(f"{name}: some class is too rare to appear in the training pool; add examples of it")
    as_x = lambda idx: torch.tensor(X[idx], dtype=torch.float32)  # noqa: E731
    as_y = lambda idx: torch.tensor(y[idx], dtype=torch.int64)  # noqa: E731
    return Dataset(name, as_x(pool), as_y(pool), as_x(test), as_y(test), len(classes), TABULAR_BATCH)


def load_file(file, rng):
    """A user table: .csv with the label in the last column (a header row is detected), or .npz with X and y."""
    path = Path(file)
    if not path.is_file():
        raise UserError(f"data file {file} not found: check the path given to --data")
    name = path.stem
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                if "X" not in z or "y" not in z:
                    raise UserError(f"{file} must hold arrays named X and y (np.savez(file, X=X, y=y))")
                X, y = z["X"], z["y"]
        except (OSError, ValueError, EOFError) as e:
            raise UserError(f"{file} is not a readable .npz file ({e}); write it with np.savez(file, X=X, y=y)")
        if X.dtype.kind not in "biuf":
            raise UserError(f"{file}: X must be numeric, got dtype {X.dtype}")
        return tabular_split(name, X.reshape(len(X), -1), y, rng)
    X, y = read_csv_table(path)
    return tabular_split(name, X, y, rng)


def read_csv_table(path):
    """(features, labels) from a CSV whose last column is the label; a first row that is not numeric is a header."""
    import pandas as pd

    try:
        df = pd.read_csv(path, header=None, dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not a readable CSV file ({str(e).splitlines()[0]})")
    if df.shape[1] < 2:
        raise UserError(f"{path} needs at least one feature column and a label column")
    features = df.iloc[:, :-1].apply(pd.to_numeric, errors="coerce")
    if len(df) > 1 and features.iloc[0].isna().all() and not features.iloc[1:].isna().any().any():
        df, features = df.iloc[1:], features.iloc[1:]
    bad = features.isna().any()
    if bad.any():
        col = int(np.flatnonzero(bad.to_numpy())[0])
        row = int(np.flatnonzero(features.iloc[:, col].isna().to_numpy())[0])
        raise UserError(f"{path}: column {col + 1} is not numeric (row {row + 1}: "
                        f"{df.iloc[row, col]!r}); features must be numbers, the label goes in the last column")
    return features.to_numpy(dtype=np.float64), df.iloc[:, -1].to_numpy()


def load_openml(did, path, rng):
    """OpenML data set `did`: `PATH/openml/<did>.csv` when present (offline), else the `openml` package with its
    cache under PATH/openml, saving the CSV for next time."""
    csv = Path(path) / "openml" / f"{did}.csv"
    if csv.is_file():
        X, y = read_csv_table(csv)
        return tabular_split(f"openml{did}", X, y, rng)
    X, y = fetch_openml(did, Path(path) / "openml")
    return tabular_split(f"openml{did}", X, y, rng)


def fetch_openml(did, cache):
    """(X, y) of OpenML data set `did` through the openml package, cached under `cache`."""
    import openml

    openml.config.set_root_cache_directory(str(cache))
    try:
        ds = openml.datasets.get_dataset(did, download_data=True, download_qualities=False,
                                         download_features_meta_data=False)
        X, y, _, _ = ds.get_data(target=ds.default_target_attribute, dataset_format="dataframe")
    except Exception as e:  # openml raises many kinds: network, server, parse errors
        raise UserError(f"OpenML data set {did} could not be loaded ({type(e).__name__}); "
                        f"offline, put it at {cache}/{did}.csv with the label in the last column")
    try:
        X = X.astype(np.float64).to_numpy()
    except (ValueError, TypeError):
        raise UserError(f"OpenML data set {did} has non-numeric features; only numeric data sets are supported")
    return X, y.to_numpy()


def load_image_data(name, path):
    """MNIST, FashionMNIST, SVHN or CIFAR10 through torchvision, normalised with the data set's channel stats."""
    cls_name, mean, std, batch = IMAGE_DATA[name]
    X_tr, y_tr = torchvision_arrays(name, path, train=True)
    X_te, y_te = torchvision_arrays(name, path, train=False)
    mean = torch.tensor(mean).view(1, -1, 1, 1)
    std = torch.tensor(std).view(1, -1, 1, 1)
    norm = lambda x: (x.float().div_(255) - mean) / std  # noqa: E731
    n_classes = int(max(y_tr.max(), y_te.max())) + 1
    return Dataset(name, norm(X_tr), y_tr, norm(X_te), y_te, n_classes, batch, black=(-mean / std).flatten())


def torchvision_arrays(name, path, train):
    """uint8 images (n, channels, height, width) and int64 labels of one split, via torchvision's class."""
    import torchvision.datasets as tvd

    root = mnist_root(name, path) if name in ("MNIST", "FashionMNIST") else Path(path)
    try:
        if name in ("MNIST", "FashionMNIST"):
            ds = getattr(tvd, name)(str(root), train=train, download=True)
            return ds.data.unsqueeze(1), ds.targets.long()
        if name == "SVHN":
            split = "train" if train else "test"
            ds = tvd.SVHN(str(root), split=split, download=not (root / f"{split}_32x32.mat").is_file())
            return torch.from_numpy(ds.data), torch.from_numpy(ds.labels).long()
        ds = tvd.CIFAR10(str(root), train=train, download=not (root / "cifar-10-batches-py").is_dir())
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets)
    except Exception as e:  # torchvision raises RuntimeError, URLError, OSError, EOFError, ValueError ...
        raise UserError(f"{name} could not be loaded from {path} ({first_line(e)}); "
                        f"put the original {name} files under {path} (see README, 'Data')")


def first_line(e):
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def mnist_root(name, path):
    """A root for torchvision's MNIST-like classes that never writes into `path`: `path` itself when it holds the
    extracted files, else a cache folder with links to `path`'s .gz archives, which torchvision verifies
    (md5) and extracts there."""
    raw = Path(path) / name / "raw"
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    if all((raw / n).is_file() for n in names):
        return Path(path)
    root = cache_dir() / "torchvision" / hashlib.sha1(str(raw.resolve()).encode()).hexdigest()[:12]
    (root / name / "raw").mkdir(parents=True, exist_ok=True)
    for n in names:
        src, dst = raw / f"{n}.gz", root / name / "raw" / f"{n}.gz"
        if src.is_file() and not dst.exists():
            dst.symlink_to(src.resolve())
    return root
