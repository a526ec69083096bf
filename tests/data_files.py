"""Small data files in the true on-disk formats the loaders read (CIFAR-10 batches, SVHN .mat, an openml cache),
and a snapshot of a folder tree to prove that loading never writes into the read-only data folder."""
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np

from cli import SHARED_DATA
CIFAR_MEANS, CIFAR_STDS = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
SVHN_MEANS, SVHN_STDS = (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)


def tree_state(root):
    """{relative path: (kind, size, mtime_ns)} of every file and folder under `root`, `root` included."""
    state = {}
    for folder, dirs, files in os.walk(root):
        for name in [".", *dirs, *files]:
            p = Path(folder) / name
            st = p.lstat()
            state[str(p.relative_to(root))] = (p.is_dir(), st.st_size, st.st_mtime_ns)
    return state


class Py2Pickler(pickle._Pickler):
    """Pickles as Python 2 with numpy 1 did, the format of the CIFAR-10 python batches: text and bytes are py2 `str`
    (BINSTRING), so pickle.load(f, encoding='latin1') gives str keys and encoding='bytes' gives b'data'; numpy's
    globals under numpy 1's module names."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str

    def save_global(self, obj, name=None):
        """A global as numpy 1 named it: numpy 2's numpy._core.multiarray._reconstruct is numpy.core.multiarray's,
        the name in the original batches (numpy 2 still reads it)."""
        module = getattr(obj, "__module__", "")
        if not module.startswith("numpy._core"):
            return super().save_global(obj, name)
        self.write(pickle.GLOBAL + f"numpy.core{module[len('numpy._core'):]}\n{name or obj.__name__}\n".encode())
        self.memoize(obj)


def write_cifar10(root, n_per_batch=6, seed=0):
    """root/cifar-10-batches-py with data_batch_1..5, test_batch (uint8 N×3072: 1024 red, 1024 green, 1024 blue
    values, each row-major 32×32; labels 0..9) and batches.meta. Returns {file name: (data, labels)}."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n_per_batch)]
        label = f"training batch {i + 1} of 5" if i < 5 else "testing batch 1 of 1"
        entry = {"batch_label": label, "labels": labels, "data": data,
                 "filenames": [f"img_{i}_{k}.png" for k in range(n_per_batch)]}
        with open(folder / name, "wb") as f:
            Py2Pickler(f, protocol=2).dump(entry)
        batches[name] = (data, labels)
    meta = {"num_cases_per_batch": n_per_batch, "num_vis": 3072,
            "label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}
    with open(folder / "batches.meta", "wb") as f:
        Py2Pickler(f, protocol=2).dump(meta)
    return batches


def write_svhn(root, n_train=12, n_test=7, seed=0):
    """root/train_32x32.mat and test_32x32.mat as the SVHN site ships them, MATLAB 5 files of compressed arrays:
    X uint8 (32, 32, 3, N) (height, width, channel, image), y uint8 (N, 1) with 1..10, 10 meaning the digit 0.
    Returns {split: (X, y)}."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        X = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = rng.integers(1, 11, (n, 1)).astype(np.uint8)
        y[0, 0] = 10
        savemat(Path(root) / f"{split}_32x32.mat", {"X": X, "y": y}, do_compression=True)
        out[split] = (X, y)
    return out


def skip_md5(monkeypatch, module):
    """Bypass torchvision's md5 check of the original files, and only that: `module`'s check_integrity still
    requires the file to exist."""
    monkeypatch.setattr(module, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))


def write_openml_cache(cache, did, X, y, fmt):
    """An openml 0.15 cache of data set `did` under `cache` (what set_root_cache_directory(cache) reads):
    org/openml/www/datasets/<did>/description.xml plus the data as dataset.arff, or as dataset_<did>.pq
    when the description names a parquet URL (as the server's descriptions do)."""
    folder = Path(cache) / "org" / "openml" / "www" / "datasets" / str(did)
    folder.mkdir(parents=True)
    classes = sorted(set(y))
    parquet = f"  <oml:parquet_url>https://data.openml.org/datasets/0000/{did:04d}/dataset_{did}.pq</oml:parquet_url>\n"
    (folder / "description.xml").write_text(
        '<oml:data_set_description xmlns:oml="http://openml.org/openml">\n'
        f"  <oml:id>{did}</oml:id>\n  <oml:name>tiny{did}</oml:name>\n  <oml:version>1</oml:version>\n"
        f"  <oml:format>ARFF</oml:format>\n"
        f"  <oml:url>https://api.openml.org/data/v1/download/{did}/tiny{did}.arff</oml:url>\n"
        + (parquet if fmt == "pq" else "")
        + "  <oml:default_target_attribute>class</oml:default_target_attribute>\n"
        "  <oml:status>active</oml:status>\n</oml:data_set_description>\n")
    if fmt == "pq":
        import pandas as pd

        df = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
        df["class"] = pd.Categorical(y, categories=classes)
        df.to_parquet(folder / f"dataset_{did}.pq")
        return folder
    lines = [f"@RELATION tiny{did}"] + [f"@ATTRIBUTE f{j} NUMERIC" for j in range(X.shape[1])]
    lines += ["@ATTRIBUTE class {" + ",".join(classes) + "}", "@DATA"]
    lines += [",".join([*map(repr, row.tolist()), label]) for row, label in zip(X, y)]
    (folder / "dataset.arff").write_text("\n".join(lines) + "\n")
    return folder


def copy_mnist(dest, name="MNIST"):
    """A copy of the real .gz archives under dest/<name>/raw; returns that folder."""
    raw = Path(dest) / name / "raw"
    raw.mkdir(parents=True)
    for f in (SHARED_DATA / name / "raw").iterdir():
        shutil.copyfile(f, raw / f.name)
    return raw


def write_letter_slice(dest, n_rows=2000):
    """dest/openml/6.csv (what --did 6 --path dest reads offline) holding the header and the first n_rows rows of
    the real letter data (OpenML 6); the first 2,000 hold all 26 classes, each at least 58 times."""
    folder = Path(dest) / "openml"
    folder.mkdir(parents=True)
    with open(SHARED_DATA / "openml" / "6.csv") as f:
        head = [line for _, line in zip(range(n_rows + 1), f)]
    (folder / "6.csv").write_text("".join(head))
    return dest


def write_mnist_slice(dest, name="MNIST", n_train=2000, n_test=500):
    """dest/<name>/raw with the extracted idx files torchvision reads in place, holding the first n_train / n_test
    images and labels of the real archives (idx: big-endian magic 2051 or 2049, the sizes, then the bytes)."""
    import gzip

    raw = Path(dest) / name / "raw"
    raw.mkdir(parents=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        for kind, magic, dims, offset in (("images-idx3", 2051, (n, 28, 28), 16), ("labels-idx1", 2049, (n,), 8)):
            with gzip.open(SHARED_DATA / name / "raw" / f"{split}-{kind}-ubyte.gz", "rb") as f:
                payload = f.read()[offset: offset + int(np.prod(dims))]
            header = struct.pack(">" + "i" * (1 + len(dims)), magic, *dims)
            (raw / f"{split}-{kind}-ubyte").write_bytes(header + payload)
    return raw
