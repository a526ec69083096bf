"""`python run.py` end to end on small slices of the real data sets (MNIST, FashionMNIST, OpenML letter), on user
CSV / NPZ files, with the conv nets on a tiny MNIST slice, and the one-line errors of bad data."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import dataset
import run
from cli import LETTER, ROOT, assert_one_line_error, run_cli, run_main
from data_files import SHARED_DATA, skip_md5, tree_state, write_cifar10, write_mnist_slice, write_svhn

ROUND_LINE = re.compile(r"^(\d+)\ttesting accuracy (\d+(?:\.\d+)?(?:e-?\d+)?)$")
IMAGE_RUN = ["--nStart", "50", "--nQuery", "50", "--nEnd", "150", "--maxEpochs", "50"]


def rounds(proc):
    """[(n labelled, accuracy)] from the lines of stdout that are exactly `<n>\\ttesting accuracy <acc>`."""
    assert proc.returncode == 0, proc.stderr
    found = [ROUND_LINE.match(line) for line in proc.stdout.splitlines()]
    pairs = [(int(m[1]), float(m[2])) for m in found if m]
    assert pairs and all(0 <= acc <= 1 for _, acc in pairs), proc.stdout
    return pairs


def config(out):
    [path] = out.glob("*/config.json")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def shared_state():
    return tree_state(SHARED_DATA)


@pytest.mark.slow
@pytest.mark.parametrize("name, floor", [("MNIST", 0.5), ("FashionMNIST", 0.45)])
def test_mnist_like_from_the_shared_folder(tmp_path, shared_state, name, floor):
    proc = run_main("--data", name, "--path", SHARED_DATA, "--trunc", "2000", *IMAGE_RUN, "--out", tmp_path)
    pairs = rounds(proc)
    assert [n for n, _ in pairs] == [50, 100, 150] and pairs[-1][1] > floor
    cfg = config(tmp_path)
    assert cfg["n_pool"] <= 2000 and cfg["n_test"] == 10000 and cfg["input_shape"] == [1, 28, 28]
    assert tree_state(SHARED_DATA) == shared_state


@pytest.mark.slow
def test_letter_from_the_offline_openml_csv(tmp_path, shared_state):
    proc = run_main(*LETTER, "--out", tmp_path)
    assert [n for n, _ in rounds(proc)] == [100, 150, 200]
    cfg = config(tmp_path)
    assert (cfg["n_pool"], cfg["n_test"], cfg["n_classes"], cfg["input_shape"]) == (18000, 2000, 26, [16])
    assert tree_state(SHARED_DATA) == shared_state


@pytest.fixture(scope="module")
def digits_table():
    from sklearn.datasets import load_digits

    return load_digits(return_X_y=True)


def test_user_csv_with_header_and_text_labels(tmp_path, digits_table):
    X, y = digits_table
    table = pd.DataFrame(X, columns=[f"px{i}" for i in range(64)]).assign(label=[f"digit {v}" for v in y])
    table.to_csv(tmp_path / "digits.csv", index=False)
    proc = run_main("--data", tmp_path / "digits.csv", "--nStart", "50", "--nQuery", "50", "--nEnd", "150",
                    "--maxEpochs", "100", "--out", tmp_path / "out")
    pairs = rounds(proc)
    assert [n for n, _ in pairs] == [50, 100, 150] and pairs[-1][1] > 0.6  # labels stay with their rows
    cfg = config(tmp_path / "out")
    assert (cfg["n_pool"], cfg["n_test"], cfg["n_classes"], cfg["data_name"]) == (1617, 180, 10, "digits")
    assert cfg["class_names"] == [f"digit {v}" for v in range(10)]
    # each pick's row is its row in the user's file: the pool as run.py loads it holds that row's features
    queries = pd.read_csv(next((tmp_path / "out").iterdir()) / "queries.csv")
    ds = dataset.load(str(tmp_path / "digits.csv"), 0, "data", np.random.default_rng(run.seeds(1, 3)[0]))
    assert len(queries) == 150 and queries.row.is_unique and queries.row.between(0, len(table) - 1).all()
    assert (ds.rows[queries["index"]] == queries.row).all()
    np.testing.assert_array_equal(ds.X_train[queries["index"]].numpy(), X[queries.row].astype(np.float32))
    assert [ds.class_names[c] for c in ds.y_train[queries["index"]]] == table.label[queries.row].tolist()


def test_resume_on_the_same_table_with_its_labels_renamed_is_refused(tmp_path, digits_table):
    """Labels renamed in the same order (digit 0 → 0, ...) keep the features and label codes, so the data's hash
    matched: the resume went on, config.json keeping the old names."""
    X, y = digits_table
    table = pd.DataFrame(X[:400], columns=[f"px{i}" for i in range(64)])
    table.assign(label=[f"digit {v}" for v in y[:400]]).to_csv(tmp_path / "digits.csv", index=False)
    flags = ["--data", tmp_path / "digits.csv", "--nStart", "50", "--nQuery", "50", "--maxEpochs", "20",
             "--out", tmp_path / "out"]
    assert run_main(*flags, "--nEnd", "100").returncode == 0
    table.assign(label=y[:400]).to_csv(tmp_path / "digits.csv", index=False)
    assert_one_line_error(run_main(*flags, "--nEnd", "150", "--resume"),
                          "was started on data whose classes have other names (class 0: 'digit 0' then, '0' now); "
                          "resume with the same data, or use --force or another --out")
    assert config(tmp_path / "out")["class_names"] == [f"digit {v}" for v in range(10)]


def test_user_npz(tmp_path, digits_table):
    X, y = digits_table
    np.savez(tmp_path / "eights.npz", X=X.reshape(-1, 8, 8), y=y)
    proc = run_main("--data", tmp_path / "eights.npz", "--nStart", "50", "--nQuery", "50", "--nEnd", "100",
                    "--maxEpochs", "100", "--out", tmp_path / "out")
    assert [n for n, _ in rounds(proc)] == [50, 100]
    cfg = config(tmp_path / "out")
    assert (cfg["n_pool"], cfg["input_shape"], cfg["data_name"]) == (1617, [64], "eights")


def test_npz_with_both_a_whole_and_a_split_table_or_a_test_file_that_is_the_data_is_refused(tmp_path, digits_table):
    """Which table an .npz holding X, y and X_train ... y_test means is unclear (the split one was used, silently);
    --test naming the --data file itself would test on the pool."""
    X, y = digits_table
    both = tmp_path / "both.npz"
    np.savez(both, X=X, y=y, X_train=X[:1000], y_train=y[:1000], X_test=X[1000:], y_test=y[1000:])
    assert_one_line_error(run_main("--data", both, "--out", tmp_path / "out"), "holds both a whole table (X, y) and "
                          "a split one", "keep one of them")
    whole = tmp_path / "whole.npz"
    np.savez(whole, X=X, y=y)
    assert_one_line_error(run_main("--data", whole, "--test", tmp_path / "." / "whole.npz", "--out", tmp_path / "out"),
                          "is the --data file itself", "drop --test")


def test_csv_labels_named_none_or_na_are_classes_and_na_features_are_missing(tmp_path, capsys):
    """pandas read `None`, `NA` and `null` labels as missing ("data row 1 has no label"), which an .npz of the same
    labels accepted; an NA feature cell is still missing."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(90, 3)), columns=["a", "b", "c"])
    table["severity"] = np.array(["None", "NA", "null"])[np.arange(90) % 3]
    table.to_csv(tmp_path / "labels.csv", index=False)
    assert run.main(["--data", str(tmp_path / "labels.csv"), "--nStart", "20", "--nQuery", "20", "--nEnd", "40",
                     "--maxEpochs", "5", "--out", str(tmp_path / "out")]) == 0
    assert config(tmp_path / "out")["class_names"] == ["NA", "None", "null"]
    (tmp_path / "holes.csv").write_text("a,b,label\n1,2,x\n3,NA,y\n")
    assert run.main(["--data", str(tmp_path / "holes.csv"), "--out", str(tmp_path / "o2")]) == 2
    assert "holes.csv: column 2 is empty or NA in row 3" in capsys.readouterr().err


