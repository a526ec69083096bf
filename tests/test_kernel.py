"""The compiled mlp epoch (kernels/): the same training as autograd with clip_grad_value_ and torch.optim.Adam on
the same shuffles (sparse MNIST images, dense data, hidden widths that are not a multiple of its 64-unit blocks, a
class count that is not a multiple of 16, a last batch of one point joined to the one before; random problems
drawn by hypothesis; the edge cases again in a build with AddressSanitizer and UBSan), reproducible, the checks at
its C boundary, the build cache and the compiler's version asked once per binary, the trainer's identity, --kernel
on, and the PyTorch fallback where it does not apply or no compiler works ($CC=false; its divergence check is in
test_learner.py). Nothing is compiled while the tests are collected: the `kernel` fixture builds it."""
import hashlib
import json
import os
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import dataset
import kernel_cases
import kernels
import run
from cli import ROOT, SMALL, assert_one_line_error, run_cli, run_main
from data_files import SHARED_DATA
from errors import UserError
from learner import Learner
from sanitized import assert_clean_then_overrun, sanitized_build
from training import batch_bounds


@pytest.fixture
def no_compiler(monkeypatch):
    """A machine without a working C compiler ($CC=false), the kernel's state looked up afresh before and after."""
    monkeypatch.setenv("CC", "false")
    kernels.state.cache_clear()
    yield
    kernels.state.cache_clear()


def mnist(n):
    return dataset.load("MNIST", 0, str(SHARED_DATA), np.random.default_rng(0), trunc=n)


