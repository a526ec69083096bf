"""Data loading (PROTOCOL §3) with the real libraries: sklearn's digits, torchvision's MNIST / FashionMNIST from the
real files, torchvision's SVHN / CIFAR10 classes on small files in their true on-disk formats, openml reading its
own cache offline, user CSV / NPZ files, the tabular split rules and --trunc. Every bad input must give one UserError
line that says what to do."""
import gzip
import pickle
import pickletools
import shutil
import socket
import struct
import tarfile
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision.datasets.cifar
import torchvision.datasets.svhn
import torchvision.datasets.utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dataset
from data_files import (CIFAR_MEANS, CIFAR_STDS, SHARED_DATA, SVHN_MEANS, SVHN_STDS, copy_mnist, skip_md5, tree_state,
                        write_cifar10, write_mnist_slice, write_openml_cache, write_svhn)
from errors import UserError


def rng(seed=0):
    return np.random.default_rng(seed)


def user_error(fn, *fragments):
    """fn() raises UserError whose message is one line holding every fragment; returns the message."""
    with pytest.raises(UserError) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg and msg.strip() == msg, msg
    for f in fragments:
        assert f in msg, msg
    return msg


def raw_idx(path, offset):
    """The uint8 payload of an idx .gz file, read without torchvision."""
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


# ---------------------------------------------------------------- MNIST and FashionMNIST, the real files


@pytest.fixture(scope="module")
def mnist_like():
    """Both data sets loaded once from the shared read-only folder, with its state before and after."""
    before = tree_state(SHARED_DATA)
    loaded = {name: dataset.load(name, 0, str(SHARED_DATA), rng()) for name in dataset.MNIST_LIKE}
    return loaded, before, tree_state(SHARED_DATA)