def test_a_cache_that_cannot_be_written_is_named_as_the_cause(tmp_path, monkeypatch, capsys):
    """MNIST is extracted into the cache: where that fails, the error blamed --out."""
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("BADGE_CACHE", str(tmp_path / "afile" / "cache"))
    assert run.main(["--data", "MNIST", "--path", str(SHARED_DATA), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    cache = tmp_path / "afile" / "cache"
    assert len(err) == 1 and err[0].startswith(f"run.py: error: creating {cache}/torchvision/")
    assert f"(NotADirectoryError: [Errno 20] Not a directory: '{cache}/torchvision/" in err[0]
    assert f"); the cache ({cache}) needs room and write access: fix it, or set BADGE_CACHE to a folder that has " \
           f"them" in err[0]


def test_a_data_file_named_like_cifar10_is_not_augmented(tmp_path, capsys):
    """--aug 1 with a file named CIFAR10.npz tried to augment its rows as 32×32 images: an AttributeError
    traceback; it gets the warning every other file gets."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "CIFAR10.npz", X=rng.normal(size=(200, 3)), y=rng.integers(0, 3, 200))
    with pytest.warns(UserWarning, match="--aug 1 is defined for CIFAR10 only"):
        assert run.main(["--data", str(tmp_path / "CIFAR10.npz"), "--aug", "1", "--nStart", "20", "--nQuery", "20",
                         "--nEnd", "40", "--maxEpochs", "5", "--out", str(tmp_path / "out")]) == 0


@pytest.fixture(scope="module")
def mnist_slice(tmp_path_factory):
    """A --path holding the first 2,000 training and 500 test images of MNIST as extracted idx files."""
    path = tmp_path_factory.mktemp("slice")
    write_mnist_slice(path, "MNIST", 2000, 500)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("model", ["resnet", "cnn"])
def test_conv_nets_on_a_tiny_mnist_slice(tmp_path, mnist_slice, model):
    proc = run_main("--data", "MNIST", "--path", mnist_slice, "--model", model, "--trunc", "300", "--nStart", "50",
                    "--nQuery", "50", "--nEnd", "100", "--maxEpochs", "2", "--out", tmp_path)
    assert [n for n, _ in rounds(proc)] == [50, 100]
    cfg = config(tmp_path)
    assert cfg["n_pool"] <= 300 and cfg["n_test"] == 500 and cfg["model"] == model


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:training stopped at the epoch cap")
@pytest.mark.parametrize("data, model, alg", [("CIFAR10", "cnn", "badge"), ("CIFAR10", "vgg", "coreset"),
                                              ("SVHN", "resnet", "entropy")])
def test_cifar10_and_svhn_files_through_run_main(tmp_path, monkeypatch, capsys, data, model, alg):
    """Small files in the true formats (the md5 check of the original files bypassed), augmentation on; run.main in
    this process, since a subprocess could not bypass the check."""
    import torchvision.datasets.cifar
    import torchvision.datasets.svhn

    import run

    if data == "CIFAR10":
        write_cifar10(tmp_path / "data", n_per_batch=12)
        skip_md5(monkeypatch, torchvision.datasets.cifar)
    else:
        (tmp_path / "data").mkdir()
        write_svhn(tmp_path / "data", n_train=60, n_test=12)
        skip_md5(monkeypatch, torchvision.datasets.svhn)
    code = run.main(["--data", data, "--path", str(tmp_path / "data"), "--model", model, "--alg", alg, "--aug", "1",
                     "--nStart", "10", "--nQuery", "5", "--nEnd", "20", "--maxEpochs", "1", "--seed", "1",
                     "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert [n for n, _ in rounds(subprocess.CompletedProcess([], code, captured.out, captured.err))] == [10, 15, 20]
    cfg = config(tmp_path / "out")
    assert (cfg["n_pool"], cfg["n_test"], cfg["aug"], cfg["model"]) == (60, 12, 1, model)


def bad_data_case(case, tmp_path):
    """(argv, env, fragments) of one data problem a user can make, its files written under tmp_path."""
    if case == "truncated gz":  # the first archive checked; the other three need not be there
        raw = tmp_path / "mnist" / "MNIST" / "raw"
        raw.mkdir(parents=True)
        with open(SHARED_DATA / "MNIST" / "raw" / "train-images-idx3-ubyte.gz", "rb") as f:
            (raw / "train-images-idx3-ubyte.gz").write_bytes(f.read(5000))
        return (["--data", "MNIST", "--path", tmp_path / "mnist"], {"BADGE_CACHE": str(tmp_path / "c")},
                ["train-images-idx3-ubyte.gz is corrupt or truncated"])
    if case == "no SVHN":
        return ["--data", "SVHN", "--path", tmp_path / "none"], {}, ["SVHN is not under", "train_32x32.mat"]
    if case == "no OpenML":
        return ["--did", "424242", "--path", tmp_path / "none"], {}, ["OpenML data set 424242"]
    if case == "missing csv":
        return ["--data", tmp_path / "nope.csv"], {}, ["nope.csv not found"]
    if case == "pandas index column":
        (tmp_path / "indexed.csv").write_text(",a,b,label\n0,1,2,x\n1,3,4,y\n")
        return ["--data", tmp_path / "indexed.csv"], {}, ["the header row's column 1 is empty", "index=False"]
    if case == "text in csv":
        (tmp_path / "text.csv").write_text("a,b,label\n1,2,x\n3,four,y\n")
        return ["--data", tmp_path / "text.csv"], {}, ["column 2 is not numeric (row 3: 'four')"]
    if case == "label first":
        (tmp_path / "first.csv").write_text("label,a,b\n" + "".join(f"{i % 2},{i},{i * 7}\n" for i in range(40)))
        return ["--data", tmp_path / "first.csv"], {}, ["40 rows are too few for 40 classes",
                                                       "run.py takes the last column as the label"]
    if case == "test columns renamed":
        (tmp_path / "train.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
        (tmp_path / "test.csv").write_text("b,c,label\n1,2,0\n3,4,1\n")
        return (["--data", tmp_path / "train.csv", "--test", tmp_path / "test.csv"], {},
                ["name different feature columns", "names 'a',", "names 'c',"])
    if case == "test without labels":
        (tmp_path / "train.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
        (tmp_path / "test.csv").write_text("a,b\n1,2\n3,4\n")
        return (["--data", tmp_path / "train.csv", "--test", tmp_path / "test.csv"], {},
                ["names 'b', ", "test.csv takes its last column, 'b', for the label: add its label column last"])
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 broken")
    return ["--data", tmp_path / "bad.npz"], {}, ["is not a readable .npz file"]


@pytest.mark.parametrize("case", ["truncated gz", "no SVHN", "no OpenML", "missing csv", "text in csv",
                                  "pandas index column", "label first", "test columns renamed", "test without labels",
                                  "broken npz"])
def test_bad_data_gives_one_line_on_stderr(tmp_path, monkeypatch, capsys, case):
    """run.main in this process (no interpreter start-up): exit code 2 and exactly one line on stderr."""
    import run

    argv, env, fragments = bad_data_case(case, tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = run.main([*map(str, argv), "--out", str(tmp_path / "o")])
    captured = capsys.readouterr()
    assert_one_line_error(subprocess.CompletedProcess([], code, captured.out, captured.err), *fragments)
    assert not (tmp_path / "none").exists()


def test_a_full_disk_while_extracting_names_the_cache_not_the_archive(tmp_path):
    """An MNIST archive that passed its md5 check but could not be written out into the cache (a full disk; here a
    file-size limit, which fails the write the same way) was blamed: "replace it with the original MNIST file"."""
    limited = ("import resource, runpy, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
               "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20)); sys.argv = sys.argv[1:]; "
               "runpy.run_path('run.py', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", limited, "run.py", "--data", "MNIST", "--path", str(SHARED_DATA),
                           "--out", str(tmp_path / "o")], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, BADGE_CACHE=str(tmp_path / "c")))
    assert_one_line_error(proc, "run.py: error: extracting ", "train-images-idx3-ubyte.gz into ", "File too large",
                          "the cache (", "or set BADGE_CACHE to a folder that has them")
    assert "replace it" not in proc.stderr and not (tmp_path / "o").exists()


def test_bad_data_in_a_real_process_has_no_traceback(tmp_path):
    """openml logs and warns through its own handlers: only a real process shows what reaches the terminal."""
    case = "no OpenML"
    argv, env, fragments = bad_data_case(case, tmp_path)
    proc = run_cli(*argv, "--out", tmp_path / "o", env=env, timeout=120)
    assert_one_line_error(proc, *fragments)
    assert "testing accuracy" not in proc.stdout
