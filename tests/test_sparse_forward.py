"""The mlp's compiled forward pass (kernels.MlpForward: the sparse first layer of the compiled epoch): PyTorch's
outputs to float rounding on MNIST rows and on dense and sparse synthetic inputs, each row's outputs independent of
the rows asked with it, the checks at its C boundary, and the learner's one choice of path: the compiled forward
wherever the compiled epoch trained the network (pool, test set, MC-dropout's body), PyTorch's otherwise, with the
entropy run's picks those of PyTorch's inference."""
import csv

import numpy as np
import pytest
import torch

import dataset
import kernels
import predictor
from cli import SHARED_DATA, run_main
from learner import Learner
from model import MLP, dropout


@pytest.fixture(scope="module")
def mnist():
    return dataset.load("MNIST", 0, str(SHARED_DATA), np.random.default_rng(0), trunc=600)


def synthetic(n, d, zeros, seed):
    """n × d Gaussian features; with zeros > 0 that fraction set to 0 and the rest made positive (image-like)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g) * 3
    if zeros:
        X = X.abs()
        X[torch.rand(n, d, generator=g) < zeros] = 0
    return X


def assert_same_outputs(ours, theirs):
    """Logits and embeddings equal to float rounding: 1e-5 relative to each output's largest magnitude."""
    for mine, ref in zip(ours, theirs):
        torch.testing.assert_close(mine, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())


@pytest.mark.parametrize("d, H, C, zeros", [(784, 256, 10, None), (37, 16, 1, 0.0), (50, 48, 26, 0.8),
                                            (3, 144, 7, 0.5)], ids=["mnist", "dense-one-class", "sparse", "narrow"])
def test_outputs_are_pytorchs(kernel, mnist, d, H, C, zeros):
    X = mnist.X_train[:300].flatten(1) if zeros is None else synthetic(300, d, zeros, seed=d)
    torch.manual_seed(H)
    net = MLP(d, C, H).eval()
    with torch.no_grad():
        assert_same_outputs(kernels.MlpForward(kernel, X)(net), net(X))


def test_each_rows_outputs_do_not_depend_on_the_rows_asked_with_it(kernel, mnist):
    X = mnist.X_train[:200]
    net = MLP(784, 10, 128)
    forward = kernels.MlpForward(kernel, X)
    logits, emb = forward(net)
    for rows in (torch.tensor([7]), torch.tensor([199, 0, 7, 7]), torch.randperm(200)[:77]):
        some_logits, some_emb = forward(net, rows)
        assert torch.equal(some_logits, logits[rows]) and torch.equal(some_emb, emb[rows])
    empty = forward(net, torch.tensor([], dtype=torch.int64))
    assert empty[0].shape == (0, 10) and empty[1].shape == (0, 128)


def test_the_boundary_rejects_what_does_not_fit(kernel):
    X = synthetic(20, 6, 0.5, seed=1)
    forward, net = kernels.MlpForward(kernel, X), MLP(6, 3, 16)
    for rows in (torch.tensor([0, 20]), torch.tensor([-1]), torch.tensor([1], dtype=torch.int32),
                 torch.zeros(2, 2, dtype=torch.int64)):
        with pytest.raises(ValueError, match=r"^mlp_forward's rows must be int64 rows in \[0, 20\)$"):
            forward(net, rows)
    with pytest.raises(ValueError, match="^mlp_forward's W1 must be a contiguous CPU torch.float32"):
        forward(MLP(6, 3, 16).double())
    with pytest.raises(ValueError, match="^mlp_forward's W1 must be a contiguous CPU torch.float32 tensor of "
                                         r"shape \(32, 6\), not torch.float32 \(32, 7\)"):
        forward(MLP(7, 3, 32))
    double_bias = MLP(6, 3, 16)
    double_bias.lm1.bias.data = double_bias.lm1.bias.data.double()
    with pytest.raises(ValueError, match="^mlp_forward's b1 must be a contiguous CPU torch.float32"):
        forward(double_bias)
    wide_head = MLP(6, 3, 16)
    wide_head.head = torch.nn.Linear(32, 3, bias=False)
    with pytest.raises(ValueError, match=r"^mlp_forward's W2 must be .* of shape \(3, 16\), not torch.float32 "
                                         r"\(3, 32\)"):
        forward(wide_head)
    with pytest.raises(ValueError, match="multiple of 16"):
        forward(MLP(6, 3, 24))
    with pytest.raises(ValueError, match="^sparse_count's inputs must be a contiguous CPU torch.float32"):
        kernels.MlpForward(kernel, X.double())


