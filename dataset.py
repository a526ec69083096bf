"""Data sets of PROTOCOL §3 as tensors: a pool (train) split, a test split, normalised once, and the loader batch size.

Every loader returns a `Dataset`; every problem a user can fix (a missing file, a corrupt one, non-numeric
columns) raises `UserError` with one line that says what to do. Nothing is ever written into `--path` except
OpenML's own cache (PATH/openml): archives found there are extracted into the project cache (`cache_dir()`), and
torchvision downloads go there too. Decoded MNIST, FashionMNIST, digits and CSV/.npz tables are kept there as
well (datacache), keyed by the contents of the files they were read from, so later runs skip decoding and the
libraries that decode (torchvision, scikit-learn, pandas)."""
import hashlib
import importlib.metadata
import importlib.util
import math
import os
import re
import socket
import struct
import tempfile
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from catalog import IMAGE_MARKS, unknown_data
from datacache import cache_dir, cached_arrays, path_tag
from errors import UserError

IMAGE_DATA = {
    # name: (channel means, channel stds, train batch size)
    "MNIST": ((0.1307,), (0.3081,), 64),
    "FashionMNIST": ((0.1307,), (0.3081,), 64),
    "SVHN": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970), 64),
    "CIFAR10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 128),
}
IMAGE_CLASSES = 10
NUMBERED_MIN = 3  # features from which a first row 0, 1, …, d−1 is pandas' numbered header, not data (is_header)
FLOOR_SLACK = 1e-9  # a class count within this of the next integer is that integer (long_tail_counts)
MNIST_LIKE = ("MNIST", "FashionMNIST")
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
SVHN_FILES = ("train_32x32.mat", "test_32x32.mat")
CIFAR_FOLDER, CIFAR_ARCHIVE = "cifar-10-batches-py", "cifar-10-python.tar.gz"
WHERE_TO_PUT = {
    "MNIST": "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz",
    "FashionMNIST": "FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz",
    "SVHN": "train_32x32.mat and test_32x32.mat",
    "CIFAR10": f"the folder {CIFAR_FOLDER} (or {CIFAR_ARCHIVE})",
}
DOWNLOAD_TIMEOUT = 30  # seconds a download may wait on the network before it gives up
TABULAR_BATCH = 128
TEST_BATCH = 1000
TEST_FRACTION = 0.1
POOL_CAP = 50_000
POOL_DRAWS = 100  # random splits tried before a class too rare for the pool is reported
WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")  # a label written as a whole number ('01', '-3'; not '1.0' nor '1e3')
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1
DECODER = "4"  # the version of the decoding below, part of every decoded cache entry's key: change it with them


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
    sha256: str = None  # content_sha256 of these tensors when already known (a decoded cache entry keeps it)
    source_sha256: str = None  # SHA-256 of the data before any seeded step (split, pool cap, --trunc, --imbalance)
    rows: np.ndarray = None  # each pool point's row in the source (file, table or training set), from 0
    class_names: list = None  # the source's label of each class 0..C-1, as text

    def __post_init__(self):
        """Rows and class names of a source whose pool is its training set in order and whose labels are 0..C-1."""
        if self.rows is None:
            self.rows = np.arange(len(self.y_train))
        if self.class_names is None:
            self.class_names = [str(c) for c in range(self.n_classes)]

    @property
    def is_image(self):
        return self.X_train.dim() == 4


def content_sha256(ds):
    """SHA-256 over the labels, then the features (pool, then test), as stored in memory."""
    return arrays_sha256(*(t.detach().cpu().numpy() for t in (ds.y_train, ds.y_test, ds.X_train, ds.X_test)))


