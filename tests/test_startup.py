"""A run's fixed cost: run.py parses its flags before importing torch, a run imports only the strategy it uses,
and decoded data sets come from the project cache (keyed by their source files, decoded again when those change)
without the libraries that decode them."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import datacache
import dataset
from cli import ROOT
from data_files import write_mnist_slice
from query_strategies import ALIASES, CLASSES, STRATEGIES

HEAVY = ("torch", "torchvision", "sklearn", "pandas", "scipy")


def imported_after(code, env=None):
    """(stdout's last line as JSON, the heavy top-level packages and the strategy modules imported) after a fresh
    interpreter in the repository root runs `code`."""
    probe = (f"{code}\nimport sys, json\nprint(json.dumps([out, sorted(m for m in sys.modules if m in {HEAVY!r} "
             f"or m.startswith('query_strategies.'))]))")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_help_and_flag_errors_come_before_torch():
    out, modules = imported_after("import run\ntry:\n    run.main(['--help'])\nexcept SystemExit as e:\n"
                                  "    out = e.code")
    assert out == 0 and modules == []
    out, modules = imported_after("import run\nout = run.main(['--nQuery', '0'])")
    assert out == 2 and modules == []


def test_the_strategy_table_imports_a_module_only_when_its_class_is_asked_for():
    out, modules = imported_after("from query_strategies import STRATEGIES\nout = sorted(STRATEGIES)")
    assert out == sorted([*CLASSES, *ALIASES]) and modules == []
    out, modules = imported_after("from query_strategies import STRATEGIES\nout = STRATEGIES['kcenter'].name")
    assert out == "coreset" and "sklearn" not in modules
    assert [m for m in modules if m.startswith("query_strategies.")] == [
        "query_strategies.core_set", "query_strategies.selection", "query_strategies.strategy"]


def test_every_name_maps_to_the_class_of_that_name():
    assert all(STRATEGIES[name].name == name for name in CLASSES)
    assert all(STRATEGIES[alias] is STRATEGIES[name] for alias, name in ALIASES.items())
    assert len(STRATEGIES) == len(list(STRATEGIES)) and "kdpp" in STRATEGIES and "nope" not in STRATEGIES
    with pytest.raises(KeyError):
        STRATEGIES["nope"]


def test_a_class_listed_under_another_name_than_its_own_is_refused_naming_the_fix(monkeypatch):
    """A class is listed in CLASSES under its `name`, the key of its parameters in strategy_params.DECLARED:
    listed under another key, or without a name, it was refused the parameters declared under its key (`LeastMax
    takes no parameter jitter`), or built without them."""
    monkeypatch.setitem(CLASSES, "my_entropy", ("entropy_sampling", "EntropySampling"))
    with pytest.raises(TypeError, match=r"EntropySampling.name is 'entropy': set it to 'my_entropy', its key in "):
        STRATEGIES["my_entropy"]


def test_a_second_digits_run_imports_neither_scikit_learn_nor_the_other_strategies(tmp_path, monkeypatch):
    monkeypatch.setenv("BADGE_CACHE", str(tmp_path / "cache"))
    flags = ["--alg", "marg", "--nStart", "30", "--nQuery", "10", "--nEnd", "40", "--maxEpochs", "5", "--force",
             "--out", str(tmp_path / "out")]
    run = f"import run\nout = run.main({flags!r})"
    first = imported_after(run)
    second = imported_after(run)
    assert first[0] == second[0] == 0 and "sklearn" in first[1]
    assert second[1] == ["query_strategies.margin_sampling", "query_strategies.selection", "query_strategies.strategy",
                         "torch"]
    config = json.loads((tmp_path / "out" / "digits_mlp_marg_10_seed1" / "config.json").read_text())
    assert set(config["startup_seconds"]) == {"imports", "data", "setup"}


def test_decoded_mnist_comes_from_the_cache_until_its_files_change(tmp_path, monkeypatch):
    monkeypatch.setenv("BADGE_CACHE", str(tmp_path / "cache"))
    raw = write_mnist_slice(tmp_path / "data", n_train=300, n_test=40)
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    decoded = dataset.decode_image_data("MNIST", tmp_path / "data")
    first = dataset.load("MNIST", 0, str(tmp_path / "data"), rng())
    assert first.sha256 == dataset.content_sha256(decoded)
    for k in ("X_train", "y_train", "X_test", "y_test", "black"):
        assert torch.equal(getattr(first, k), getattr(decoded, k))
    load = f"import dataset, numpy as np\nout = dataset.load('MNIST', 0, {str(tmp_path / 'data')!r}, None).sha256"
    sha, modules = imported_after(load)
    assert sha == first.sha256 and "torchvision" not in modules  # read back from the cache
    labels = raw / "train-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    data[8] = (data[8] + 1) % 10  # the first training image's label
    labels.write_bytes(bytes(data))
    changed = dataset.load("MNIST", 0, str(tmp_path / "data"), rng())
    assert changed.y_train[0] == (first.y_train[0] + 1) % 10 and torch.equal(changed.y_train[1:], first.y_train[1:])
    assert changed.sha256 == dataset.content_sha256(changed) != first.sha256
    assert len(list((tmp_path / "cache" / "decoded").iterdir())) == 1  # the outdated entry is gone
    truncated = dataset.load("MNIST", 0, str(tmp_path / "data"), rng(), trunc=100)
    assert truncated.sha256 is None


def test_two_versions_sharing_the_cache_each_keep_their_entry(tmp_path, monkeypatch):
    """Two checkouts or environments (other decoder or library versions) alternating on one cache: each used to
    remove the other's entry when it stored its own, so every run decoded again (and rewrote 220 MB for MNIST).
    A changed source still replaces its version's entry, and a folder in the older naming (kind-key) is left alone."""
    monkeypatch.setenv("BADGE_CACHE", str(tmp_path / "cache"))
    source, decoded = tmp_path / "table.bin", []
    source.write_bytes(b"one")
    legacy = tmp_path / "cache" / "decoded" / f"kind-{'0' * datacache.KEY_LENGTH}"
    legacy.mkdir(parents=True)

    def load(version):
        def decode():
            decoded.append(version)
            return {"a": np.frombuffer(source.read_bytes(), dtype=np.uint8).copy()}
        return datacache.cached_arrays("kind", [source], (version,), decode, ["a"])["a"].tobytes()

    assert [load(v) for v in ("v1", "v2", "v1", "v2")] == [b"one"] * 4 and decoded == ["v1", "v2"]
    source.write_bytes(b"two")
    assert load("v1") == b"two" and decoded == ["v1", "v2", "v1"]
    assert len(list((tmp_path / "cache" / "decoded").iterdir())) == 3 and legacy.is_dir()


def test_a_cache_entry_changed_in_place_is_decoded_again(tmp_path, monkeypatch):
    """Images zeroed in the entry's X_train.npy were used as they were (a run on blank images), and the run recorded
    the SHA-256 of the original data that the entry kept beside them."""
    monkeypatch.setenv("BADGE_CACHE", str(tmp_path / "cache"))
    write_mnist_slice(tmp_path / "data", n_train=300, n_test=40)
    first = dataset.load("MNIST", 0, str(tmp_path / "data"), np.random.default_rng(0))
    (entry,) = (tmp_path / "cache" / "decoded").iterdir()
    np.load(entry / "X_train.npy", mmap_mode="r+")[:] = 0
    again = dataset.load("MNIST", 0, str(tmp_path / "data"), np.random.default_rng(0))
    assert torch.equal(again.X_train, first.X_train) and again.sha256 == dataset.content_sha256(again)
    assert np.array_equal(np.load(entry / "X_train.npy"), first.X_train.numpy())  # stored afresh


def test_a_table_edited_while_it_is_decoded_is_not_cached_under_its_old_content(tmp_path, monkeypatch):
    """The entry's key hashes the file, and decoding reads it again: an edit between the two left the new content
    under the old content's key, so that a later run on the restored file read the edited classes."""
    monkeypatch.setenv("BADGE_CACHE", str(tmp_path / "cache"))
    csv = tmp_path / "table.csv"
    original = "f1,f2,label\n" + "".join(f"{i % 7},{i / 3:.3f},{'ab'[i % 2]}\n" for i in range(60))
    csv.write_text(original)
    read = dataset.read_csv_table

    def edited_while_read(path):
        csv.write_text(original.replace(",a\n", ",c\n"))
        return read(path)

    monkeypatch.setattr(dataset, "read_csv_table", edited_while_read)
    assert dataset.load(str(csv), 0, "data", np.random.default_rng(1)).class_names == ["b", "c"]
    assert not (tmp_path / "cache" / "decoded").exists() or not any((tmp_path / "cache" / "decoded").iterdir())
    monkeypatch.setattr(dataset, "read_csv_table", read)
    csv.write_text(original)
    assert dataset.load(str(csv), 0, "data", np.random.default_rng(1)).class_names == ["a", "b"]


def test_a_csv_table_is_parsed_once_and_again_when_it_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("BADGE_CACHE", str(tmp_path / "cache"))
    csv = tmp_path / "table.csv"
    rows = [f"{i % 7},{i / 3:.3f},{'ab'[i % 2]}" for i in range(60)]
    csv.write_text("f1,f2,label\n" + "\n".join(rows) + "\n")
    first = dataset.load(str(csv), 0, "data", np.random.default_rng(1))
    load = f"import dataset, numpy as np\nout = dataset.load({str(csv)!r}, 0, 'data', np.random.default_rng(1))" \
           f".X_train.sum().item()"
    total, modules = imported_after(load)
    assert total == pytest.approx(first.X_train.sum().item()) and "pandas" not in modules
    csv.write_text("f1,f2,label\n" + "\n".join(rows[:40]) + "\n")
    changed = dataset.load(str(csv), 0, "data", np.random.default_rng(1))
    assert len(changed.y_train) + len(changed.y_test) == 40


def test_a_damaged_or_interrupted_cache_entry_heals(tmp_path, monkeypatch):
    """An entry that lost one of its arrays failed every later run with a KeyError traceback; a Ctrl-C while an
    entry was written left its temporary folder (180 MB for MNIST) for ever; an empty $BADGE_CACHE put the cache
    in the current folder."""
    monkeypatch.setenv("BADGE_CACHE", str(tmp_path / "cache"))
    csv = tmp_path / "table.csv"
    csv.write_text("f1,f2,label\n" + "".join(f"{i % 7},{i / 3:.3f},{'ab'[i % 2]}\n" for i in range(60)))
    first = dataset.load(str(csv), 0, "data", np.random.default_rng(1))
    (entry,) = (tmp_path / "cache" / "decoded").iterdir()
    (entry / "classes.npy").unlink()
    again = dataset.load(str(csv), 0, "data", np.random.default_rng(1))
    assert torch.equal(again.X_train, first.X_train) and (entry / "classes.npy").is_file()

    class CtrlC:
        """An array whose conversion is interrupted (as a Ctrl-C while np.save writes it)."""

        def __array__(self, *args, **kwargs):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        datacache.store(tmp_path / "cache" / "decoded" / "kind-x", {"a": np.zeros(3), "b": CtrlC()}, "kind", "x")
    assert [p.name for p in (tmp_path / "cache" / "decoded").iterdir()] == [entry.name]
    stale = tmp_path / "cache" / "decoded" / ".write-killed"
    stale.mkdir()
    os.utime(stale, (0, 0))
    datacache.store(tmp_path / "cache" / "decoded" / "kind-y", {"a": np.zeros(3)}, "kind", "x")
    assert sorted(p.name for p in (tmp_path / "cache" / "decoded").iterdir()) == sorted([entry.name, "kind-y"])
    monkeypatch.setenv("BADGE_CACHE", "")
    assert datacache.cache_dir() == Path.home() / ".cache" / "badge"