def dense(n=150, d=12, classes=26, seed=0, batch=16):
    """Gaussian features (every entry non-zero) and `classes` labels."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    y = torch.arange(n) % classes
    return dataset.Dataset("letter", X, y, X[:20], y[:20], classes, batch)


def reference_epochs(model, X, y, orders, batch, lr):
    """The obvious form: per minibatch autograd cross-entropy, clip_grad_value_(0.1), torch.optim.Adam(lr)."""
    adam = torch.optim.Adam(model.parameters(), lr=lr)
    for order in orders:
        for a, b in batch_bounds(len(y), batch):
            adam.zero_grad()
            F.cross_entropy(model(X[order[a:b]])[0], y[order[a:b]]).backward()
            torch.nn.utils.clip_grad_value_(model.parameters(), 0.1)
            adam.step()


@pytest.mark.parametrize("ds, n, n_emb", [(lambda: mnist(400), 129, 128), (lambda: mnist(400), 200, 48),
                                          (dense, 150, 80)], ids=["mnist-merged-last-batch", "mnist-48", "dense-26"])
def test_three_epochs_match_autograd_and_torch_adam(kernel, ds, n, n_emb):
    ds = ds()
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(1), lr=1e-3, n_emb=n_emb)
    assert learner.trainer == "compiled"
    X, y = ds.X_train[:n], ds.y_train[:n]
    model = learner.training.fresh_model()
    reference = learner.training.fresh_model()
    reference.load_state_dict(model.state_dict())
    orders = [torch.randperm(n, generator=torch.Generator().manual_seed(e)) for e in range(3)]
    before = model.lm1.weight.detach().clone()
    run = kernels.MlpEpoch(kernel, model, X, y, ds.train_batch, 1e-3, 0.1, (0.9, 0.999), 1e-8)
    accuracies = [run(order) for order in orders]
    reference_epochs(reference, X, y, orders, ds.train_batch, 1e-3)
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        assert torch.allclose(ours, theirs, rtol=0, atol=1e-5)
    assert (model.lm1.weight - before).abs().max() > 1e-3  # it did train
    assert 0 < accuracies[0] < accuracies[-1] <= 1


def test_the_first_epoch_counts_predictions_made_before_each_step(kernel):
    ds = mnist(300)
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(2))
    X, y = ds.X_train[:100], ds.y_train[:100]
    model = learner.training.fresh_model()
    with torch.no_grad():
        first_batch = model(X[:ds.train_batch].flatten(1))[0].argmax(1)
    order = torch.arange(100)
    run = kernels.MlpEpoch(kernel, model, X, y, ds.train_batch, 1e-4, 0.1, (0.9, 0.999), 1e-8)
    run(order)
    assert torch.equal(run.predicted[:ds.train_batch], first_batch)


def test_sparse_rows_rebuild_the_inputs(kernel):
    X = mnist(300).X_train[:50].flatten(1)
    base, indptr, indices, values = kernel.sparse_rows(X)
    assert torch.equal(base, X.amin(0))
    rows, cols = (X - base != 0).nonzero(as_tuple=True)  # row after row, features ascending
    assert torch.equal(indices.long(), cols) and torch.equal(values, (X - base)[rows, cols])
    rebuilt = base.repeat(len(X), 1)
    rows = torch.repeat_interleave(torch.arange(len(X)), indptr.diff())
    rebuilt[rows, indices.long()] += values
    assert torch.allclose(rebuilt, X, rtol=0, atol=1e-6)
    assert len(values) < 0.3 * X.numel()  # MNIST's background is skipped


def test_training_is_reproducible_and_ends_like_the_torch_path(kernel):
    ds = mnist(1000)
    idx = np.arange(300)
    results = []
    for choice in ("auto", "on", "off"):
        learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(5), kernel=choice)
        res = learner.train(idx)
        results.append((res, learner.test_accuracy(), learner.model.state_dict()))
    (a, acc_a, w_a), (b, acc_b, w_b), (t, acc_t, _) = results
    assert a.stop == t.stop == "target" and (a.epochs, acc_a) == (b.epochs, acc_b)
    assert all(torch.equal(w_a[k], w_b[k]) for k in w_a)
    assert abs(a.epochs - t.epochs) <= 0.1 * t.epochs and abs(acc_a - acc_t) < 0.02


def test_the_kernel_covers_the_cpu_mlp_with_a_width_of_whole_vectors_where_it_pays_off(kernel):
    ds = dense()
    assert Learner("mlp", ds, "cpu", torch.Generator()).trainer == "compiled"
    assert Learner("mlp", ds, "cpu", torch.Generator(), kernel="off").trainer == "torch"
    assert Learner("mlp", ds, "cpu", torch.Generator(), n_emb=100).trainer == "torch"
    assert Learner("lin", ds, "cpu", torch.Generator()).trainer == "torch"
    for d, batch, trainer in [(128, 128, "compiled"), (192, 128, "torch"), (256, 64, "compiled"), (784, 128, "torch")]:
        assert Learner("mlp", dense(d=d, batch=batch), "cpu", torch.Generator()).trainer == trainer  # 0.6 d + 9000/B
    wide_sparse = dense(d=784, batch=128)
    wide_sparse.X_train[:, 400:] = 0  # 400 entries per row differ from the minimum (0)
    wide_sparse.X_train[:, :400] = wide_sparse.X_train[:, :400].abs() + 1
    assert Learner("mlp", wide_sparse, "cpu", torch.Generator()).trainer == "compiled"
    assert Learner("mlp", mnist(300), "cpu", torch.Generator()).trainer == "compiled"


def test_on_trains_compiled_wherever_it_applies_and_names_what_does_not(kernel):
    wide = dense(d=784, batch=128)  # the kernel does not pay off here (auto: PyTorch), but it applies
    assert Learner("mlp", wide, "cpu", torch.Generator()).trainer == "torch"
    assert Learner("mlp", wide, "cpu", torch.Generator(), kernel="on").trainer == "compiled"
    augmented = dense()
    augmented.augment = True
    misfits = [("lin", dense(), "cpu", {}, "trains the mlp only, not lin"),
               ("mlp", dense(), "cpu", {"n_emb": 100}, "--nEmb a multiple of 16, not 100"),
               ("mlp", dense(), "cuda", {}, "on the CPU only, not cuda"),
               ("mlp", augmented, "cpu", {}, "augmentation")]
    for model, ds, device, options, why in misfits:
        with pytest.raises(UserError, match=f"^--kernel on: .*{why}.*; use --kernel auto or off$"):
            Learner(model, ds, device, torch.Generator(), kernel="on", **options)


def test_without_a_compiler_every_choice_but_on_trains_with_torch(no_compiler):
    for model, options in [("mlp", {}), ("mlp", {"kernel": "auto"}), ("mlp", {"kernel": "off"}), ("lin", {})]:
        learner = Learner(model, dense(), "cpu", torch.Generator(), **options)
        assert (learner.trainer, learner.trainer_identity) == ("torch", {"path": "torch"})
    assert kernels.library() is None and "false --version exited with status 1" in kernels.state().reason
    with pytest.raises(UserError, match="^--kernel on: false --version exited with status 1; use --kernel auto or"):
        Learner("mlp", dense(), "cpu", torch.Generator(), kernel="on")


def test_the_trainer_identity_names_the_library_the_compiler_and_the_cpu(kernel):
    identity = Learner("mlp", dense(), "cpu", torch.Generator(), kernel="on").trainer_identity
    library = next((dataset.cache_dir() / "kernels").glob("mlp_epoch-*.so"))
    version = subprocess.run([*kernels.compiler(), "--version"], capture_output=True, text=True).stdout
    assert identity == {"path": "compiled", "library_sha256": hashlib.sha256(library.read_bytes()).hexdigest(),
                        "compiler": version.splitlines()[0].strip(),
                        "cpu_flags_sha256": hashlib.sha256(kernels.cpu_identity().encode()).hexdigest()}
    assert Learner("mlp", dense(), "cpu", torch.Generator(), kernel="off").trainer_identity == {"path": "torch"}


def test_the_build_is_cached_and_a_missing_compiler_is_named(kernel, tmp_path, monkeypatch):
    first = kernels.build(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert kernels.build(tmp_path) == first and first.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compilers.json", first.name]  # no temporary file left
    first.chmod(0o777)  # writable by anyone: not loaded, built again
    assert kernels.build(tmp_path) == first and first.stat().st_mtime_ns != stamp
    assert not first.stat().st_mode & 0o022
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    with pytest.raises(kernels.Unavailable, match="no C compiler .*no-such-compiler.* was found"):
        kernels.build(tmp_path / "other")


def test_apple_silicon_builds_each_kernel_without_march_native(kernel, tmp_path):
    """Apple clang of Xcode 14 and older refuses -march=native on arm64, which left every kernel unbuilt there (PyTorch
    only, without a word under --kernel auto): Apple silicon builds without a target flag, and the sources need
    none (they use C vector types, no intrinsics)."""
    from kernels import bait, kmeans

    assert kernels.target_flags("darwin", "arm64") == ()
    assert kernels.target_flags("darwin", "x86_64") == kernels.target_flags("linux", "x86_64") == ("-march=native",)
    apple = tuple(f for f in kernels.FLAGS if f != "-march=native")
    for source in (kernels.SOURCE, bait.SOURCE, kmeans.SOURCE):
        assert kernels.build(tmp_path, apple, source).stat().st_size > 0


@pytest.mark.parametrize("status", [0, 2])
def test_a_mac_without_the_command_line_tools_never_runs_the_compiler_shim(tmp_path, monkeypatch, status):
    """On macOS /usr/bin/cc without the Command Line Tools opens their installer's dialog when run: every process
    ran `cc --version` (nothing is remembered for a failed compiler). `xcode-select -p` (here a stand-in that exits
    with `status`, 2 as Apple's does without them) is asked first."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "xcode-select").write_text(f"#!/bin/sh\nexit {status}\n")
    (bin_dir / "xcode-select").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert kernels.without_apple_tools("/usr/bin/cc", "darwin") is (status != 0)
    assert not kernels.without_apple_tools("/usr/bin/cc", "linux")
    assert not kernels.without_apple_tools("/opt/homebrew/bin/gcc-14", "darwin")
    monkeypatch.setattr(kernels, "without_apple_tools", lambda real: status != 0)  # this machine as such a Mac
    if status:
        with pytest.raises(kernels.Unavailable, match=r"needs the Command Line Tools, .* \(xcode-select --install\)"):
            kernels.compiler_version(kernels.compiler(), tmp_path)
    else:
        assert kernels.compiler_version(kernels.compiler(), tmp_path)


def test_a_start_asks_the_compiler_nothing_until_the_compiler_changes(kernel, tmp_path, monkeypatch):
    """The version line is remembered per compiler binary (path, size, modification time): a second build asks
    nothing; a compiler whose binary changed is asked again."""
    wrapper = tmp_path / "cc-wrapper"
    wrapper.write_text(f"#!/bin/sh\nexec {' '.join(kernels.compiler())} \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.setenv("CC", str(wrapper))
    asked, run = [], subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: asked.append(cmd[1:]) or run(cmd, **kw))
    cache = tmp_path / "cache"
    lib = kernels.build(cache)
    assert [cmd[0] for cmd in asked] == ["--version", kernels.FLAGS[0]]  # asked, then compiled
    asked.clear()
    assert kernels.build(cache) == lib and asked == []
    os.utime(wrapper, ns=(0, wrapper.stat().st_mtime_ns + 10**9))  # the compiler changed
    assert kernels.build(cache) == lib and asked == [["--version"]]  # same version line: the same library


@pytest.mark.parametrize("problem", kernel_cases.EDGES, ids=str)
def test_edge_cases_match_autograd_and_torch_adam(kernel, problem):
    kernel_cases.check(kernel, problem)


PROBLEMS = st.builds(kernel_cases.Problem, n=st.integers(1, 48), d=st.integers(1, 24),
                     H=st.sampled_from([16, 32, 48, 64, 80, 144]), C=st.integers(1, 20), B=st.integers(1, 64),
                     zeros=st.sampled_from([0.0, 0.5, 0.9]), scale=st.sampled_from([1.0, 4.0]), signed=st.booleans(),
                     epochs=st.integers(1, 2), seed=st.integers(0, 10**6))


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(problem=PROBLEMS)
def test_random_problems_match_autograd_and_torch_adam(kernel, problem):
    kernel_cases.check(kernel, problem)


def test_the_boundary_rejects_what_does_not_fit_before_passing_a_pointer(kernel):
    p = kernel_cases.EDGES[4]
    X, y, orders = kernel_cases.data(p)
    run = kernels.MlpEpoch(kernel, kernel_cases.model(p), X, y, p.B, 1e-3, 0.1, (0.9, 0.999), 1e-8)
    good = run.values
    bad = {"labels": good["labels"].to(torch.int32), "W1t": torch.zeros(p.H, p.d).t(), "b1": torch.zeros(p.H + 1),
           "values": good["values"].double(), "base": torch.empty(p.d, device="meta"), "indptr": [0] * (p.n + 1),
           "W2": good["W2"].t().contiguous()}
    for name, value in bad.items():
        with pytest.raises(ValueError, match=f"^mlp_epoch's {name} must be a contiguous CPU torch"):
            kernel.pack(**dict(good, **{name: value}))
    for sizes, message in [({"H": 24}, "multiple of 16"), ({"n": 0}, "positive sizes")]:
        with pytest.raises(ValueError, match=message):
            kernel.pack(**dict(good, **sizes))
    with pytest.raises(ValueError, match="takes the fields"):
        kernel.pack(**{k: v for k, v in good.items() if k != "step"})
    for order in (orders[0][1:], orders[0] + 1, orders[0].int()):
        with pytest.raises(ValueError, match="order must hold"):
            run(order)
    model64 = kernel_cases.model(p).double()
    with pytest.raises(ValueError, match="W1t must be a contiguous CPU torch.float32"):
        kernels.MlpEpoch(kernel, model64, X, y, p.B, 1e-3, 0.1, (0.9, 0.999), 1e-8)
    assert run(orders[0]) is not None  # the checks left it usable


@pytest.fixture(scope="module")
def sanitized(kernel, tmp_path_factory):
    """(library, environment) for the kernel built with AddressSanitizer and UBSan (sanitized.py)."""
    return sanitized_build(tmp_path_factory.mktemp("sanitized"), kernels.SOURCE)


def test_the_edge_cases_run_clean_under_address_and_undefined_behaviour_sanitizers(sanitized):
    """Every edge case passes with no report; then an overrun forced past the checks is reported (the sanitizer is
    live)."""
    assert_clean_then_overrun(ROOT / "tests" / "kernel_cases.py", *sanitized, len(kernel_cases.EDGES))


def test_kernel_on_fails_in_one_line_where_it_does_not_apply_or_cannot_be_built(tmp_path, capsys):
    assert run.main(["--alg", "rand", "--out", str(tmp_path / "lin"), *SMALL, "--model", "lin", "--kernel", "on"]) == 2
    assert capsys.readouterr().err == ("run.py: error: --kernel on: the compiled epoch trains the mlp only, not lin; "
                                       "use --kernel auto or off\n")
    nocc = run_cli("--alg", "rand", "--out", tmp_path / "nocc", *SMALL, "--kernel", "on",
                   env={"CC": "false", "BADGE_CACHE": str(tmp_path / "cache")})
    assert nocc.returncode == 2
    assert_one_line_error(nocc, "run.py: error: --kernel on: false --version exited with status 1")
    assert not (tmp_path / "lin").exists() and not (tmp_path / "nocc").exists()


@pytest.mark.slow
def test_the_cli_records_its_trainer_and_falls_back_quietly(tmp_path):
    """--kernel off, and a machine without a C compiler, train with PyTorch; config.json says which ran. --kernel off
    runs in this process; the machine without a compiler is a fresh process (the kernel's build state is kept per
    process) with its own empty cache."""
    runs = {"off": run_main("--alg", "rand", "--out", tmp_path / "off", *SMALL, "--kernel", "off"),
            "nocc": run_cli("--alg", "rand", "--out", tmp_path / "nocc", *SMALL,
                            env={"CC": "false", "BADGE_CACHE": str(tmp_path / "cache")})}
    for name, proc in runs.items():
        assert proc.returncode == 0, proc.stderr
        assert "compil" not in proc.stderr.lower()
        config = json.loads(next((tmp_path / name).glob("*/config.json")).read_text())
        assert config["trainer"] == "torch" and config["trainer_identity"] == {"path": "torch"}


def test_a_run_started_with_pytorch_and_resumed_with_kernel_on_says_it_stays_with_pytorch(kernel, tmp_path):
    """--kernel on given to a resume of a run that trained with PyTorch was ignored without a word (the reverse,
    --kernel off on a compiled run, warns): the run goes on with PyTorch, and now says so."""
    flags = ["--alg", "rand", "--out", tmp_path, *SMALL]
    assert run_main(*flags, "--rounds", "1", "--kernel", "off").returncode == 0
    proc = run_main(*flags, "--kernel", "on", "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "started with PyTorch's training, and a resumed run trains as it started: --kernel on does not apply to " \
           "it (start it again with --force to train it compiled)" in proc.stderr
    config = json.loads(next(tmp_path.glob("*/config.json")).read_text())
    assert config["trainer"] == "torch" and [s["trainer"] for s in config["segments"]] == ["torch", "torch"]