def arrays_sha256(*arrays):
    """SHA-256 over the arrays' bytes in order."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def check_folder(data, did, path):
    """UserError when the data of these flags is read from `path` (--did, an image data set) and it is a file."""
    if (did > 0 or data in IMAGE_DATA) and Path(path).exists() and not Path(path).is_dir():
        raise UserError(f"--path {path} is a file, not a folder; give the folder that holds the data (see README, "
                        f"'Data sets')")


def load(data, did, path, rng, trunc=-1, aug=0, test=None):
    """The data set named by the flags: `--did` > 0 wins, then `--data` (a name or a .csv/.npz file, with its test
    set from the file `test` when given), else digits. UserError when the data is read from `path` and it is a
    file, not a folder."""
    check_folder(data, did, path)
    if did > 0:
        ds = load_openml(did, path, rng)
    elif message := unknown_data(data):
        raise UserError(message)
    elif not data or data == "digits":
        ds = load_digits(rng)
    elif data in IMAGE_DATA:
        ds = load_image_data(data, path)
    else:
        ds = load_file(data, rng, test)
    if ds.source_sha256 is None:  # a fixed split: the data as loaded is the source
        ds.sha256 = ds.sha256 or content_sha256(ds)
        ds.source_sha256 = ds.sha256
    if trunc != -1:
        ds = truncate(ds, trunc, rng)
    ds.augment = bool(aug) and data == "CIFAR10" and did <= 0  # not a file that happens to be named CIFAR10
    return ds


def truncate(ds, n, rng):
    """Keep `n` random pool points, then only those of classes 0–9 (pool and test alike); UserError when that
    leaves the pool or the test set no point."""
    if n <= 0:
        raise UserError(f"--trunc must be positive (or -1 for no truncation), got {n}")
    keep = torch.from_numpy(rng.permutation(len(ds.y_train))[:n])
    X, y = ds.X_train[keep], ds.y_train[keep]
    small, small_te = y < 10, ds.y_test < 10
    for part, kept in (("pool", small), ("test set", small_te)):
        if not kept.any():
            raise UserError(f"--trunc {n} keeps only the first ten classes, and leaves the {part} no point of them; "
                            f"drop --trunc{' or raise it' if part == 'pool' else ''}")
    ds.X_train, ds.y_train, ds.rows = X[small], y[small], ds.rows[keep.numpy()][small.numpy()]
    ds.X_test, ds.y_test = ds.X_test[small_te], ds.y_test[small_te]
    ds.n_classes, ds.sha256 = min(ds.n_classes, 10), None
    ds.class_names = ds.class_names[:ds.n_classes]
    return ds


def long_tail_counts(n_max, n_classes, ratio):
    """Pool points kept per rank r = 0..C-1 of the class order: ⌊n_max·R^(−r/(C−1))⌋, from n_max down to
    ⌊n_max/R⌋, each floored past float rounding (49·49^(−1) is 1, not 0.99999…)."""
    return [math.floor(n_max * ratio ** (-r / (n_classes - 1)) + FLOOR_SLACK) for r in range(n_classes)]


def long_tail(ds, ratio, rng):
    """The pool cut to a long-tail profile (the test set untouched): in a random class order, the class of rank r
    keeps a random long_tail_counts share of its points, n_max being the smallest class's pool count; UserError
    when the rarest class would keep no point."""
    y = ds.y_train.numpy()
    per_class = np.bincount(y, minlength=ds.n_classes)
    n_max = int(per_class.min())
    if n_max == 0:
        raise UserError(f"--imbalance: class {ds.class_names[int(per_class.argmin())]!r} has no pool point to keep "
                        f"(after --trunc); raise --trunc or drop --imbalance")
    counts = long_tail_counts(n_max, ds.n_classes, ratio)
    if counts[-1] < 1:
        raise UserError(f"--imbalance {ratio:g} leaves the rarest class no pool point: the smallest class has "
                        f"{n_max} pool points, so --imbalance may be at most {n_max}")
    order = rng.permutation(ds.n_classes)
    keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=False)
                                   for c, n in zip(order, counts)]))
    ds.X_train, ds.y_train, ds.rows, ds.sha256 = ds.X_train[keep], ds.y_train[keep], ds.rows[keep], None
    return ds


def load_digits(rng):
    """scikit-learn's 8×8 digits (1,797 images, 64 pixel intensities 0..16, unscaled), split as tabular data;
    decoded once, then read from the cache (keyed by scikit-learn's digits file) without importing scikit-learn."""
    def read():
        from sklearn.datasets import load_digits as sk_digits

        return sk_digits(return_X_y=True)

    spec = importlib.util.find_spec("sklearn")
    csv = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz" if spec else None
    sources = [csv] if csv and csv.is_file() else None
    table = cached_table("digits", sources, read, "digits", importlib.metadata.version("scikit-learn"))
    return split_table("digits", table, rng, "digits")


class Table(NamedTuple):
    """A decoded table: float32 features, the sorted classes, each row's class code 0..C-1, and the names of its
    feature columns that a CSV's header row gives (empty without a header row, and for other sources)."""
    X: np.ndarray
    classes: np.ndarray
    codes: np.ndarray
    header: np.ndarray


def cached_table(kind, sources, read, source, version):
    """The Table of the (features, labels) that read() returns, with the feature columns' names that a CSV reader
    returns after them, through the decoded cache entry of `kind` keyed by the `sources` files and the reading
    library's `version` (decoded afresh when sources is None)."""
    def decode():
        X, y, *header = read()
        names = header[0] if header else np.array([], dtype=str)
        return dict(zip(Table._fields, (*table_arrays(X, y, source), names)))

    arrays = decode() if sources is None else cached_arrays(kind, sources, (DECODER, version), decode, Table._fields)
    return Table(*(arrays[name] for name in Table._fields))


def tabular_split(name, X, y, rng, source=None):
    """Labels re-encoded to 0..C-1 (the classes' labels kept as class_names), a random 10 % test split (at least
    one point), the pool capped at 50,000 random points, redrawn until every class is in the pool; each pool
    point's row of X is kept in `rows`. `source` names the input in error messages."""
    source = source or name
    return split_table(name, Table(*table_arrays(X, y, source), np.array([], dtype=str)), rng, source)


def table_arrays(X, y, source):
    """(float32 features, sorted classes, label codes 0..C-1) of a table; UserError when it is not a non-empty
    table of finite numbers with a label per row and at least two classes."""
    X, y = np.asarray(X), np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y) or len(X) == 0:
        raise UserError(f"{source}: features must be a non-empty 2-D table with one label per row, "
                        f"got features {X.shape} and labels {y.shape}")
    if X.shape[1] == 0:
        raise UserError(f"{source}: the features have no columns; give at least one feature per row")
    return (as_features(X, source), *encode_labels(y, source))


def split_table(name, table, rng, source, hint=""):
    """A Dataset of a Table: a random 10 % test split (at least one point), the pool capped at 50,000 random
    points, redrawn until every class is in the pool; each pool point's row of the table is kept in `rows`.
    `hint` ends the messages about the classes (label_hint)."""
    X, classes, y = table.X, table.classes, table.codes
    two_classes(classes, source, hint)
    n_test = max(1, int(round(TEST_FRACTION * len(X))))
    n_pool = min(len(X) - n_test, POOL_CAP)
    if n_pool < len(classes):
        fix = ("every row has a label of its own, so the labels look continuous, not like classes"
               if len(classes) == len(X) else "add rows")
        raise UserError(f"{source}: {len(X)} rows are too few for {len(classes)} classes (a 10 % test split and "
                        f"every class in the pool); {fix}{hint}")
    for _ in range(POOL_DRAWS):
        order = rng.permutation(len(X))
        test, pool = order[:n_test], order[n_test:n_test + n_pool]
        if len(np.unique(y[pool])) == len(classes):
            break
    else:
        counts = np.bincount(y, minlength=len(classes))
        rare = int(np.argmin(counts))
        raise UserError(f"{source}: class {classes[rare].item()!r} ({counts[rare]} of {len(y)} rows) is too rare to "
                        f"appear in a random pool of {n_pool} rows; add examples of it or remove it{hint}")
    as_x = lambda idx: torch.from_numpy(X[idx])  # noqa: E731
    as_y = lambda idx: torch.from_numpy(y[idx].astype(np.int64))  # noqa: E731
    return Dataset(name, as_x(pool), as_y(pool), as_x(test), as_y(test), len(classes), TABULAR_BATCH, rows=pool,
                   class_names=[label_text(c) for c in classes], source_sha256=arrays_sha256(y, X))


def label_hint(path):
    """The end of a message about a table's classes that reminds where a CSV's label is ('' for an .npz)."""
    return "" if path.suffix.lower() == ".npz" else "; run.py takes the last column as the label: move yours there"