@pytest.mark.slow
@pytest.mark.parametrize("name", dataset.MNIST_LIKE)
def test_mnist_like_match_the_raw_files_normalised(mnist_like, name):
    ds = mnist_like[0][name]
    raw = SHARED_DATA / name / "raw"
    assert ds.name == name and ds.is_image and ds.n_classes == 10 and ds.train_batch == 64
    assert ds.X_train.shape == (60000, 1, 28, 28) and ds.X_test.shape == (10000, 1, 28, 28)
    assert ds.X_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert torch.equal(ds.y_train, torch.from_numpy(raw_idx(raw / "train-labels-idx1-ubyte.gz", 8).astype(np.int64)))
    assert torch.equal(ds.y_test, torch.from_numpy(raw_idx(raw / "t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)))
    assert set(ds.y_train.unique().tolist()) == set(range(10))
    test_pixels = raw_idx(raw / "t10k-images-idx3-ubyte.gz", 16).reshape(10000, 1, 28, 28)
    expected = (torch.from_numpy(test_pixels.astype(np.float32)) / 255 - 0.1307) / 0.3081
    assert torch.allclose(ds.X_test, expected, atol=1e-6)
    train_pixels = raw_idx(raw / "train-images-idx3-ubyte.gz", 16).reshape(60000, 28, 28)
    i, r, c = np.argwhere(train_pixels == 255)[0]  # a white pixel: (255/255 − 0.1307)/0.3081
    assert ds.X_train[i, 0, r, c].item() == pytest.approx((1 - 0.1307) / 0.3081, abs=1e-6)
    i, r, c = np.argwhere(train_pixels == 0)[0]
    assert ds.X_train[i, 0, r, c].item() == pytest.approx(-0.1307 / 0.3081, abs=1e-6)
    assert torch.allclose(ds.black, torch.tensor([-0.1307 / 0.3081]))
    sample = np.random.default_rng(1).choice(60000, 500, replace=False)
    assert torch.allclose(ds.X_train[sample, 0] * 0.3081 + 0.1307,
                          torch.from_numpy(train_pixels[sample].astype(np.float32)) / 255, atol=1e-6)


@pytest.mark.slow
def test_loading_never_writes_into_the_data_folder(mnist_like, badge_cache):
    _, before, after = mnist_like
    assert before == after
    for name in dataset.MNIST_LIKE:
        cached = dataset.image_cache(SHARED_DATA) / name / "raw"
        assert cached.is_relative_to(badge_cache)
        assert sorted(p.name for p in cached.iterdir()) == sorted(dataset.MNIST_FILES)  # no temporary leftovers


@pytest.mark.parametrize("damage, fragment", [
    ("truncate train-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz is corrupt or truncated"),
    ("flip a byte of t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz is corrupt or truncated"),
    ("remove train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz is missing"),
])
def test_damaged_mnist_archives_are_reported_before_anything_is_extracted(tmp_path, monkeypatch, damage, fragment):
    monkeypatch.setenv("BADGE_CACHE", str(tmp_path / "cache"))
    raw = copy_mnist(tmp_path / "data")
    target = raw / damage.split()[-1]
    if damage.startswith("truncate"):
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    elif damage.startswith("flip"):
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    else:
        target.unlink()
    user_error(lambda: dataset.load("MNIST", 0, str(tmp_path / "data"), rng()), fragment)
    assert not list((tmp_path / "cache").rglob("*-ubyte"))


@pytest.mark.slow
def test_truncated_extracted_mnist_files_in_the_data_folder(tmp_path, mnist_like):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    cached = dataset.image_cache(SHARED_DATA) / "MNIST" / "raw"
    for f in dataset.MNIST_FILES:
        shutil.copyfile(cached / f, raw / f)
    images = raw / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[: 16 + 784 * 100 + 5])
    user_error(lambda: dataset.load("MNIST", 0, str(tmp_path), rng()), f"MNIST files under {tmp_path}",
               "MNIST/raw/train-images-idx3-ubyte holds 78405 bytes after its header, which announces 60000×28×28 = "
               "47040000: it is truncated", "replace it with the original file")


def rewrite(file, edit):
    """Replace `file`'s bytes with edit(its bytes)."""
    file.write_bytes(edit(file.read_bytes()))


@pytest.mark.parametrize("file, edit, problem", [
    ("train-images-idx3-ubyte", lambda b: struct.pack(">i", 2049) + b[4:],
     "starts with magic number 0x00000801, not 0x00000803: it is not an idx3 file"),
    ("t10k-labels-idx1-ubyte", lambda b: b"\x12\x34" + b[2:],
     "starts with magic number 0x12340801, not 0x00000801: it is not an idx1 file"),
    ("t10k-labels-idx1-ubyte", lambda b: b"", "is 0 bytes long, shorter than its 8-byte header: it is empty"),
    ("train-labels-idx1-ubyte", lambda b: b + b"\0", "holds 201 bytes after its header, which announces 200: it"),
    ("train-images-idx3-ubyte", gzip.compress,
     "is gzip-compressed (the archive train-images-idx3-ubyte.gz under the extracted file's name)"),
])
def test_a_damaged_idx_file_is_named_with_what_is_wrong(tmp_path, file, edit, problem):
    raw = write_mnist_slice(tmp_path, "MNIST", 200, 50)
    rewrite(raw / file, edit)
    user_error(lambda: dataset.load("MNIST", 0, str(tmp_path), rng()),
               f"MNIST files under {tmp_path} could not be read: MNIST/raw/{file} {problem}",
               "replace it with the original file")


def test_images_beside_another_splits_labels_are_refused(tmp_path):
    """torchvision reads each idx file on its own: 200 training images beside the 50 test labels loaded, and the
    run trained on images paired with the wrong labels."""
    raw = write_mnist_slice(tmp_path, "MNIST", 200, 50)
    shutil.copyfile(raw / "t10k-labels-idx1-ubyte", raw / "train-labels-idx1-ubyte")
    user_error(lambda: dataset.load("MNIST", 0, str(tmp_path), rng()), f"MNIST files under {tmp_path}",
               "the training set has 200 images but 50 labels", "replace them with the original files")


def test_old_torchvision_processed_files_are_read_in_place(tmp_path):
    """Data folders of the original code's era hold MNIST/processed/{training,test}.pt: (uint8 images, labels)."""
    processed = tmp_path / "MNIST" / "processed"
    processed.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    splits = {f: (torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8), torch.arange(n) % 10)
              for f, n in (("training.pt", 40), ("test.pt", 20))}
    for f, tensors in splits.items():
        torch.save(tensors, processed / f)
    before = tree_state(tmp_path)
    ds = dataset.load("MNIST", 0, str(tmp_path), rng())
    assert tree_state(tmp_path) == before
    images, labels = splits["training.pt"]
    assert torch.allclose(ds.X_train[:, 0], (images.float() / 255 - 0.1307) / 0.3081, atol=1e-6)
    assert torch.equal(ds.y_train, labels) and ds.X_test.shape == (20, 1, 28, 28)


# ---------------------------------------------------------------- CIFAR10 and SVHN: small files, real classes


def test_cifar10_batches_through_torchvision(tmp_path, monkeypatch):
    batches = write_cifar10(tmp_path)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        genuine_style = pickle.load(f, encoding="bytes")  # the CIFAR site's own recipe
    assert genuine_style[b"data"].dtype == np.uint8 and genuine_style[b"data"].shape == (6, 3072)
    skip_md5(monkeypatch, torchvision.datasets.cifar)
    before = tree_state(tmp_path)
    ds = dataset.load("CIFAR10", 0, str(tmp_path), rng(), aug=1)
    assert tree_state(tmp_path) == before
    train = [batches[f"data_batch_{k}"] for k in range(1, 6)]
    X_train = np.concatenate([d for d, _ in train])
    y_train = sum((labels for _, labels in train), [])
    X_test, y_test = batches["test_batch"]
    mean, std = torch.tensor(CIFAR_MEANS).view(1, 3, 1, 1), torch.tensor(CIFAR_STDS).view(1, 3, 1, 1)
    as_images = lambda rows: torch.from_numpy(rows.reshape(-1, 3, 32, 32).astype(np.float32))  # noqa: E731
    assert ds.X_train.shape == (30, 3, 32, 32) and ds.X_test.shape == (6, 3, 32, 32)
    assert torch.allclose(ds.X_train, (as_images(X_train) / 255 - mean) / std, atol=1e-6)
    assert torch.allclose(ds.X_test, (as_images(X_test) / 255 - mean) / std, atol=1e-6)
    # pixel (channel 2, row 5, column 7) of image 3 is byte 2·1024 + 5·32 + 7 of its row
    assert ds.X_train[3, 2, 5, 7].item() == pytest.approx((X_train[3, 2048 + 167] / 255 - 0.4465) / 0.2616, abs=1e-6)
    assert ds.y_train.tolist() == y_train and ds.y_test.tolist() == y_test
    assert ds.train_batch == 128 and ds.augment and ds.n_classes == 10
    assert torch.allclose(ds.black, -torch.tensor(CIFAR_MEANS) / torch.tensor(CIFAR_STDS))


def test_the_cifar10_batches_written_are_python2_pickles(tmp_path):
    """The CIFAR site's batches were pickled by Python 2 with numpy 1: protocol 2, every text a byte string
    (BINSTRING), the array rebuilt by numpy.core.multiarray._reconstruct (numpy 2's numpy._core did not exist)."""
    write_cifar10(tmp_path, n_per_batch=2)
    for name in ("data_batch_1", "test_batch", "batches.meta"):
        ops = list(pickletools.genops((tmp_path / "cifar-10-batches-py" / name).read_bytes()))
        assert ops[0][0].name == "PROTO" and ops[0][1] == 2
        assert not {op.name for op, _, _ in ops} & {"BINUNICODE", "SHORT_BINUNICODE", "STACK_GLOBAL", "FRAME"}
        found = {arg for op, arg, _ in ops if op.name == "GLOBAL"}
        assert found == ({"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}
                         if name != "batches.meta" else set())


def test_cifar10_archive_is_extracted_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BADGE_CACHE", str(tmp_path / "cache"))
    write_cifar10(tmp_path / "build")
    data = tmp_path / "data"
    data.mkdir()
    with tarfile.open(data / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "build" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    user_error(lambda: dataset.load("CIFAR10", 0, str(data), rng()), f"{data / 'cifar-10-python.tar.gz'} is corrupt "
               "or truncated (its md5 is not the original's); replace it with the original CIFAR-10 python archive")
    assert not (tmp_path / "cache" / "torchvision").exists()  # checked before extracting: nothing to delete
    skip_md5(monkeypatch, torchvision.datasets.cifar)
    skip_md5(monkeypatch, torchvision.datasets.utils)
    before = tree_state(data)
    ds = dataset.load("CIFAR10", 0, str(data), rng())
    assert tree_state(data) == before
    assert ds.X_train.shape == (30, 3, 32, 32)
    assert [p.name for p in (tmp_path / "cache" / "torchvision").glob("*/*")] == ["cifar-10-batches-py"]
    (data / "cifar-10-python.tar.gz").write_bytes(b"not a tar file")
    monkeypatch.setenv("BADGE_CACHE", str(tmp_path / "cache2"))
    user_error(lambda: dataset.load("CIFAR10", 0, str(data), rng()), "cifar-10-python.tar.gz could not be extracted")


def test_svhn_mat_files_through_torchvision(tmp_path, monkeypatch):
    mats = write_svhn(tmp_path)
    skip_md5(monkeypatch, torchvision.datasets.svhn)
    ds = dataset.load("SVHN", 0, str(tmp_path), rng(), aug=1)
    X, y = mats["train"]
    assert ds.X_train.shape == (12, 3, 32, 32) and ds.X_test.shape == (7, 3, 32, 32)
    expected_labels = np.where(y[:, 0] == 10, 0, y[:, 0])
    assert ds.y_train.tolist() == expected_labels.tolist() and ds.y_train[0] == 0
    assert ds.y_test.tolist() == np.where(mats["test"][1][:, 0] == 10, 0, mats["test"][1][:, 0]).tolist()
    mean, std = torch.tensor(SVHN_MEANS).view(1, 3, 1, 1), torch.tensor(SVHN_STDS).view(1, 3, 1, 1)
    images = torch.from_numpy(X.transpose(3, 2, 0, 1).astype(np.float32))  # (h, w, c, n) → (n, c, h, w)
    assert torch.allclose(ds.X_train, (images / 255 - mean) / std, atol=1e-6)
    assert ds.X_train[4, 1, 9, 20].item() == pytest.approx((X[9, 20, 1, 4] / 255 - 0.4438) / 0.2010, abs=1e-6)
    assert ds.train_batch == 64 and not ds.augment and ds.n_classes == 10


def test_the_svhn_files_written_are_compressed_matlab_5_files(tmp_path):
    """The SVHN site's .mat files are MATLAB 5 files (what scipy's loadmat reads) whose arrays are zlib-compressed
    elements (miCOMPRESSED, type 15): train_32x32.mat is 182 MB, less than its 225 MB of pixels."""
    write_svhn(tmp_path, n_train=3, n_test=2)
    for name in dataset.SVHN_FILES:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"MATLAB 5.0 MAT-file") and data[126:128] == b"IM"  # little-endian
        assert struct.unpack("<I", data[128:132])[0] == 15


@pytest.mark.parametrize("name, writer, file", [("CIFAR10", write_cifar10, "cifar-10-batches-py/data_batch_1"),
                                                ("SVHN", write_svhn, "train_32x32.mat")])
def test_files_that_are_not_the_originals_fail_torchvisions_md5(tmp_path, name, writer, file):
    writer(tmp_path)
    user_error(lambda: dataset.load(name, 0, str(tmp_path), rng()), f"{name} files under {tmp_path} could not be "
               f"read: {file} is not the original file (its md5 differs", "replace it with the original file")


WRITE_ONLY = Path("/proc/sys/vm/drop_caches")  # a regular file that not even root may read


@pytest.mark.skipif(not WRITE_ONLY.is_file(), reason="needs Linux's write-only /proc/sys/vm/drop_caches")
def test_an_svhn_file_that_cannot_be_opened_is_named_with_its_permissions(tmp_path):
    write_svhn(tmp_path)
    (tmp_path / "train_32x32.mat").unlink()
    (tmp_path / "train_32x32.mat").symlink_to(WRITE_ONLY)
    user_error(lambda: dataset.load("SVHN", 0, str(tmp_path), rng()),
               f"SVHN files under {tmp_path} could not be read: train_32x32.mat cannot be opened (PermissionError",
               "check its permissions")


@pytest.mark.skipif(not WRITE_ONLY.is_file(), reason="needs Linux's write-only /proc/sys/vm/drop_caches")
def test_an_npz_file_that_cannot_be_opened_is_named_with_its_permissions(tmp_path):
    """Not 'write it with np.savez': the file may be right, only unreadable."""
    (tmp_path / "x.npz").symlink_to(WRITE_ONLY)
    msg = user_error(lambda: dataset.load(str(tmp_path / "x.npz"), 0, "data", rng()),
                     f"{tmp_path / 'x.npz'} cannot be opened (PermissionError", "check its permissions")
    assert "np.savez" not in msg


def test_a_cifar10_folder_missing_a_batch_names_it(tmp_path, monkeypatch):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    skip_md5(monkeypatch, torchvision.datasets.cifar)
    user_error(lambda: dataset.load("CIFAR10", 0, str(tmp_path), rng()),
               f"CIFAR10 files under {tmp_path} could not be read: cifar-10-batches-py/test_batch is missing")


def no_network(*args, **kwargs):
    raise OSError("the network is off in this test")


@pytest.mark.parametrize("name, missing", [("SVHN", "test_32x32.mat"), ("MNIST", "MNIST/raw/t10k-labels-idx1-ubyte")])
def test_a_partial_copy_names_the_missing_file(tmp_path, monkeypatch, name, missing):
    """A data folder with some of the files is not 'not under PATH': the missing one is named."""
    monkeypatch.setenv("BADGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(socket, "create_connection", no_network)  # what torchvision tries first: the download
    data = tmp_path / "data"
    data.mkdir()
    write_svhn(data) if name == "SVHN" else write_mnist_slice(data, name, 20, 10)
    (data / missing).unlink()
    user_error(lambda: dataset.load(name, 0, str(data), rng()),
               f"{name} files under {data} could not be read: {missing} is missing; put {dataset.WHERE_TO_PUT[name]} "
               f"under {data}")


@pytest.mark.slow
@pytest.mark.parametrize("name, fragment", [("CIFAR10", "cifar-10-batches-py"), ("SVHN", "train_32x32.mat"),
                                            ("MNIST", "MNIST/raw/")])
def test_missing_image_files_offline_fail_fast_with_where_to_put_them(tmp_path, mnist_like, name, fragment):
    data = tmp_path / "data"  # the session's cache holds MNIST, extracted for another --path: not used here
    data.mkdir()
    start = time.perf_counter()
    user_error(lambda: dataset.load(name, 0, str(data), rng()), f"{name} is not under {data}", fragment,
               "downloading it failed")
    assert time.perf_counter() - start < 20
    assert list(data.iterdir()) == []
    assert socket.getdefaulttimeout() is None  # the download timeout does not leak out


def test_an_image_data_sets_own_folder_as_path_names_its_parent(tmp_path, monkeypatch):
    """--path PATH/MNIST said that MNIST is not under it and that downloading failed, not to give PATH."""
    monkeypatch.setenv("BADGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(socket, "create_connection", no_network)
    write_mnist_slice(tmp_path / "data", "MNIST", 20, 10)
    own = tmp_path / "data" / "MNIST"
    msg = user_error(lambda: dataset.load("MNIST", 0, str(own), rng()), f"MNIST is not under {own}, which is MNIST's "
                     f"own folder: give the folder that holds it, --path {tmp_path / 'data'}")
    assert "download" not in msg


# ---------------------------------------------------------------- OpenML


def test_letter_from_the_offline_csv():
    ds = dataset.load("", 6, str(SHARED_DATA), rng())
    table = pd.read_csv(SHARED_DATA / "openml" / "6.csv")
    assert ds.name == "openml6" and not ds.is_image and ds.n_classes == 26 and ds.train_batch == 128
    assert ds.X_train.shape == (18000, 16) and ds.X_test.shape == (2000, 16)
    assert sorted(ds.y_train.unique().tolist()) == list(range(26))
    counts = torch.bincount(torch.cat([ds.y_train, ds.y_test]), minlength=26).tolist()
    assert counts == table["class"].value_counts().sort_index().tolist()  # A → 0, ..., Z → 25
    assert ds.X_train.min() >= 0 and ds.X_train.max() <= 15


@pytest.mark.parametrize("fmt", ["arff", "pq"])
def test_openml_reads_its_own_cache_without_the_network(tmp_path, monkeypatch, fmt):
    X = np.round(np.random.default_rng(2).normal(size=(40, 3)), 3)
    y = [("ab", "cd", "ef")[i % 3] for i in range(40)]
    write_openml_cache(tmp_path / "openml", 77, X, y, fmt)

    def offline(*args, **kwargs):
        raise AssertionError("no network access expected")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    monkeypatch.setattr(socket.socket, "connect", offline)
    ds = dataset.load("", 77, str(tmp_path), rng())
    assert ds.name == "openml77" and ds.n_classes == 3
    assert ds.X_train.shape == (36, 3) and ds.X_test.shape == (4, 3)
    rows = {tuple(np.float32(X[i]).tolist()): "abcdef".index(y[i]) // 2 for i in range(40)}
    for features, label in zip(torch.cat([ds.X_train, ds.X_test]).tolist(), torch.cat([ds.y_train, ds.y_test])):
        assert rows.pop(tuple(features)) == label
    assert rows == {}


def test_openml_without_network_or_cache_fails_fast_and_cleans_up(tmp_path):
    start = time.perf_counter()
    user_error(lambda: dataset.load("", 424242, str(tmp_path), rng()), "OpenML data set 424242",
               f"{tmp_path / 'openml' / '424242.csv'}")
    assert time.perf_counter() - start < 20
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "openml" / "424242.csv").mkdir(parents=True)  # was reported as missing: "no connection …"
    user_error(lambda: dataset.load("", 424242, str(tmp_path), rng()),
               f"{tmp_path / 'openml' / '424242.csv'} is not a regular file")


# ---------------------------------------------------------------- digits and the tabular split rules


@pytest.mark.parametrize("data, did", [("MNIST", 0), ("CIFAR10", 0), ("", 6)])
def test_a_path_that_is_a_file_is_named(tmp_path, data, did):
    """Not 'MNIST is not under FILE ...' or openml's 'Cannot create cache directory FILE/openml/...'."""
    (tmp_path / "letter.csv").write_text("a,b,label\n1,2,x\n")
    user_error(lambda: dataset.load(data, did, str(tmp_path / "letter.csv"), rng()),
               f"--path {tmp_path / 'letter.csv'} is a file, not a folder; give the folder that holds the data")


def test_digits_is_the_default_and_splits_reproducibly():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    ds = dataset.load("", 0, "data", rng(3))
    assert ds.name == "digits" and ds.X_train.shape == (1617, 64) and ds.X_test.shape == (180, 64)
    assert ds.n_classes == 10 and sorted(ds.y_train.unique().tolist()) == list(range(10))
    both = np.column_stack([torch.cat([ds.X_train, ds.X_test]).numpy(), torch.cat([ds.y_train, ds.y_test]).numpy()])
    original = np.column_stack([X, y])
    assert np.array_equal(both[np.lexsort(both.T)], original[np.lexsort(original.T)])  # unscaled rows, own labels
    again, other = dataset.load("digits", 0, "data", rng(3)), dataset.load("digits", 0, "data", rng(4))
    assert torch.equal(again.X_train, ds.X_train) and torch.equal(again.y_test, ds.y_test)
    assert not torch.equal(other.y_test, ds.y_test)


def test_split_is_ten_percent_test_and_the_pool_is_capped_at_50000():
    n = 60_000
    X = np.column_stack([np.arange(n), np.zeros(n)])
    ds = dataset.tabular_split("big", X, np.arange(n) % 7, rng())
    pool, test = ds.X_train[:, 0].long(), ds.X_test[:, 0].long()
    assert len(test) == 6000 and len(pool) == 50_000
    assert len(set(pool.tolist()) | set(test.tolist())) == 56_000  # disjoint, all from the data
    assert torch.equal(ds.y_train, pool % 7) and torch.equal(ds.y_test, test % 7)


@pytest.mark.parametrize("labels, codes", [
    (["b", "a", "c", "a"], [1, 0, 2, 0]),
    (["10", "2", "2.0", " 10"], [1, 0, 0, 1]),  # numbers are sorted as numbers
    ([5, -1, 5, 3], [2, 0, 2, 1]),
    ([True, False, True, True], [1, 0, 1, 1]),
])
def test_labels_are_re_encoded_in_sorted_order(labels, codes):
    X = np.arange(len(labels) * 10, dtype=float).reshape(-1, 1)
    ds = dataset.tabular_split("t", X, np.repeat(np.array(labels, dtype=object), 10), rng())
    got = dict(zip(torch.cat([ds.X_train, ds.X_test])[:, 0].long().tolist(), torch.cat([ds.y_train, ds.y_test])))
    assert [int(got[10 * i]) for i in range(len(labels))] == codes
    assert ds.n_classes == len(set(codes))


def test_every_class_reaches_the_pool_even_a_single_example():
    y = np.array(["common"] * 39 + ["rare"])
    for seed in range(40):
        ds = dataset.tabular_split("t", np.arange(40.0).reshape(-1, 1), y, rng(seed))
        assert ds.y_train.unique().tolist() == [0, 1] and len(ds.y_test) == 4


def test_a_class_too_rare_for_the_capped_pool_ends_the_redraws(monkeypatch):
    monkeypatch.setattr(dataset, "POOL_CAP", 3)
    y = np.array(["a"] * 1000 + ["b", "c"])
    start = time.perf_counter()
    user_error(lambda: dataset.tabular_split("t", np.zeros((1002, 2)), y, rng()), "too rare",
               "class 'b' (1 of 1002 rows)")
    assert time.perf_counter() - start < 5
    user_error(lambda: dataset.tabular_split("t", np.zeros((3, 2)), np.array([1, 2, 3]), rng()),
               "3 rows are too few for 3 classes")


@pytest.mark.parametrize("X, y, fragment", [
    (np.zeros((5, 2)), np.ones(5), "only one class"),
    (np.array([[1.0, np.nan]] * 6), np.arange(6) % 2, "feature 2 of data row 1 is nan"),
    (np.array([[1.0, 2.0]] * 5 + [[np.inf, 0.0]]), np.arange(6) % 2, "feature 1 of data row 6 is inf"),
    (np.array([[1e39, 0.0]] * 6), np.arange(6) % 2, "beyond float32"),
    (np.zeros((6, 2)), np.array([0, 1, None, 0, 1, 0], dtype=object), "data row 3 has no label"),
    (np.zeros((6, 2)), np.arange(5) % 2, "one label per row"),
    (np.array([["a", "b"]] * 6), np.arange(6) % 2, "features must be numbers"),
])
def test_bad_tables_are_user_errors(X, y, fragment):
    user_error(lambda: dataset.tabular_split("t", X, y, rng()), fragment)


def test_trunc_keeps_n_random_pool_points_then_classes_0_to_9(tmp_path):
    n = 600
    table = pd.DataFrame({"id": np.arange(n), "x": np.ones(n), "label": np.arange(n) % 15})
    table.to_csv(tmp_path / "t.csv", index=False)
    full = dataset.load(str(tmp_path / "t.csv"), 0, "", rng(5))
    cut = dataset.load(str(tmp_path / "t.csv"), 0, "", rng(5), trunc=100)
    kept = set(cut.X_train[:, 0].long().tolist())
    assert kept <= set(full.X_train[:, 0].long().tolist())
    assert 40 <= len(kept) < 100 and cut.y_train.max() < 10 and cut.n_classes == 10
    assert torch.equal(cut.y_train, cut.X_train[:, 0].long() % 15)
    assert torch.equal(cut.X_test, full.X_test[full.y_test < 10])
    whole = dataset.load(str(tmp_path / "t.csv"), 0, "", rng(5), trunc=10**6)
    assert sorted(whole.X_train[:, 0].long().tolist()) == sorted(full.X_train[full.y_train < 10, 0].long().tolist())
    for bad in (0, -5):
        user_error(lambda: dataset.load("digits", 0, "", rng(), trunc=bad), "--trunc must be positive")


def test_trunc_that_leaves_the_pool_or_the_test_set_no_point_is_one_error(tmp_path):
    """A --test file of classes 10 and 11 only: --trunc emptied the test set, and round 0 ended in a traceback
    (ZeroDivisionError, or the compiled forward pass's ValueError) after its training. A --trunc whose random pool
    points are all of classes 10 and up empties the pool."""
    (tmp_path / "train.csv").write_text("x,label\n" + "".join(f"{i},{i % 12}\n" for i in range(600)))
    (tmp_path / "test.csv").write_text("x,label\n" + "".join(f"{i},{10 + i % 2}\n" for i in range(30)))
    user_error(lambda: dataset.load(str(tmp_path / "train.csv"), 0, "", rng(), trunc=300,
                                    test=str(tmp_path / "test.csv")),
               "--trunc 300 keeps only the first ten classes, and leaves the test set no point of them; drop --trunc")
    ds = dataset.load(str(tmp_path / "train.csv"), 0, "", rng())
    seed = next(s for s in range(100) if ds.y_train[rng(s).permutation(len(ds.y_train))[0]] >= 10)
    user_error(lambda: dataset.truncate(ds, 1, rng(seed)),
               "--trunc 1 keeps only the first ten classes, and leaves the pool no point of them; drop --trunc or "
               "raise it")


def test_whole_number_labels_beyond_float64s_precision_stay_apart(tmp_path):
    """IDs 2⁵³, 2⁵³ + 1 and 2⁵³ + 3 as labels: read as float64 they became two classes, one named 2⁵³ + 4 (a label the
    file does not hold); a --test file's labels find their own classes, and '01' is still the class of 1."""
    ids = ["9007199254740992", "9007199254740993", "9007199254740995"]
    (tmp_path / "train.csv").write_text("x,label\n" + "".join(f"{i},{ids[i % 3]}\n" for i in range(90)))
    (tmp_path / "test.csv").write_text("x,label\n1,9007199254740993\n2,9007199254740995\n3,9007199254740992\n")
    ds = dataset.load(str(tmp_path / "train.csv"), 0, "", rng(), test=str(tmp_path / "test.csv"))
    assert ds.class_names == ids and ds.y_test.tolist() == [1, 2, 0]
    assert torch.equal(ds.y_train, ds.X_train[:, 0].long() % 3)
    classes = dataset.encode_labels(np.array(["01", "1", "2", "99999999999999999999"], dtype=object), "s")[0]
    assert classes.tolist() == ["01", "1", "2", "99999999999999999999"]  # beyond int64: text, as written
    assert dataset.encode_labels(np.array(["01", "1", "2"], dtype=object), "s")[1].tolist() == [0, 0, 1]


def test_test_labels_match_training_labels_written_as_numbers_or_text(tmp_path):
    """Train labels 1, 2, x are text; the test file's 1, 2 are numbers: the same classes, coded alike; an unseen
    test label is the one named."""
    (tmp_path / "train.csv").write_text("".join(f"{i},{i % 7},{lab}\n" for i, lab in enumerate(["1", "2", "x"] * 20)))
    (tmp_path / "test.csv").write_text("5,1,2\n6,2,1\n7,3,2\n")
    ds = dataset.load(str(tmp_path / "train.csv"), 0, "", rng(), test=str(tmp_path / "test.csv"))
    assert ds.class_names == ["1", "2", "x"] and ds.y_test.tolist() == [1, 0, 1]
    (tmp_path / "test.csv").write_text("5,1,1\n6,2,y\n7,3,2\n")
    user_error(lambda: dataset.load(str(tmp_path / "train.csv"), 0, "", rng(), test=str(tmp_path / "test.csv")),
               "label 'y' never occurs in the training set")


def test_test_labels_read_as_numbers_match_training_labels_written_with_leading_zeros(tmp_path):
    """Train labels 01, 02, x are text; the test file's 01, 02 read as the numbers 1 and 2: matched by value (they
    were refused as label '1'); a value two training labels share ('1' and '01') is refused, not matched to one."""
    (tmp_path / "train.csv").write_text("".join(f"{i},{i % 7},{lab}\n" for i, lab in enumerate(["01", "02", "x"] * 20)))
    (tmp_path / "test.csv").write_text("5,1,02\n6,2,01\n7,3,02\n")
    ds = dataset.load(str(tmp_path / "train.csv"), 0, "", rng(), test=str(tmp_path / "test.csv"))
    assert ds.class_names == ["01", "02", "x"] and ds.y_test.tolist() == [1, 0, 1]
    (tmp_path / "train.csv").write_text("".join(f"{i},{i % 7},{lab}\n" for i, lab in enumerate(["01", "1", "x"] * 20)))
    (tmp_path / "test.csv").write_text("5,1,01\n6,2,01\n")
    user_error(lambda: dataset.load(str(tmp_path / "train.csv"), 0, "", rng(), test=str(tmp_path / "test.csv")),
               "label '1' is the value of training labels '01', '1' of")


def wine_halves(tmp_path):
    """sklearn's wine (13 named features, then `target`), shuffled, as train.csv (120 rows) and the rest as a frame."""
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).frame.sample(frac=1, random_state=0)
    wine.iloc[:120].to_csv(tmp_path / "train.csv", index=False)
    return wine.iloc[120:]


def test_a_test_csv_with_its_columns_in_another_order_is_matched_by_name(tmp_path):
    """Both files with a header row: the test columns were taken by position, so a test file with the training
    file's columns reversed was tested on swapped features; now it loads as the same data, hash included."""
    test = wine_halves(tmp_path)
    test.to_csv(tmp_path / "same.csv", index=False)
    test[[*test.columns[-2::-1], "target"]].to_csv(tmp_path / "reversed.csv", index=False)
    same, reordered = (dataset.load(str(tmp_path / "train.csv"), 0, "", rng(), test=str(tmp_path / f))
                       for f in ("same.csv", "reversed.csv"))
    np.testing.assert_array_equal(reordered.X_test.numpy(), test.iloc[:, :-1].to_numpy(dtype=np.float32))
    assert torch.equal(reordered.X_test, same.X_test) and torch.equal(reordered.y_test, same.y_test)
    assert reordered.source_sha256 == same.source_sha256
    assert dataset.content_sha256(reordered) == dataset.content_sha256(same)


def test_test_csv_columns_that_cannot_be_matched_by_name_are_refused(tmp_path):
    """Other names, a header row in one file only, a name repeated in another order: one line each; header-less
    files still go by position."""
    test = wine_halves(tmp_path)
    train = str(tmp_path / "train.csv")

    def refused(frame, *fragments, header=True):
        frame.to_csv(tmp_path / "test.csv", index=False, header=header)
        return user_error(lambda: dataset.load(train, 0, "", rng(), test=str(tmp_path / "test.csv")), *fragments)

    refused(test.rename(columns={"ash": "Ash"}), f"the header rows of {train} and {tmp_path / 'test.csv'} name "
            f"different feature columns ({train} names 'ash', {tmp_path / 'test.csv'} does not; "
            f"{tmp_path / 'test.csv'} names 'Ash', {train} does not)", "give the test file the training file's")
    refused(test.drop(columns="proline"), f"({train} names 'proline', {tmp_path / 'test.csv'} does not)")
    refused(test, f"{train} has a header row and {tmp_path / 'test.csv'} has none", "same header row, or neither",
            header=False)
    pd.read_csv(train).to_csv(tmp_path / "plain.csv", index=False, header=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    user_error(lambda: dataset.load(str(tmp_path / "plain.csv"), 0, "", rng(), test=str(tmp_path / "test.csv")),
               f"{tmp_path / 'test.csv'} has a header row and {tmp_path / 'plain.csv'} has none")
    test.to_csv(tmp_path / "test.csv", index=False, header=False)
    ds = dataset.load(str(tmp_path / "plain.csv"), 0, "", rng(), test=str(tmp_path / "test.csv"))
    np.testing.assert_array_equal(ds.X_test.numpy(), test.iloc[:, :-1].to_numpy(dtype=np.float32))
    twice = pd.read_csv(train).set_axis(["a", "a", *"bcdefghijkl", "target"], axis=1)
    twice.to_csv(tmp_path / "twice.csv", index=False)
    train = str(tmp_path / "twice.csv")
    refused(test.set_axis(["b", "a", "a", *"cdefghijkl", "target"], axis=1), "name 'a' more than once",
            "name each column once")


def test_a_label_that_is_not_the_last_column_is_named_as_the_likely_cause(tmp_path, monkeypatch):
    """wine with `target` first: its last feature (proline) was taken for the label and refused as a rare class
    without a hint; a continuous last column (every row a class of its own) likewise."""
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).frame
    wine[["target", *wine.columns[:-1]]].to_csv(tmp_path / "wine.csv", index=False)
    with pytest.warns(UserWarning, match="column 1 is named 'target', but run.py takes the last column as the label"):
        user_error(lambda: dataset.load(str(tmp_path / "wine.csv"), 0, "", rng()),
                   "is too rare to appear in a random pool", "; run.py takes the last column as the label: move yours "
                   "there")
    wine.assign(target=np.linspace(0, 1, len(wine))).to_csv(tmp_path / "measured.csv", index=False)
    user_error(lambda: dataset.load(str(tmp_path / "measured.csv"), 0, "", rng()),
               "178 rows are too few for 178 classes", "every row has a label of its own, so the labels look "
               "continuous, not like classes; run.py takes the last column as the label")
    np.savez(tmp_path / "measured.npz", X=wine.to_numpy()[:, :-1], y=np.linspace(0, 1, len(wine)))
    msg = user_error(lambda: dataset.load(str(tmp_path / "measured.npz"), 0, "", rng()), "the labels look continuous")
    assert "last column" not in msg
    monkeypatch.setattr(dataset, "POOL_CAP", 100)  # with --test, a class missing from the capped pool
    wine[["target", *wine.columns[:-1]]].iloc[:20].to_csv(tmp_path / "test.csv", index=False)
    with pytest.warns(UserWarning, match="named 'target'"):
        user_error(lambda: dataset.load(str(tmp_path / "wine.csv"), 0, "", rng(), test=str(tmp_path / "test.csv")),
                   "too rare to appear in a random pool of 100 rows", "run.py takes the last column as the label")


def test_a_column_named_as_a_label_before_the_last_is_warned_about(tmp_path):
    """Kaggle's MNIST CSVs put `label` first: a pixel was taken for the label without a word (FashionMNIST's last
    pixel has eight values in 3,000 rows), and where it was always 0 the one-class error gave no hint."""
    rows = np.random.default_rng(0).integers(0, 4, (60, 4))
    rows[:, 0] = np.arange(60) % 3
    frame = pd.DataFrame(rows, columns=["label", "pixel1", "pixel2", "pixel3"])
    frame.to_csv(tmp_path / "kaggle.csv", index=False)
    with pytest.warns(UserWarning, match="column 1 is named 'label', but run.py takes the last column as the label"):
        assert dataset.load(str(tmp_path / "kaggle.csv"), 0, "", rng()).class_names == ["0", "1", "2", "3"]
    frame.assign(pixel3=0).to_csv(tmp_path / "blank.csv", index=False)
    with pytest.warns(UserWarning, match="named 'label'"):
        user_error(lambda: dataset.load(str(tmp_path / "blank.csv"), 0, "", rng()), "only one class in the labels",
                   "run.py takes the last column as the label: move yours there")
    frame[["pixel1", "pixel2", "pixel3", "label"]].to_csv(tmp_path / "last.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dataset.load(str(tmp_path / "last.csv"), 0, "", rng()).class_names == ["0", "1", "2"]


def test_a_test_set_of_one_class_is_a_test_set(tmp_path):
    """Only the training data needs two classes; a test file or an .npz's y_test of one class was refused with
    "only one class in the labels"."""
    (tmp_path / "train.csv").write_text("".join(f"{i},{i % 7},{lab}\n" for i, lab in enumerate(["a", "b"] * 20)))
    (tmp_path / "test.csv").write_text("5,1,b\n6,2,b\n")
    ds = dataset.load(str(tmp_path / "train.csv"), 0, "", rng(), test=str(tmp_path / "test.csv"))
    assert ds.class_names == ["a", "b"] and ds.y_test.tolist() == [1, 1]
    X = np.arange(80, dtype=np.float32).reshape(40, 2)
    np.savez(tmp_path / "s.npz", X_train=X, y_train=np.arange(40) % 2, X_test=X[:3], y_test=np.zeros(3))
    assert dataset.load(str(tmp_path / "s.npz"), 0, "", rng()).y_test.tolist() == [0, 0, 0]
    (tmp_path / "test.csv").write_text("5,1,a\n6,2,b\n")
    (tmp_path / "train.csv").write_text("".join(f"{i},{i % 7},a\n" for i in range(40)))
    user_error(lambda: dataset.load(str(tmp_path / "train.csv"), 0, "", rng(), test=str(tmp_path / "test.csv")),
               "train.csv: only one class in the labels")


def test_byte_string_labels_are_named_as_text(tmp_path):
    X = np.arange(80, dtype=np.float32).reshape(40, 2)
    np.savez(tmp_path / "b.npz", X=X, y=np.array([b"cat", b"dog"] * 20))
    assert dataset.load(str(tmp_path / "b.npz"), 0, "", rng()).class_names == ["cat", "dog"]


def test_imbalance_after_trunc_that_empties_a_class_names_it():
    ds = dataset.load("digits", 0, "", rng(), trunc=15)
    assert np.bincount(ds.y_train.numpy(), minlength=ds.n_classes).min() == 0
    user_error(lambda: dataset.long_tail(ds, 2.0, rng()), "has no pool point to keep",
               "raise --trunc or drop --imbalance")


def test_unknown_data_name():
    user_error(lambda: dataset.load("mnist", 0, "data", rng()), "unknown --data 'mnist'", "MNIST")


# ---------------------------------------------------------------- user files: CSV and NPZ


@pytest.mark.parametrize("text, shape, labels, names", [
    ("a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n", (4, 2), ["x", "y", "x", "y"], ["a", "b"]),
    ("1,2,x\n3,4,y\n5,6,x\n7,8,y\n", (4, 2), ["x", "y", "x", "y"], []),
    ("0,1,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n", (4, 2), [0, 1, 0, 1], ["0", "1"]),  # pandas' numbered header
    ("0,1,2,label\n1,2,3,cat\n3,4,5,dog\n", (2, 3), ["cat", "dog"], ["0", "1", "2"]),  # ... over text labels
    ("0,1,2,3\n1,2,3,0\n4,5,6,1\n", (2, 3), [0, 1], ["0", "1", "2"]),  # ... of a frame with an unnamed label
    ("0,1,2,1\n1,2,3,0\n4,5,6,1\n", (3, 3), [1, 0, 1], []),  # a data row 0, 1, 2 whose label is not 3
    ("0,1,x\n1,0,y\n", (2, 2), ["x", "y"], []),  # two binary features: data, not a header
    (" 1 , 2.5e0 ,  yes\n-3,4, no\n", (2, 2), ["yes", "no"], []),
    (" w400 , w500 ,label\n1,2,x\n", (1, 2), ["x"], ["w400", "w500"]),
    ("a,b,label,\n1,2,x,\n3,4,y,\n", (2, 2), ["x", "y"], ["a", "b"]),  # every row ends in a comma
    ("1,2,x,,\n3,4,y, ,\n", (2, 2), ["x", "y"], []),  # ... or two, without a header
])
def test_csv_layouts(tmp_path, text, shape, labels, names):
    (tmp_path / "f.csv").write_text(text)
    X, y, header = dataset.read_csv_table(tmp_path / "f.csv")
    assert X.shape == shape and X.dtype == np.float64
    assert [str(v) for v in y] == [str(v) for v in labels]
    assert header.tolist() == names


LONE_FIRST_ROW = "its first row reads as data (its feature cells are numbers), and its label 'label' is a class"


@pytest.mark.parametrize("header, warned", [("400,500,label", True), ("w400,w500,label", False),
                                            ("9,9,a", False), ("w400,w500,label\n9,9,c", False)])
def test_a_numeric_header_over_text_labels_is_read_as_data_with_a_warning(tmp_path, header, warned):
    """The header 400,500,label reads as a data row whose class `label` has that row alone: a warning says so,
    on the first load and on the next one from the decoded cache; a header of text (even above a row of a class of
    its own), or a first row whose class has other rows, gives none."""
    path = tmp_path / "f.csv"
    path.write_text(header + "\n" + "".join(f"{i},{i % 7},{'ab'[i % 2]}\n" for i in range(40)))
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = dataset.load(str(path), 0, "", rng())
        assert [str(w.message) for w in caught] == ([f"{path}: {LONE_FIRST_ROW} of that row alone; if the row is a "
                                                     "header, name the feature columns with text (e.g. w400), or "
                                                     "drop it"] if warned else [])
        assert ds.n_classes == (3 if warned or "c" in header else 2)


def test_a_test_file_whose_first_row_is_a_class_alone_gives_no_warning(tmp_path):
    """A small --test file may hold a class once: its first row is not taken for a header."""
    (tmp_path / "train.csv").write_text("".join(f"{i},{i % 7},{'abc'[i % 3]}\n" for i in range(40)))
    (tmp_path / "test.csv").write_text("1,1,c\n2,2,a\n3,3,b\n4,4,a\n5,5,b\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = dataset.load(str(tmp_path / "train.csv"), 0, "", rng(), test=str(tmp_path / "test.csv"))
    assert len(ds.y_test) == 5


@pytest.mark.parametrize("text, fragment", [
    (None, "not found"),
    ("", "is empty (no rows, or only blank lines); give a row per example, the label last"),
    ("\n\n", "is empty (no rows, or only blank lines)"),
    ("a,b,label\n", "has a header but no data rows"),
    ("1\n2\n3\n", "needs at least one feature column and a label column"),
    ("1;2;a\n3;4;b\n", "needs at least one feature column"),
    ("1,2,a\n3,abc,b\n5,6,a\n", "column 2 is not numeric (row 2: 'abc')"),
    ("x,y,label\n1,2,a\n3,four,b\n", "column 2 is not numeric (row 3: 'four')"),
    ("1,2,a\n3,,b\n5,6,a\n", "column 2 is empty or NA in row 2"),
    ("1,2,a\n3,NaN,b\n5,6,a\n", "column 2 is empty or NA in row 2"),
    ("1,2,a\n3,inf,b\n5,6,a\n", "is inf"),
    ("1,2,a\n3,4,a\n5,6,a\n", "only one class"),
    ("1,2,a\n3,4,\n5,6,b\n", "data row 2 has no label"),
    ('1,2,a\n3,4,"  "\n5,6,b\n', "data row 2 has no label"),
    ("1,2,a\n3,4,b,9\n", "is not a readable CSV file (ParserError: Error tokenizing data. C error: Expected 3 fields "
                         "in line 2, saw 4); give every row as many comma-separated fields as the first"),
    ("1,2,a\n3,4,\xe9\n".encode("latin1"), "is not UTF-8 text (UnicodeDecodeError"),
    ("1,2,a\n3,4,b\n", "are too few for 2 classes"),
])
def test_bad_csv_files(tmp_path, text, fragment):
    path = tmp_path / "f.csv"
    if text is not None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    user_error(lambda: dataset.load(str(path), 0, "", rng()), fragment)


def test_binary_garbage_named_csv(tmp_path):
    (tmp_path / "f.csv").write_bytes(bytes(range(256)) * 4)
    user_error(lambda: dataset.load(str(tmp_path / "f.csv"), 0, "", rng()), str(tmp_path / "f.csv"))


def good_npz(path, n=30):
    X = np.random.default_rng(0).normal(size=(n, 2, 3)).astype(np.float32)
    y = np.array(["cat", "dog", "emu"])[np.arange(n) % 3]
    np.savez(path, X=X, y=y)
    return X, y


def test_npz_file(tmp_path):
    X, y = good_npz(tmp_path / "f.npz")
    ds = dataset.load(str(tmp_path / "f.npz"), 0, "", rng())
    assert ds.name == "f" and ds.X_train.shape == (27, 6) and ds.X_test.shape == (3, 6) and ds.n_classes == 3
    rows = {tuple(r): ["cat", "dog", "emu"].index(label) for r, label in zip(X.reshape(30, 6).tolist(), y)}
    for features, label in zip(torch.cat([ds.X_train, ds.X_test]).tolist(), torch.cat([ds.y_train, ds.y_test])):
        assert rows[tuple(features)] == label


@pytest.mark.parametrize("arrays, fragment", [
    ({"X": np.zeros((4, 2))}, "has arrays ['X'], not X and y"),
    ({"features": np.zeros((4, 2)), "y": np.arange(4)}, "not X and y;"),
    ({"X_train": np.zeros((4, 2)), "y_train": np.arange(4), "X_test": np.zeros((2, 2))},
     "not X and y, nor all of X_train, y_train, X_test, y_test (it lacks y_test);"),
    ({"X": np.array(["a", "b", "c", "d"]), "y": np.arange(4) % 2}, "features must be numbers"),
    ({"X": np.array([{"a": 1}] * 4, dtype=object), "y": np.arange(4) % 2}, "X or y is an array of Python objects"),
    ({"X": np.zeros((4, 2)), "y": np.array(["cat", "dog"] * 2, dtype=object)}, "save it as np.asarray(y, dtype=str)"),
    ({"X": np.array(5.0), "y": np.arange(4)}, "X has no rows"),
    ({"X": np.zeros((0, 3)), "y": np.arange(0)}, "X has no rows"),
    ({"X": np.full((6, 2), np.nan), "y": np.arange(6) % 2}, "is nan"),
    ({"X": np.zeros((6, 2)), "y": np.arange(7) % 2}, "one label per row"),
    ({"X": np.zeros((6, 2)), "y": np.zeros((6, 2))}, "one label per row"),
])
def test_bad_npz_contents(tmp_path, arrays, fragment):
    np.savez(tmp_path / "f.npz", **arrays)
    user_error(lambda: dataset.load(str(tmp_path / "f.npz"), 0, "", rng()), fragment)


@pytest.mark.parametrize("part, fragment", [
    ("_train", "(X_train, y_train): features must be a non-empty 2-D table with one label per row, got features "
               "(6, 2) and labels (5,)"),
    ("_test", "(X_test, y_test): feature 1 of data row 2 is nan"),
])
def test_bad_arrays_of_an_npz_with_its_own_test_set_are_named(tmp_path, part, fragment):
    """A message about X_test and y_test named only the file, as if the whole-table arrays X, y were wrong."""
    arrays = {"X_train": np.zeros((6, 2)), "y_train": np.arange(6) % 2, "X_test": np.zeros((3, 2)),
              "y_test": np.arange(3) % 2}
    arrays["y_train"] = arrays["y_train"][:5] if part == "_train" else arrays["y_train"]
    arrays["X_test"][1, 0] = np.nan
    np.savez(tmp_path / "s.npz", **arrays)
    user_error(lambda: dataset.load(str(tmp_path / "s.npz"), 0, "", rng()), f"{tmp_path / 's.npz'} {fragment}")


def test_truncated_corrupt_or_wrong_kind_of_npz(tmp_path):
    good_npz(tmp_path / "good.npz")
    data = (tmp_path / "good.npz").read_bytes()
    bad = tmp_path / "bad.npz"
    for cut in [0, 1, 10, 100, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1]:
        bad.write_bytes(data[:cut])
        user_error(lambda: dataset.load(str(bad), 0, "", rng()), str(bad))
    corrupt = bytearray(data)
    corrupt[len(data) // 2: len(data) // 2 + 50] = b"\xff" * 50
    bad.write_bytes(bytes(corrupt))
    user_error(lambda: dataset.load(str(bad), 0, "", rng()), str(bad))
    with open(bad, "wb") as f:
        np.save(f, np.zeros((4, 2)))
    user_error(lambda: dataset.load(str(bad), 0, "", rng()), "holds a single array")
    user_error(lambda: dataset.load(str(tmp_path / "nope.npz"), 0, "", rng()), "not found")
    with zipfile.ZipFile(bad, "w") as z:  # members named .npy that are not: NpzFile hands back their raw bytes
        z.writestr("X.npy", "hello")
        z.writestr("y.npy", "bye")
    user_error(lambda: dataset.load(str(bad), 0, "", rng()), f"{bad} is not a readable .npz file (X is not an .npy "
               "array)")


# ---------------------------------------------------------------- property: any small CSV loads or is a UserError

NUMBERS = st.one_of(st.integers(-1000, 1000).map(str), st.floats(-1e6, 1e6).map(repr))
ODD_CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
    st.sampled_from(["", " ", "NaN", "nan", "NA", "inf", "-inf", "1e400", "1e39", "abc", "x1", "3,5", '"7"',
                     '"a,b"', "1.5.2", "0x10", "  42 ", "true", "#", "'"]),
)
LABELS = st.one_of(st.integers(0, 3).map(str), st.sampled_from(["a", "b", "A", " a", "1.0", "z z"]))
ODD_LABELS = st.sampled_from(["", "NaN", "NA", " ", '"x,y"'])


@st.composite
def csv_texts(draw):
    """A numeric table with labels, then a few cells (often none) replaced by odd ones."""
    n_rows, n_cols = draw(st.integers(0, 12)), draw(st.integers(1, 5))
    rows = [[draw(NUMBERS) for _ in range(n_cols - 1)] + [draw(LABELS)] for _ in range(n_rows)]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2])) if n_rows else 0):
        r, c = draw(st.integers(0, n_rows - 1)), draw(st.integers(0, n_cols - 1))
        rows[r][c] = draw(ODD_LABELS if c == n_cols - 1 else ODD_CELLS)
    if draw(st.booleans()):
        rows.insert(0, [draw(st.sampled_from(["f", "x", "", "label"])) + str(j) for j in range(n_cols)])
    sep = draw(st.sampled_from(["\n", "\r\n"]))
    return sep.join(",".join(r) for r in rows) + draw(st.sampled_from(["", sep]))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=csv_texts(), seed=st.integers(0, 2**32 - 1))