def test_the_learner_infers_with_the_compiled_forward_where_it_trains_with_the_compiled_epoch(kernel, mnist,
                                                                                              monkeypatch):
    idx, pool = np.arange(100), np.arange(100, 600)
    outputs = {}
    for choice in ("auto", "off"):
        learner = Learner("mlp", mnist, "cpu", torch.Generator().manual_seed(3), kernel=choice)
        learner.train(idx)
        outputs[choice] = learner
    compiled, dense = outputs["auto"], outputs["off"]
    assert (compiled.trainer, dense.trainer) == ("compiled", "torch")
    for learner, path in ((compiled, True), (dense, False)):
        net, p = learner.model, learner.predictor
        logits, emb = predictor.Inputs(mnist.X_train).outputs(net, pool, compiled=path)
        assert torch.equal(p.probs_embeddings(pool)[1], emb)
        assert torch.equal(p.probs(pool), torch.softmax(logits, 1))
        test_logits = predictor.Inputs(mnist.X_test).outputs(net, compiled=path)[0]
        assert torch.equal(learner.test_predictions(), test_logits.argmax(1))
        state, calls, forward = learner._gen.get_state(), [], kernels.MlpForward.__call__
        monkeypatch.setattr(kernels.MlpForward, "__call__", lambda *a, **k: calls.append(1) or forward(*a, **k))
        mc = p.mc_probs(pool, draws=3)
        monkeypatch.undo()
        assert len(calls) == path  # the body once for all passes (compiled)
        learner._gen.set_state(state)
        with torch.no_grad():  # MC-dropout's body: these embeddings, batch after batch
            passes = [torch.cat([net.head(dropout(e, predictor.EMBEDDING_DROPOUT, learner._gen))
                                 for e in emb.split(dataset.TEST_BATCH)]) for _ in range(3)]
        assert torch.equal(mc, torch.softmax(torch.stack(passes), 2))
    with torch.no_grad():
        torch_logits = predictor.Inputs(mnist.X_train).outputs(compiled.model, pool)[0]
    assert not torch.equal(compiled.predictor.probs(pool), torch.softmax(torch_logits, 1))  # not PyTorch's floats
    torch.testing.assert_close(compiled.predictor.probs(pool), torch.softmax(torch_logits, 1), rtol=1e-5, atol=1e-6)


def queries(folder):
    """(picked indices, their scores) of a run's queries.csv."""
    rows = list(csv.DictReader((folder / "queries.csv").open()))
    return [int(r["index"]) for r in rows], np.array([float(r["score"] or "nan") for r in rows])


def test_the_entropy_runs_picks_are_those_of_pytorchs_inference(kernel, tmp_path, monkeypatch):
    """The README's MNIST run (to 300 labels): the compiled forward's entropies differ from PyTorch's only by float
    rounding, too little to change a pick or a test accuracy."""
    args = ["--model", "mlp", "--data", "MNIST", "--path", SHARED_DATA, "--nStart", "100", "--nQuery", "100",
            "--nEnd", "300", "--alg", "entropy"]
    assert run_main(*args, "--out", tmp_path / "compiled").returncode == 0
    dense = predictor.Inputs.outputs
    monkeypatch.setattr(predictor.Inputs, "outputs", lambda self, model, idx=None, compiled=False:
                        dense(self, model, idx))
    assert run_main(*args, "--out", tmp_path / "torch").returncode == 0
    folder = "MNIST_mlp_entropy_100_seed1"
    (ours, our_scores), (theirs, their_scores) = (queries(tmp_path / path / folder) for path in ("compiled", "torch"))
    assert ours == theirs and len(ours) == 300
    np.testing.assert_allclose(our_scores, their_scores, rtol=1e-5)
    assert not np.array_equal(our_scores[100:], their_scores[100:])  # two paths: their floats differ
    accuracies = [[line.split(",")[2] for line in (tmp_path / path / folder / "rounds.csv").read_text().splitlines()]
                  for path in ("compiled", "torch")]
    assert accuracies[0] == accuracies[1]