def label_text(label):
    """A class's label as text: a whole number without its '.0', anything else as str() writes it."""
    value = label.item() if isinstance(label, np.generic) else label
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def as_features(X, source):
    """float32 features; UserError when a value is not a finite float32 number."""
    if X.dtype.kind not in "biuf":
        raise UserError(f"{source}: features must be numbers, got dtype {X.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        X32 = X.astype(np.float32)
    bad = ~np.isfinite(X32)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise UserError(f"{source}: feature {col + 1} of data row {row + 1} is {X[row, col].item()!r} (NaN, infinite "
                        f"or beyond float32); clean or impute such values first")
    return X32


def encode_labels(y, source):
    """(classes, codes 0..C-1): labels sorted as numbers when every label is a number (int64 when every one is a
    whole number written without a point or exponent, exactly, so that IDs beyond 2⁵³ stay apart; else float64),
    else as text (byte strings decoded; so too whole numbers beyond int64); UserError for a missing or blank label."""
    import pandas as pd

    if y.dtype.kind in "SO":
        y = np.array([v.decode() if isinstance(v, bytes) else v for v in y], dtype=object)
    missing = pd.isna(y)
    if y.dtype.kind in "UO":
        missing |= np.array([isinstance(v, str) and not v.strip() for v in y], dtype=bool)
    if missing.any():
        raise UserError(f"{source}: data row {int(np.flatnonzero(missing)[0]) + 1} has no label; every row needs one")
    if y.dtype.kind not in "biuf":
        text = np.array([str(v).strip() for v in y])
        if all(WHOLE_NUMBER.fullmatch(t) for t in text):
            whole = [int(t) for t in text]
            y = np.array(whole, dtype=np.int64) if all(INT64_MIN <= v <= INT64_MAX for v in whole) else text
        else:
            numbers = pd.to_numeric(pd.Series(y, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
            y = numbers if not np.isnan(numbers).any() else text
    classes, codes = np.unique(y, return_inverse=True)
    return classes, codes.ravel()


def two_classes(classes, source, hint=""):
    """UserError when the training data `source` has a single class; a test set may have one. `hint` ends the
    message (label_hint)."""
    if len(classes) < 2:
        raise UserError(f"{source}: only one class in the labels; active learning needs at least two{hint}")


# The cells pandas' read_csv takes for missing by default (its documented na_values).
MISSING_MARKS = ("#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
                 "NA", "NULL", "NaN", "None", "n/a", "nan", "null")
SPLIT_ARRAYS = ("X_train", "y_train", "X_test", "y_test")  # an .npz file with its own (official) test set
NPZ_HINT = ("write it with np.savez(file, X=X, y=y), or np.savez(file, X_train=..., y_train=..., X_test=..., "
            "y_test=...) to give the test set; X numeric, y numbers or strings")


def load_file(file, rng, test=None):
    """A user table: .csv with the label in the last column (a header row is detected), or .npz with X and y,
    split at random (split_table); or with its own test set, from the file `test` (--test, a table of either
    kind) or in an .npz file's X_train, y_train, X_test, y_test (given_split)."""
    path = user_file(file, "--data")
    if path.suffix.lower() == ".npz" and set(SPLIT_ARRAYS) <= set(npz_names(path)):
        if {"X", "y"} & set(npz_names(path)):
            raise UserError(f"{path} holds both a whole table (X, y) and a split one (X_train ... y_test), so which "
                            f"to use is unclear; keep one of them")
        if test:
            raise UserError(f"{path} holds its own test set (X_test, y_test); drop --test {test}")
        return given_split(path.stem, file_table(path, "_train"), file_table(path, "_test"), rng, str(path),
                           f"{path} (X_test, y_test)")
    if test:
        test_path = user_file(test, "--test")
        if test_path.resolve() == path.resolve():
            raise UserError(f"--test {test} is the --data file itself: the test accuracy would be measured on the "
                            f"pool; give a separate test file, or drop --test to split {file} at random")
        train = training_table(path)
        return given_split(path.stem, train, columns_as_training(file_table(test_path), train, test_path, path), rng,
                           str(path), str(test_path), label_hint(path))
    return split_table(path.stem, training_table(path), rng, str(path), label_hint(path))


def user_file(file, flag):
    """The regular file a flag names, as a Path; UserError when it is missing or not a regular file."""
    path = Path(file)
    if path.exists() and not path.is_file():
        raise UserError(f"data file {file} is not a regular file (a folder, FIFO or device); give {flag} a .csv "
                        f"or .npz file")
    if not path.is_file():
        raise UserError(f"data file {file} not found: check the path given to {flag}")
    return path


def file_table(path, part=""):
    """table_arrays of a .csv file, or of an .npz file's arrays X<part> and y<part> (named in its messages when part
    is given), through the decoded cache."""
    if path.suffix.lower() == ".npz":
        source = f"{path} (X{part}, y{part})" if part else str(path)
        return cached_table(f"table{part}-{path_tag(path)}", [path], lambda: read_npz(path, part), source,
                            np.__version__)
    return cached_table(f"table-{path_tag(path)}", [path], lambda: read_csv_table(path), str(path),
                        importlib.metadata.version("pandas"))


LABEL_NAMES = ("label", "labels", "class", "classes", "target", "y")  # a header's usual names of a label column


def training_table(path):
    """file_table of the --data file, with a warning when a feature column's header reads as a label's name (one of
    LABEL_NAMES: the label is not in the last column, as in Kaggle's MNIST CSVs), and one when it is a CSV without
    a header row whose first row looks like one: the labels are text and that row's label is the one class of a
    single row (the header `400,500,600,label` over text labels reads as data, since its feature cells are
    numbers). A --test file is not checked: its classes are the training file's, and a small one may well hold a
    class once."""
    table = file_table(path)
    label_named = [i for i, name in enumerate(table.header) if name.strip().casefold() in LABEL_NAMES]
    if label_named:
        i = label_named[0]
        warnings.warn(f"{path}: column {i + 1} is named {str(table.header[i])!r}, but run.py takes the last column "
                      f"as the label and column {i + 1} as a feature; if it holds the label, move it last")
    first, counts = table.codes[0], np.bincount(table.codes)
    if (path.suffix.lower() == ".csv" and len(table.header) == 0 and table.classes.dtype.kind == "U"
            and counts[first] == 1 and (counts == 1).sum() == 1):
        warnings.warn(f"{path}: its first row reads as data (its feature cells are numbers), and its label "
                      f"{str(table.classes[first])!r} is a class of that row alone; if the row is a header, name the "
                      f"feature columns with text (e.g. w400), or drop it")
    return table


def given_split(name, train, test, rng, source, test_source, hint=""):
    """A Dataset of two Tables, the pool from `train` (its rows in order; a random 50,000 of them beyond that many)
    and the test set the whole of `test`, whose labels are coded as train's; UserError when their feature widths
    differ or a test label never occurs in training. `hint` ends the message about a class too rare (label_hint)."""
    X, classes, y = train.X, train.classes, train.codes
    X_test, test_classes, test_codes = test.X, test.classes, test.codes
    two_classes(classes, source, hint)
    if X_test.shape[1] != X.shape[1]:
        raise UserError(f"{test_source} has {X_test.shape[1]} features per row, {source} {X.shape[1]}; the train "
                        f"and test sets need the same features")
    y_test = codes_among(classes, test_classes[test_codes], test_source, source)
    pool = np.arange(len(X)) if len(X) <= POOL_CAP else np.sort(rng.choice(len(X), POOL_CAP, replace=False))
    missing = np.setdiff1d(np.arange(len(classes)), y[pool])
    if len(missing):
        raise UserError(f"{source}: class {label_text(classes[missing[0]])!r} is too rare to appear in a random pool "
                        f"of {POOL_CAP} rows; add examples of it or remove it{hint}")
    return Dataset(name, torch.from_numpy(X[pool]), torch.from_numpy(y[pool].astype(np.int64)),
                   torch.from_numpy(X_test), torch.from_numpy(y_test), len(classes), TABULAR_BATCH, rows=pool,
                   class_names=[label_text(c) for c in classes], source_sha256=arrays_sha256(y, y_test, X, X_test))


def columns_as_training(test, train, test_path, path):
    """The test Table with its feature columns in the order of the training Table's: matched by name when both
    CSV files have a header row, as they stand when neither has or either file is an .npz (which names no columns).
    UserError when only one CSV has a header row, or when the headers name different or repeated feature columns."""
    names, test_names = train.header.tolist(), test.header.tolist()
    if names == test_names or ".npz" in (path.suffix.lower(), test_path.suffix.lower()):
        return test
    if not names or not test_names:
        headed, plain = (path, test_path) if names else (test_path, path)
        raise UserError(f"{headed} has a header row and {plain} has none (its first row reads as data), so their "
                        f"columns cannot be matched by name; give both files the same header row, or neither")
    missing = [n for n in names if n not in test_names]
    extra = [n for n in test_names if n not in names]
    if missing or extra:
        differ = [f"{a} names {n[0]!r}, {b} does not" for a, b, n in ((path, test_path, missing),
                                                                      (test_path, path, extra)) if n]
        unlabelled = (f"; {test_path} takes its last column, {missing[0]!r}, for the label: add its label column "
                      f"last" if missing == names[-1:] and not extra else "")
        raise UserError(f"the header rows of {path} and {test_path} name different feature columns "
                        f"({'; '.join(differ)}){unlabelled}; give the test file the training file's column names, "
                        f"the label last")
    repeated = [n for n in names + test_names if names.count(n) > 1 or test_names.count(n) > 1]
    if repeated:
        raise UserError(f"the header rows of {path} and {test_path} order their feature columns differently and "
                        f"name {repeated[0]!r} more than once, so the columns cannot be matched by name; name each "
                        f"column once")
    order = [test_names.index(n) for n in names]
    return test._replace(X=np.ascontiguousarray(test.X[:, order]), header=train.header)


def codes_among(classes, labels, source, train_source):
    """The code 0..C-1 of each label among the training `classes` (int64): a label that reads as a number is the
    class of that value (1.0, 1 and '01' are one class: a table's label column of numbers loses '01''s zero), or,
    when two classes share it ('01' and '1'), the one written as the label is; any other label the class written
    alike. UserError naming a label that is not among them, or that two classes share and it does not tell apart."""
    text_code = {label_text(c): i for i, c in enumerate(classes)}
    value_codes = {}
    for i, c in enumerate(classes):
        if (value := number(c)) is not None:
            value_codes.setdefault(value, []).append(i)
    codes = []
    for label in labels:
        text, shared = label_text(label), value_codes.get(number(label), [])
        if len(shared) > 1 and not (isinstance(label, str) and text in text_code):
            raise UserError(f"{source}: label {text!r} is the value of training labels "
                            f"{', '.join(repr(label_text(classes[i])) for i in shared)} of {train_source}; rename "
                            f"them so that no two read as the same number")
        code = shared[0] if len(shared) == 1 else text_code.get(text)
        if code is None:
            raise UserError(f"{source}: label {text!r} never occurs in the training set {train_source}; "
                            f"every test label must be one of the training labels")
        codes.append(code)
    return np.array(codes, dtype=np.int64)


def number(label):
    """A label's value when it is a number or text that reads as one, else None: an exact int for a whole number
    (an integer, or text such as '01'), a float otherwise (1 and 1.0 are one dictionary key)."""
    value = label.item() if isinstance(label, np.generic) else label
    if isinstance(value, int) or (isinstance(value, str) and WHOLE_NUMBER.fullmatch(value.strip())):
        return int(value)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def npz_names(path):
    """The names of the arrays in an .npz file, read without loading them; UserError when it is not one or cannot be
    opened."""
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise UserError(f"{path} holds a single array, not arrays X and y; {NPZ_HINT}")
        with archive as z:
            return list(z.files)
    except PermissionError as e:
        raise UserError(f"{path} cannot be opened ({first_line(e)}); check its permissions")
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise UserError(f"{path} is not a readable .npz file ({first_line(e)}); {NPZ_HINT}")


def read_npz(path, part=""):
    """(X<part> with one row per example, y<part>) from an .npz file written by np.savez(file, X=X, y=y) (part
    "") or np.savez(file, X_train=..., y_train=..., X_test=..., y_test=...) (part "_train" or "_test")."""
    x_name, y_name = f"X{part}", f"y{part}"
    names = npz_names(path)
    if x_name not in names or y_name not in names:
        split = [a for a in SPLIT_ARRAYS if a not in names] if not part and set(SPLIT_ARRAYS) & set(names) else []
        wanted = f"{x_name} and {y_name}" + (f", nor all of {', '.join(SPLIT_ARRAYS)} (it lacks {', '.join(split)})"
                                             if split else "")
        raise UserError(f"{path} has arrays {sorted(names)}, not {wanted}; {NPZ_HINT}")
    try:
        with np.load(path, allow_pickle=False) as z:
            X, y = z[x_name], z[y_name]
    except ValueError as e:
        if "Object arrays" not in str(e):
            raise UserError(f"{path} is not a readable .npz file ({first_line(e)}); {NPZ_HINT}")
        raise UserError(f"{path}: {x_name} or {y_name} is an array of Python objects (dtype object, e.g. pandas' "
                        f"strings), which is not read; save it as np.asarray(y, dtype=str) or numbers")
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise UserError(f"{path} is not a readable .npz file ({first_line(e)}); {NPZ_HINT}")
    for array, array_name in ((X, x_name), (y, y_name)):
        if not isinstance(array, np.ndarray):  # a member that is not in .npy format reads as its raw bytes
            raise UserError(f"{path} is not a readable .npz file ({array_name} is not an .npy array); {NPZ_HINT}")
    if X.ndim == 0 or len(X) == 0:
        raise UserError(f"{path}: {x_name} has no rows; {NPZ_HINT}")
    if y.dtype.kind not in "biufUS":
        raise UserError(f"{path}: {y_name} has dtype {y.dtype}, neither numbers nor strings; {NPZ_HINT}")
    return X.reshape(len(X), -1), y


# pandas handles each column of a table on its own, about 1 ms apiece: 10,000 columns load in seconds, a million
# would take hours. Wider data goes in an .npz file.
MAX_CSV_COLUMNS = 10_000


def check_csv_width(path):
    """UserError when the CSV's first line (read up to 64 bytes a field) has more than MAX_CSV_COLUMNS fields."""
    with open(path, "rb") as f:
        n = f.readline(64 * MAX_CSV_COLUMNS).count(b",") + 1
    if n > MAX_CSV_COLUMNS:
        raise UserError(f"{path} has more than {MAX_CSV_COLUMNS} columns, the most a CSV may have; give wide data "
                        f"as an .npz file (np.savez(file, X=X, y=y))")


def read_csv_table(path):
    """(features, labels, the feature columns' names) from a CSV whose last column is the label; a first row may
    be a header (`is_header`), which gives the names (none, an empty array, without one). Last columns empty in
    every row, the header's included (each row ending in a comma), are dropped.
    A feature cell that is empty or one of pandas' NA marks (MISSING_MARKS) is missing; a label is missing only
    when empty (None, NA or null name classes too)."""
    import pandas as pd

    check_csv_width(path)
    try:
        df = pd.read_csv(path, header=None, dtype=str, skipinitialspace=True, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} is empty (no rows, or only blank lines); give a row per example, the label last")
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is not UTF-8 text ({first_line(e)}); save it as UTF-8")
    except pd.errors.ParserError as e:
        raise UserError(f"{path} is not a readable CSV file ({first_line(e)}); give every row as many "
                        f"comma-separated fields as the first")
    except ValueError as e:
        raise UserError(f"{path} is not a readable CSV file ({first_line(e)}); give comma-separated text, the "
                        f"label in the last column")
    if df.shape[1] < 2:
        raise UserError(f"{path} needs at least one feature column and a label column, separated by commas")
    df = df.apply(lambda col: col.str.strip()).replace("", np.nan)
    while df.shape[1] > 2 and df.iloc[:, -1].isna().all():  # every row ends in a comma (a spreadsheet's export)
        df = df.iloc[:, :-1]
    cells = df.iloc[:, :-1].mask(df.iloc[:, :-1].isin(MISSING_MARKS))
    features = cells.apply(pd.to_numeric, errors="coerce")
    text = features.isna() & cells.notna()
    check_header_cells(df, text, path)
    first, names = 1, np.array([], dtype=str)
    if is_header(df, text):
        names = df.iloc[0, :-1].to_numpy(dtype=str)
        df, features, text, first = df.iloc[1:], features.iloc[1:], text.iloc[1:], 2
    if len(df) == 0:
        raise UserError(f"{path} has a header but no data rows")
    if text.to_numpy().any():
        row, col = np.argwhere(text.to_numpy())[0]
        header = "; a header row must name every feature column with text" if row + first == 1 else ""
        raise UserError(f"{path}: column {col + 1} is not numeric (row {row + first}: {df.iloc[row, col]!r}); "
                        f"features must be numbers, the label goes in the last column{header}")
    if features.isna().to_numpy().any():
        row, col = np.argwhere(features.isna().to_numpy())[0]
        raise UserError(f"{path}: column {col + 1} is empty or NA in row {row + first}; fill in or drop missing values")
    return features.to_numpy(dtype=np.float64), df.iloc[:, -1].to_numpy(dtype=object), names


def check_header_cells(df, text, path):
    """UserError naming the first empty cell of a header row (a first row whose other feature cells are all text),
    as pandas' `to_csv` writes with its index column."""
    empty = df.iloc[0].isna().to_numpy()
    named = text.iloc[0].to_numpy()
    if empty.any() and named.any() and (named | empty[:-1]).all():
        col = int(np.flatnonzero(empty)[0]) + 1
        raise UserError(f"{path}: the header row's column {col} is empty (pandas' to_csv writes its index column "
                        f"there); save with to_csv(file, index=False), or name that column or drop it")


def is_header(df, text):
    """Whether the first row of the table `df` (strings) names the columns: it has no empty cell, and either every
    feature cell is text, or its d ≥ NUMBERED_MIN feature cells are pandas' column numbers 0, 1, …, d−1 (to_csv of
    an unnamed frame) with a label cell of text or d, or only its label is text while all other labels are numbers.
    `text` marks the feature cells that are neither numbers nor empty."""
    import pandas as pd

    labels = pd.to_numeric(df.iloc[:, -1], errors="coerce")
    first = df.iloc[0]
    if not first.notna().all():
        return False
    d = df.shape[1] - 1
    numbered = (d >= NUMBERED_MIN and first.iloc[:-1].tolist() == [str(i) for i in range(d)]
                and (pd.isna(labels.iloc[0]) or first.iloc[-1] == str(d)))
    return bool(text.iloc[0].all() or numbered or (not text.iloc[0].any() and pd.isna(labels.iloc[0])
                                                   and labels.iloc[1:].notna().all()))


def openml_csv(did, path):
    """PATH/openml/<did>.csv: where OpenML data set `did` is read from, offline, when that file is there."""
    return Path(path) / "openml" / f"{did}.csv"


def load_openml(did, path, rng):
    """OpenML data set `did`: `PATH/openml/<did>.csv` when present (offline), else the `openml` package with its
    cache under PATH/openml (which works offline once the data set is cached there)."""
    csv = openml_csv(did, path)
    if csv.exists() and not csv.is_file():
        raise UserError(f"{csv} is not a regular file (a folder, FIFO or device); put OpenML data set {did} there as "
                        f"a CSV, or remove it to fetch the data set")
    if csv.is_file():
        table = cached_table(f"table-{path_tag(csv)}", [csv], lambda: read_csv_table(csv), str(csv),
                             importlib.metadata.version("pandas"))
        return split_table(f"openml{did}", table, rng, str(csv), label_hint(csv))
    X, y = fetch_openml(did, Path(path) / "openml")
    return tabular_split(f"openml{did}", X, y, rng, source=f"OpenML data set {did}")


def fetch_openml(did, cache):
    """(X, y) of OpenML data set `did` through the openml package, cached under `cache`. One connection attempt
    (openml's default retries for a minute when offline); folders it created are removed again when it fails."""
    import openml

    openml.config.set_root_cache_directory(str(cache))
    openml.config.set_retry_policy("human", 1)
    datasets = Path(openml.config.get_cache_directory()) / "datasets"
    new_dirs = [d for d in (datasets, *datasets.parents) if not d.exists()]
    try:
        ds = openml.datasets.get_dataset(did, download_data=True, download_qualities=False,
                                         download_features_meta_data=False)
        if not ds.default_target_attribute:
            raise UserError(f"OpenML data set {did} names no target column; give it as a CSV with --data")
        X, y, _, _ = ds.get_data(target=ds.default_target_attribute, dataset_format="dataframe")
    except Exception as e:  # openml raises many kinds: network, server, parse errors
        for d in new_dirs:
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
        if isinstance(e, UserError):
            raise
        reason = "no connection to the OpenML server" if isinstance(e, OSError) else first_line(e)
        raise UserError(f"OpenML data set {did} could not be loaded ({reason}); offline, put it at {cache}/{did}.csv "
                        f"with the label in the last column, or its openml cache under {cache}")
    try:
        X = X.astype(np.float64).to_numpy()
    except (ValueError, TypeError):
        raise UserError(f"OpenML data set {did} has non-numeric features; only numeric data sets are supported")
    return X, y.to_numpy()


def load_image_data(name, path):
    """MNIST, FashionMNIST, SVHN or CIFAR10, normalised with the data set's channel stats; MNIST and FashionMNIST
    decoded once, then read from the cache (keyed by the files mnist_sources names), without torchvision."""
    sources = mnist_sources(name, Path(path)) if name in MNIST_LIKE else None
    if sources is None:
        return decode_image_data(name, path)
    arrays = cached_arrays(f"{name}-{path_tag(path)}", sources, (DECODER, torch.__version__),
                           lambda: dataset_arrays(decode_image_data(name, path)), (*SPLIT_ARRAYS, "sha256"))
    mean, std, batch = IMAGE_DATA[name]
    tensors = [torch.from_numpy(arrays[k]) for k in SPLIT_ARRAYS]
    black = -torch.tensor(mean) / torch.tensor(std)
    return Dataset(name, *tensors, IMAGE_CLASSES, batch, black=black, sha256=str(arrays["sha256"]))


def dataset_arrays(ds):
    """The tensors of a Dataset as numpy arrays, with their content_sha256 (a cache entry)."""
    arrays = {k: getattr(ds, k).numpy() for k in SPLIT_ARRAYS}
    return dict(arrays, sha256=np.array(content_sha256(ds)))


def mnist_sources(name, path):
    """The files MNIST or FashionMNIST is read from, as image_root and torchvision choose them: `path`'s
    processed/*.pt, else its extracted raw files, else its four .gz archives, else the copy downloaded into the
    cache; None when none of these is complete (loading then reports what is missing)."""
    folder, cached = path / name, image_cache(path) / name / "raw"
    archives = [folder / "raw" / f"{f}.gz" for f in MNIST_FILES]
    processed = [folder / "processed" / f for f in ("training.pt", "test.pt")]
    for files in (processed, [folder / "raw" / f for f in MNIST_FILES], archives, [cached / f for f in MNIST_FILES]):
        if all(f.is_file() for f in files):
            return files
        if files is archives and any(f.is_file() for f in files):
            return None
    return None


def source_files(data, did, path, test=""):
    """The files the data set of these flags is read from, as found now (a file among them may be absent): for
    --did, PATH/openml/<did>.csv; the --data and --test files; MNIST's or FashionMNIST's (mnist_sources); SVHN's
    .mat files, CIFAR-10's archive and extracted batches under `path`; none for digits."""
    if did > 0:
        return [openml_csv(did, path)]
    path = Path(path)
    if data in MNIST_LIKE:
        return mnist_sources(data, path) or []
    if data == "SVHN":
        return [path / f for f in SVHN_FILES]
    if data == "CIFAR10":
        folder = path / CIFAR_FOLDER
        return [path / CIFAR_ARCHIVE, *(sorted(folder.iterdir()) if folder.is_dir() else [])]
    return [Path(f) for f in (data, test) if f and f.lower().endswith((".csv", ".npz"))]


def check_available(data, path, test="", download=True):
    """UserError (the line a run would give) when the --data set `data` cannot be read: a .csv/.npz file, or its
    --test file, that is missing; an image data set that is neither under `path` nor in its cache, and cannot be
    downloaded now (fetch_image_data, which downloads it into the cache when it can). MNIST and FashionMNIST
    files that load_image_data reads as they are (mnist_sources) are taken as they are, without torchvision. Like
    load, it refuses a `path` that is a file (check_folder). Returns True, or False where `download` is False and
    an image data set would have to be downloaded (left unchecked)."""
    check_folder(data, 0, path)
    if data in IMAGE_DATA:
        if not (data in MNIST_LIKE and mnist_sources(data, Path(path))):
            if not download and image_root(data, Path(path))[1]:
                return False
            fetch_image_data(data, path)
    elif data.lower().endswith((".csv", ".npz")):
        user_file(data, "--data")
        if test:
            user_file(test, "--test")
    return True


def fetch_image_data(name, path):
    """The folder torchvision reads `name` from (image_root), after downloading both splits there when it is
    neither under `path` nor in the cache; UserError naming the files to put under `path` when that fails."""
    root, download = image_root(name, Path(path))
    if download:
        try:
            with socket_timeout(DOWNLOAD_TIMEOUT):
                for train in (True, False):
                    torchvision_arrays(name, root, train, download=True)
        except Exception as e:  # torchvision raises RuntimeError, URLError, OSError, EOFError, ValueError ...
            raise load_error(name, Path(path), root, True, e)
    return root


def decode_image_data(name, path):
    """MNIST, FashionMNIST, SVHN or CIFAR10 through torchvision (downloaded first when missing,
    fetch_image_data), normalised with the data set's channel stats."""
    mean, std, batch = IMAGE_DATA[name]
    root = fetch_image_data(name, path)
    try:
        X_tr, y_tr = torchvision_arrays(name, root, train=True, download=False)
        X_te, y_te = torchvision_arrays(name, root, train=False, download=False)
    except Exception as e:  # torchvision raises RuntimeError, OSError, EOFError, ValueError ...
        raise load_error(name, Path(path), root, False, e)
    check_counts(name, root, X_tr, y_tr, "training")
    check_counts(name, root, X_te, y_te, "test")
    if min(y_tr.min(), y_te.min()) < 0 or max(y_tr.max(), y_te.max()) >= IMAGE_CLASSES:
        raise UserError(f"{name} files under {root} hold labels outside 0..9; replace them with the original files")
    mean = torch.tensor(mean).view(1, -1, 1, 1)
    std = torch.tensor(std).view(1, -1, 1, 1)
    norm = lambda x: (x.float().div_(255) - mean) / std  # noqa: E731
    return Dataset(name, norm(X_tr), y_tr, norm(X_te), y_te, IMAGE_CLASSES, batch, black=(-mean / std).flatten())


def load_error(name, path, root, download, e):
    """The UserError of torchvision's error `e` reading `name` from `root` (the data folder `path` or its folder in
    the cache), having first tried to download it there when `download`: the file unreadable_file names, when one
    is found (in `path` only if some of the files are there), else what to put where, or what to replace."""
    if download:
        partial = any(file.exists() for file, _ in image_files(name, path))
        if partial and (found := unreadable_file(name, path, f"put {WHERE_TO_PUT[name]} under {path}")):
            return UserError(f"{name} files under {path} could not be read: {found} (see README, 'Data sets')")
        if own := own_folder_error(name, path):
            return UserError(own)
        return UserError(f"{name} is not under {path} and downloading it failed ({first_line(e)}); offline, "
                         f"put {WHERE_TO_PUT[name]} under {path} (see README, 'Data sets')")
    in_cache = root != path
    if found := unreadable_file(name, root, "delete that folder and run again" if in_cache
                                else "replace it with the original file"):
        return UserError(f"{name} files under {root} could not be read: {found} (see README, 'Data sets')")
    fix = "delete that folder and run again" if in_cache else "replace them with the original files"
    return UserError(f"{name} files under {root} could not be read ({first_line(e)}); {fix} (see README, "
                     f"'Data sets')")


def own_folder_error(name, path):
    """The error line when `path` is data set `name`'s own folder (PATH/MNIST: catalog.IMAGE_MARKS) rather than the
    folder holding it: give that folder as --path; None otherwise."""
    if path.name in IMAGE_MARKS[name]:
        return (f"{name} is not under {path}, which is {name}'s own folder: give the folder that holds it, --path "
                f"{path.parent} (see README, 'Data sets')")
    return None


def unreadable_file(name, root, fix):
    """'FILE what is wrong with it; what to do' for a file of `name` under `root` that torchvision cannot read: the
    first one missing, else the first that cannot be opened, is not the original (its md5, which torchvision checks
    for CIFAR10 and SVHN) or is not an MNIST idx file (idx_problem), whose `fix` ends the text; None when each file
    looks right, or when torchvision reads MNIST's processed/*.pt."""
    from torchvision.datasets.utils import check_integrity

    if name in MNIST_LIKE and all((root / name / "processed" / f).is_file() for f in ("training.pt", "test.pt")):
        return None
    files = image_files(name, root)
    for file, _ in files:
        if not file.is_file():
            return f"{file.relative_to(root)} is {'missing' if not file.exists() else 'not a regular file'}; {fix}"
    for file, md5 in files:
        try:
            problem = idx_problem(file) if md5 is None else None
            if md5 is not None and not check_integrity(str(file), md5):
                problem = "is not the original file (its md5 differs: truncated, corrupt or another version)"
        except OSError as e:
            return f"{file.relative_to(root)} cannot be opened ({first_line(e)}); check its permissions"
        if problem:
            return f"{file.relative_to(root)} {problem}; {fix}"
    return None


def image_files(name, root):
    """[(file, md5 or None)]: the files torchvision reads `name` from under `root`, with the md5 it checks them
    against (MNIST's extracted idx files have none)."""
    from torchvision.datasets import CIFAR10, SVHN

    if name in MNIST_LIKE:
        return [(root / name / "raw" / f, None) for f in MNIST_FILES]
    if name == "SVHN":
        return [(root / SVHN.split_list[s][1], SVHN.split_list[s][2]) for s in ("train", "test")]
    listed = [*CIFAR10.train_list, *CIFAR10.test_list, (CIFAR10.meta["filename"], CIFAR10.meta["md5"])]
    return [(root / CIFAR_FOLDER / f, md5) for f, md5 in listed]


IDX_MAGIC = {1: 2049, 3: 2051}  # an idx file of unsigned bytes: 0x0000 0x08 <dimensions>, big-endian


def idx_problem(file):
    """What keeps `file` (MNIST's <split>-images-idx3-ubyte or -labels-idx1-ubyte) from being an idx file of
    unsigned bytes: magic number 0x0000080N for N dimensions, N big-endian sizes, then their product of bytes;
    None when it is one."""
    ndim = 3 if "-idx3-" in file.name else 1
    header = 4 * (1 + ndim)
    size = file.stat().st_size
    with open(file, "rb") as f:
        head = f.read(header)
    if head[:2] == b"\x1f\x8b":
        return f"is gzip-compressed (the archive {file.name}.gz under the extracted file's name)"
    if size < header:
        return f"is {size} bytes long, shorter than its {header}-byte header: it is empty or truncated"
    magic, *dims = struct.unpack(f">{1 + ndim}I", head)
    if magic != IDX_MAGIC[ndim]:
        return f"starts with magic number {magic:#010x}, not {IDX_MAGIC[ndim]:#010x}: it is not an idx{ndim} file"
    if size - header != math.prod(dims):
        size_text = "×".join(map(str, dims)) + (f" = {math.prod(dims)}" if ndim > 1 else "")
        return (f"holds {size - header} bytes after its header, which announces {size_text}: it is truncated or has "
                f"bytes past its end")
    return None


def check_counts(name, root, images, labels, split):
    """UserError when the `split` set has not one label per image (an images file beside another file's labels)."""
    if len(images) != len(labels):
        raise UserError(f"{name} files under {root}: the {split} set has {len(images)} images but {len(labels)} "
                        f"labels; replace them with the original files")


def torchvision_arrays(name, root, train, download):
    """uint8 images (n, channels, height, width) and int64 labels of one split, via torchvision's class."""
    import torchvision.datasets as tvd

    if name in MNIST_LIKE:
        ds = getattr(tvd, name)(str(root), train=train, download=download)
        return ds.data.unsqueeze(1), ds.targets.long()
    if name == "SVHN":
        ds = tvd.SVHN(str(root), split="train" if train else "test", download=download)
        return torch.from_numpy(ds.data), torch.from_numpy(ds.labels).long()
    ds = tvd.CIFAR10(str(root), train=train, download=download)
    return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets, dtype=torch.int64)


def image_cache(path):
    """The cache folder of the data folder `path`: one per resolved path, so two data folders never mix."""
    return cache_dir() / "torchvision" / path_tag(path)


def image_root(name, path):
    """(root, download): the folder torchvision reads `name` from, and whether it should download there first.
    `path` when it holds the files ready to read; else `path`'s own folder in the cache, after extracting there
    the archives found in `path` (MNIST's .gz, CIFAR-10's .tar.gz), or where torchvision downloads them."""
    cache = image_cache(path)
    if ready(name, path):
        return path, False
    if name in MNIST_LIKE and any((path / name / "raw" / f"{f}.gz").is_file() for f in MNIST_FILES):
        extract_mnist(name, path / name / "raw", cache / name / "raw")
        return cache, False
    if name == "CIFAR10" and (path / CIFAR_ARCHIVE).is_file() and not ready(name, cache):
        extract_cifar10(path / CIFAR_ARCHIVE, cache / CIFAR_FOLDER)
    return cache, not ready(name, cache)


def ready(name, root):
    """Whether `root` holds `name` in the layout torchvision reads without extracting or downloading."""
    if name in MNIST_LIKE:
        return (all((root / name / "raw" / f).is_file() for f in MNIST_FILES)
                or all((root / name / "processed" / f).is_file() for f in ("training.pt", "test.pt")))
    if name == "SVHN":
        return all((root / f).is_file() for f in SVHN_FILES)
    return (root / CIFAR_FOLDER).is_dir()


def extract_mnist(name, raw, dest):
    """Check the four .gz archives in `raw` against torchvision's md5 sums, then extract those not yet in `dest`."""
    import torchvision.datasets as tvd

    archives = getattr(tvd, name).resources
    for archive, md5 in archives:
        src = raw / archive
        if not src.is_file():
            raise UserError(f"{src} is missing; put all four {name} .gz files in {raw} (see README, 'Data sets')")
        check_original(src, md5, "file")
    for archive, _ in archives:
        if not (dest / Path(archive).stem).is_file():
            extract_into(raw / archive, dest / Path(archive).stem, name)


def extract_cifar10(archive, dest):
    """Check CIFAR-10's archive against torchvision's md5 sum, then extract it to `dest` (its batches' folder)."""
    from torchvision.datasets import CIFAR10

    check_original(archive, CIFAR10.tgz_md5, "CIFAR-10 python archive (see README, 'Data sets')")
    extract_into(archive, dest, "CIFAR10")


def check_original(file, md5, original):
    """UserError naming `file` when its md5 (torchvision's check_integrity) is not `md5`: it is to be replaced with
    the original `original` (what the original is, for the message)."""
    from torchvision.datasets.utils import check_integrity

    if not check_integrity(str(file), md5):
        raise UserError(f"{file} is corrupt or truncated (its md5 is not the original's); replace it with the "
                        f"original {original}")


def extract_into(archive, dest, name):
    """Extract `archive` with torchvision's extractor to `dest` (the file or folder it unpacks to, in the cache)
    through a temporary folder beside it and one rename, so a crash or a parallel run never leaves a half-written
    copy. UserError when it cannot: an OS error (a full disk, a read-only cache) names the cache (cache_failure), as
    the archive passed its md5 check; an archive that cannot be unpacked is to be replaced."""
    from torchvision.datasets.utils import extract_archive

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        work = tempfile.TemporaryDirectory(dir=dest.parent, prefix=".extract-")
    except OSError as e:
        raise cache_failure(f"creating {dest.parent}", e) from None
    with work as tmp:
        try:
            extract_archive(str(archive), tmp)
            os.replace(Path(tmp) / dest.name, dest)
        except Exception as e:  # tarfile, gzip, zlib and OS errors
            if dest.exists():  # a parallel run has just put its copy there
                return
            if isinstance(e, OSError) and e.errno is not None:
                raise cache_failure(f"extracting {archive} into {dest.parent}", e) from None
            raise UserError(f"{archive} could not be extracted ({first_line(e)}); replace it with the original "
                            f"{name} file") from None


def cache_failure(doing, e):
    """The UserError for the cache that failed while `doing` (words) with OSError `e` (a full disk, a folder not
    writable, a file where a folder goes)."""
    return UserError(f"{doing} failed ({first_line(e)}); the cache ({cache_dir()}) needs room and write access: "
                     f"fix it, or set BADGE_CACHE to a folder that has them (see README, 'Data sets')")


@contextmanager
def socket_timeout(seconds):
    """Network connects and reads give up after `seconds` (torchvision's downloads set no timeout of their own)."""
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(before)


def first_line(e, width=160):
    """'Type: first line of the message', shortened to `width` characters; a first line that ends in ':' (as
    torchvision's "Error downloading X:") is followed by the message's last line, the cause."""
    text = [t.strip() for t in str(e).strip().splitlines() if t.strip()]
    line = f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
    if len(text) > 1 and line.endswith(":"):
        line = f"{line} {text[-1]}"
    return line if len(line) <= width else line[:width - 3] + "..."
