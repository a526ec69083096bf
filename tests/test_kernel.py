"""The compiled mlp epoch (kernels/): the same training as autograd with clip_grad_value_ and torch.optim.Adam on
the same shuffles (sparse MNIST images, dense data, hidden widths that are not a multiple of its 64-unit blocks, a
class count that is not a multiple of 16, a last batch of one point joined to the one before), reproducible, the
build cache, and the PyTorch fallback where it does not apply or no compiler works (its divergence check is in
test_learner.py)."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dataset
import kernels
from cli import SMALL, run_cli
from data_files import SHARED_DATA
from learner import Learner, batch_bounds

pytestmark = pytest.mark.skipif(kernels.library() is None, reason="no working C compiler")


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
def test_three_epochs_match_autograd_and_torch_adam(ds, n, n_emb):
    ds = ds()
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(1), lr=1e-3, n_emb=n_emb)
    assert learner.trainer == "compiled"
    X, y = ds.X_train[:n], ds.y_train[:n]
    model = learner.fresh_model()
    reference = learner.fresh_model()
    reference.load_state_dict(model.state_dict())
    orders = [torch.randperm(n, generator=torch.Generator().manual_seed(e)) for e in range(3)]
    before = model.lm1.weight.detach().clone()
    run = kernels.MlpEpoch(kernels.library(), model, X, y, ds.train_batch, 1e-3, 0.1, (0.9, 0.999), 1e-8)
    accuracies = [run(order) for order in orders]
    reference_epochs(reference, X, y, orders, ds.train_batch, 1e-3)
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        assert torch.allclose(ours, theirs, rtol=0, atol=1e-5)
    assert (model.lm1.weight - before).abs().max() > 1e-3  # it did train
    assert 0 < accuracies[0] < accuracies[-1] <= 1


def test_the_first_epoch_counts_predictions_made_before_each_step():
    ds = mnist(300)
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(2))
    X, y = ds.X_train[:100], ds.y_train[:100]
    model = learner.fresh_model()
    with torch.no_grad():
        first_batch = model(X[:ds.train_batch].flatten(1))[0].argmax(1)
    order = torch.arange(100)
    run = kernels.MlpEpoch(kernels.library(), model, X, y, ds.train_batch, 1e-4, 0.1, (0.9, 0.999), 1e-8)
    run(order)
    assert torch.equal(run.predicted[:ds.train_batch], first_batch)


def test_sparse_rows_rebuild_the_inputs():
    X = mnist(300).X_train[:50].flatten(1)
    base, indptr, indices, values = kernels.sparse_rows(X)
    assert torch.equal(base, X.amin(0))
    rebuilt = base.repeat(len(X), 1)
    rows = torch.repeat_interleave(torch.arange(len(X)), indptr.diff())
    rebuilt[rows, indices.long()] += values
    assert torch.allclose(rebuilt, X, rtol=0, atol=1e-6)
    assert len(values) < 0.3 * X.numel()  # MNIST's background is skipped


def test_training_is_reproducible_and_ends_like_the_torch_path():
    ds = mnist(1000)
    idx = np.arange(300)
    results = []
    for kernel in (True, True, False):
        learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(5), kernel=kernel)
        res = learner.train(idx)
        results.append((res, learner.test_accuracy(), learner.model.state_dict()))
    (a, acc_a, w_a), (b, acc_b, w_b), (t, acc_t, _) = results
    assert a.stop == t.stop == "target" and (a.epochs, acc_a) == (b.epochs, acc_b)
    assert all(torch.equal(w_a[k], w_b[k]) for k in w_a)
    assert abs(a.epochs - t.epochs) <= 0.1 * t.epochs and abs(acc_a - acc_t) < 0.02


def test_the_kernel_covers_the_cpu_mlp_with_a_width_of_whole_vectors_where_it_pays_off():
    ds = dense()
    assert Learner("mlp", ds, "cpu", torch.Generator()).trainer == "compiled"
    assert Learner("mlp", ds, "cpu", torch.Generator(), kernel=False).trainer == "torch"
    assert Learner("mlp", ds, "cpu", torch.Generator(), n_emb=100).trainer == "torch"
    assert Learner("lin", ds, "cpu", torch.Generator()).trainer == "torch"
    for d, batch, trainer in [(128, 128, "compiled"), (192, 128, "torch"), (256, 64, "compiled"), (784, 128, "torch")]:
        assert Learner("mlp", dense(d=d, batch=batch), "cpu", torch.Generator()).trainer == trainer  # 0.6 d + 9000/B
    wide_sparse = dense(d=784, batch=128)
    wide_sparse.X_train[:, 400:] = 0  # 400 entries per row differ from the minimum (0)
    wide_sparse.X_train[:, :400] = wide_sparse.X_train[:, :400].abs() + 1
    assert Learner("mlp", wide_sparse, "cpu", torch.Generator()).trainer == "compiled"
    assert Learner("mlp", mnist(300), "cpu", torch.Generator()).trainer == "compiled"


def test_the_build_is_cached_and_a_missing_compiler_gives_none(tmp_path, monkeypatch):
    first = kernels.build(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert kernels.build(tmp_path) == first and first.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary file left
    first.chmod(0o777)  # writable by anyone: not loaded, built again
    assert kernels.build(tmp_path) == first and first.stat().st_mtime_ns != stamp
    assert not first.stat().st_mode & 0o022
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    assert kernels.build(tmp_path / "other") is None


@pytest.mark.slow
def test_the_cli_records_its_trainer_and_falls_back_quietly(tmp_path):
    """--kernel off, and a machine without a C compiler, train with PyTorch; config.json says which ran."""
    runs = {"off": (["--kernel", "off"], {}),
            "nocc": ([], {"CC": str(tmp_path / "no-such-compiler"), "BADGE_CACHE": str(tmp_path / "cache")})}
    for name, (flags, env) in runs.items():
        proc = run_cli("--alg", "rand", "--out", tmp_path / name, *SMALL, *flags, env=env)
        assert proc.returncode == 0, proc.stderr
        assert "compil" not in proc.stderr.lower()
        config = json.loads(next((tmp_path / name).glob("*/config.json")).read_text())
        assert config["trainer"] == "torch"