def test_any_small_csv_loads_consistently_or_is_a_user_error(text, seed):
    """Tried: 0–12 rows of 1–5 columns; cells are integers, any float repr (nan, inf, huge, tiny), empty or
    blank cells, NA spellings, text, quoted commas, malformed numbers, hex; labels are numbers, letters, blank,
    NaN; with or without a header row (names, numbered, empty names); LF or CRLF line ends, with or without a
    final newline. Loading must return consistent tensors or raise UserError, never another exception."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.csv"
        path.write_text(text)
        try:
            ds = dataset.load(str(path), 0, "", np.random.default_rng(seed))
        except UserError as e:
            assert "\n" not in str(e)
            return
    n_rows = len(ds.y_train) + len(ds.y_test)
    assert ds.X_train.shape[1] == ds.X_test.shape[1] >= 1 and n_rows <= text.count("\n") + 1
    assert len(ds.y_test) == max(1, round(0.1 * n_rows)) and len(ds.X_train) == len(ds.y_train)
    assert torch.isfinite(ds.X_train).all() and torch.isfinite(ds.X_test).all()
    assert sorted(ds.y_train.unique().tolist()) == list(range(ds.n_classes)) and ds.n_classes >= 2
    assert ds.y_test.min() >= 0 and ds.y_test.max() < ds.n_classes


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".npz"]))
def test_arbitrary_bytes_are_a_user_error_or_a_table(data, suffix):
    """Tried: arbitrary bytes (up to 300) as a .csv or an .npz file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"p{suffix}"
        path.write_bytes(data)
        try:
            ds = dataset.load(str(path), 0, "", np.random.default_rng(0))
        except UserError as e:
            assert "\n" not in str(e)
            return
    assert ds.n_classes >= 2 and torch.isfinite(ds.X_train).all()


def test_source_sha256_is_the_same_for_every_seed_and_changes_with_the_data(tmp_path):
    """The split of a table (digits, a .csv) and --imbalance's subsample are seeded, so the loaded tensors' hash
    differs by seed; source_sha256 (what the analysis compares) is the data's before those steps."""
    one, two = (dataset.load("", 0, "", np.random.default_rng(s)) for s in (1, 2))
    assert one.source_sha256 == two.source_sha256
    assert dataset.content_sha256(one) != dataset.content_sha256(two)
    tails = [dataset.long_tail(dataset.load("", 0, "", np.random.default_rng(s)), 5, np.random.default_rng(s))
             for s in (1, 2)]
    assert tails[0].source_sha256 == tails[1].source_sha256 == one.source_sha256
    X = np.random.default_rng(0).normal(size=(60, 3))
    y = np.arange(60) % 3
    np.savez(tmp_path / "a.npz", X=X, y=y)
    np.savez(tmp_path / "b.npz", X=X + 1e-6, y=y)
    a, b = (dataset.load(str(tmp_path / f), 0, "", np.random.default_rng(1)) for f in ("a.npz", "b.npz"))
    assert a.source_sha256 != b.source_sha256
