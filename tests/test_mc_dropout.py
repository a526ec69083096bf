"""MC-dropout inference (Predictor.mc_probs) computes the network's part before its first dropout once for all
passes, and gives the same numbers, from the same generator draws, as one full forward pass per draw did before
(the reference below is that implementation)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dataset
import predictor as predictor_module
from learner import Learner
from model import Dropout, dropout, has_dropout, set_dropout_generator
from predictor import EMBEDDING_DROPOUT
from training import device_generator


def reference_mc_probs(lr, generator, X, draws, batch):
    """The former mc_probs: per pass a generator, dropout layers switched on (or the embedding's units dropped
    before the head) and the whole network run over X batch after batch."""
    model, passes = lr.model.eval(), []
    for _ in range(draws):
        gen, native = device_generator(generator, X.device), has_dropout(model)
        if native:
            set_dropout_generator(model, gen)
            for m in model.modules():
                if isinstance(m, Dropout):
                    m.train()
        logits = []
        with torch.no_grad():
            for a in range(0, len(X), batch):
                out, emb = model(X[a:a + batch])
                logits.append(out if native else model.head(dropout(emb, EMBEDDING_DROPOUT, gen)))
        model.eval()
        passes.append(F.softmax(torch.cat(logits), dim=1))
    return torch.stack(passes)


def images(name, n, channels, size, classes=3):
    """n random images with a learnable mark per class."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, channels, size, size, generator=g)
    y = torch.arange(n) % classes
    X[torch.arange(n), 0, 0, y] += 4.0
    return dataset.Dataset(name, X, y, X[:10], y[:10], classes, 16)


CASES = {  # model: data set
    "mlp": lambda: dataset.load("digits", 0, "data", np.random.default_rng(0)),
    "lin": lambda: dataset.load("digits", 0, "data", np.random.default_rng(0)),
    "cnn": lambda: images("MNIST", 60, 1, 28),
    "cnn-svhn": lambda: images("SVHN", 30, 3, 32),
    "cnn-cifar": lambda: images("CIFAR10", 30, 3, 32),
    "resnet": lambda: images("MNIST", 30, 1, 28),
    "vgg": lambda: images("MNIST", 20, 1, 28),
}


@pytest.mark.filterwarnings("ignore:training stopped")
@pytest.mark.parametrize("case", CASES)
def test_mc_passes_equal_one_full_forward_per_draw(case, monkeypatch):
    monkeypatch.setattr(predictor_module, "TEST_BATCH", 7)  # several batches, the last one short
    ds = CASES[case]()
    gen = torch.Generator().manual_seed(1)
    # PyTorch's forward, as the reference's (the compiled mlp's sparse forward: test_sparse_forward.py)
    lr = Learner(case.split("-")[0], ds, "cpu", gen, max_epochs=2, kernel="off")
    lr.train(np.arange(20))
    idx = np.arange(3, min(len(ds.y_train), 60))
    state = gen.get_state()
    new = lr.predictor.mc_probs(idx, draws=4)
    after = gen.get_state()
    gen.set_state(state)
    old = reference_mc_probs(lr, gen, ds.X_train[idx], 4, 7)
    assert torch.equal(new, old)
    assert torch.equal(after, gen.get_state())  # the same draws: the generator ends in the same state
    assert not torch.equal(new[0], new[1])
    assert all(m.keep is None and not m.training for m in lr.model.modules() if isinstance(m, Dropout))


@pytest.mark.filterwarnings("ignore:training stopped")
@pytest.mark.parametrize("case, first_layer, probe", [("mlp", "lm1", []), ("cnn", "conv1", [1]),
                                                      ("cnn-cifar", "conv1", [1])])
def test_the_layers_before_the_first_dropout_run_once_per_batch(case, first_layer, probe, monkeypatch):
    """Networks with dropout layers first run one sample to find the shapes of their masks (`probe`). PyTorch's
    forward (the compiled mlp's: test_sparse_forward.py)."""
    monkeypatch.setattr(predictor_module, "TEST_BATCH", 7)
    ds = CASES[case]()
    lr = Learner(case.split("-")[0], ds, "cpu", torch.Generator().manual_seed(1), max_epochs=1, kernel="off")
    lr.train(np.arange(20))
    rows = []
    getattr(lr.model, first_layer).register_forward_hook(lambda m, args, out: rows.append(len(out)))
    lr.predictor.mc_probs(np.arange(30), draws=10)
    assert rows == probe + [7, 7, 7, 7, 2]  # once per batch of TEST_BATCH points, not once per pass
