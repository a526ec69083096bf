"""Training (SPEC §6) and inference: fresh weights, the 99 % rule, the epoch cap, MC dropout, augmentation."""
import numpy as np
import pytest
import torch

import dataset
from data_files import SHARED_DATA
from learner import Learner, TrainingDiverged, augment, batches, recalibrate_batchnorm


def digits(seed=0):
    return dataset.load("digits", 0, "data", np.random.default_rng(seed))


def tiny_images(n=40, channels=1, size=28, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, channels, size, size, generator=g)
    y = torch.arange(n) % classes
    X[torch.arange(n), 0, 0, y] += 4.0  # a learnable signal
    return dataset.Dataset("MNIST", X, y, X[:10], y[:10], classes, 16)


def test_training_reaches_99_percent_and_is_reproducible():
    ds = digits()
    a = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(3))
    res = a.train(np.arange(100))
    assert res.train_acc >= 0.99 and not res.capped and res.epochs > 1
    acc = a.test_accuracy()
    b = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(3))
    b.train(np.arange(100))
    assert b.test_accuracy() == acc
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))


def test_every_round_starts_from_fresh_weights():
    ds = digits()
    lr = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0))
    first = lr.fresh_model().lm1.weight.clone()
    second = lr.fresh_model().lm1.weight.clone()
    assert not torch.equal(first, second)  # new draws each round, not the previous round's weights


def test_epoch_cap_warns_and_is_reported():
    ds = digits()
    lr = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), max_epochs=2)
    with pytest.warns(UserWarning, match="epoch cap"):
        res = lr.train(np.arange(300))
    assert res.capped and res.epochs == 2 and res.train_acc < 0.99


def test_linear_model_stops_after_50_epochs_without_improvement():
    X = torch.randn(60, 5, generator=torch.Generator().manual_seed(0))
    y = torch.arange(60) % 2  # labels unrelated to features: 99 % is out of reach
    ds = dataset.Dataset("noise", X, y, X, y, 2, 128)
    res = Learner("lin", ds, "cpu", torch.Generator().manual_seed(0), max_epochs=5000).train(np.arange(60))
    assert res.epochs < 5000 and not res.capped


def test_gradients_are_clamped(monkeypatch):
    ds = digits()
    lr = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), lr=1e-4)
    seen = []
    step = torch.optim.Adam.step

    def spy(self, *a, **k):
        seen.append(max(p.grad.abs().max().item() for g in self.param_groups for p in g["params"]))
        return step(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    lr.max_epochs = 1
    with pytest.warns(UserWarning):
        lr.train(np.arange(200))
    assert seen and max(seen) <= 0.1 + 1e-7


def test_diverging_loss_raises():
    ds = digits()
    ds.X_train = ds.X_train * 1e37  # logits overflow to ±inf, the loss to NaN
    with pytest.raises(TrainingDiverged):
        Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), lr=1.0).train(np.arange(100))


def test_mc_dropout_without_dropout_layers_drops_embedding_only_in_mc_passes():
    ds = digits()
    lr = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0))
    lr.train(np.arange(100))
    idx = np.arange(30)
    p1, p2 = lr.probs(idx), lr.probs(idx)
    assert torch.equal(p1, p2)  # plain inference is deterministic
    mc = lr.mc_probs(idx)
    assert mc.shape == (10, 30, ds.n_classes)
    assert torch.allclose(mc.sum(-1), torch.ones(10, 30))  # each draw is a probability vector
    assert not torch.allclose(mc[0], mc[1])  # dropout on the embedding varies between draws
    assert torch.equal(lr.probs(idx), p1)  # and MC passes leave plain inference unchanged


@pytest.mark.filterwarnings("ignore:training stopped")
def test_mc_dropout_keeps_batchnorm_in_eval_mode():
    ds = tiny_images()
    lr = Learner("resnet", ds, "cpu", torch.Generator().manual_seed(0), max_epochs=3)
    lr.train(np.arange(40))
    stats = {k: v.clone() for k, v in lr.model.state_dict().items() if "running" in k}
    mc = lr.mc_probs(np.arange(8), draws=4)
    assert all(torch.equal(v, lr.model.state_dict()[k]) for k, v in stats.items())  # no BN statistics update
    emb = lr.embeddings(np.arange(8))  # eval-mode embedding; MC draws only drop its units
    gen = torch.Generator().manual_seed(123)
    lr.gen = gen
    lr.gen.manual_seed(5)
    draw = lr.mc_probs(np.arange(8), draws=1)[0]
    lr.gen.manual_seed(5)
    keep = torch.rand(emb.shape, generator=lr.gen) >= 0.5
    expected = torch.softmax(lr.model.head(emb * keep / 0.5), dim=1)
    assert torch.allclose(draw, expected, atol=1e-5)
    assert mc.shape == (4, 8, 3)


@pytest.mark.filterwarnings("ignore:training stopped")
def test_mc_dropout_with_dropout_layers_averages_probabilities():
    ds = tiny_images()
    lr = Learner("cnn", ds, "cpu", torch.Generator().manual_seed(0), max_epochs=3)
    lr.train(np.arange(40))
    mc = lr.mc_probs(np.arange(10), draws=6)
    assert not torch.allclose(mc[0], mc[1])  # the network's own dropout layers are on
    assert not lr.model.training and not lr.model.drop.training  # and off again afterwards
    assert torch.equal(lr.probs(np.arange(10)), lr.probs(np.arange(10)))


def test_batches_never_leave_a_single_point():
    order = torch.arange(129)
    sizes = [len(b) for b in batches(order, 64)]
    assert sizes == [64, 65] and sum(sizes) == 129
    assert [len(b) for b in batches(torch.arange(1), 64)] == [1]


def test_augment_crops_with_black_padding_and_flips():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    fill = torch.tensor([-1.0, -2.0, -3.0]).view(1, 3, 1, 1)
    outs = [augment(x, fill, torch.Generator().manual_seed(s)) for s in range(20)]
    for out in outs:
        assert out.shape == x.shape
        for i in range(2):
            for c in range(3):
                vals = out[i, c]
                inside = vals[vals != fill[0, c, 0, 0]]
                assert set(inside.tolist()) <= set(x[i, c].flatten().tolist())  # pixels of that image and channel
    assert any(not torch.equal(o, x) for o in outs)
    assert any((o == fill).any() for o in outs)  # some crop reaches into the padding
    gen_a, gen_b = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert torch.equal(augment(x, fill, gen_a), augment(x, fill, gen_b))


def test_batchnorm_statistics_are_recomputed_over_the_training_points():
    """Dropout stays off; mean and unbiased variance of the BatchNorm input over X (one batch); momentum kept."""
    net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(4, momentum=0.3))
    bn = net[2]
    bn.running_mean.fill_(7.0)
    bn.running_var.fill_(9.0)
    X = torch.randn(50, 5, generator=torch.Generator().manual_seed(0))
    recalibrate_batchnorm(net, X, 64)
    h = net[0](X).detach()
    torch.testing.assert_close(bn.running_mean, h.mean(0))
    torch.testing.assert_close(bn.running_var, h.var(0, unbiased=True))
    assert bn.momentum == 0.3 and not net.training and not net[1].training


def test_batches_average_into_the_running_statistics():
    net = torch.nn.Sequential(torch.nn.BatchNorm1d(3))
    X = torch.randn(30, 3, generator=torch.Generator().manual_seed(1)) * 2 + 5
    recalibrate_batchnorm(net, X, 10)
    parts = X.split(10)
    torch.testing.assert_close(net[0].running_mean, torch.stack([p.mean(0) for p in parts]).mean(0))
    torch.testing.assert_close(net[0].running_var, torch.stack([p.var(0) for p in parts]).mean(0))


@pytest.mark.slow
def test_resnet_trained_on_few_images_classifies_them_in_eval_mode():
    """100 real MNIST images, ten epochs or so: without recomputed statistics eval mode was near chance here."""
    ds = dataset.load("MNIST", 0, str(SHARED_DATA), np.random.default_rng(0), trunc=300)
    lr = Learner("resnet", ds, "cpu", torch.Generator().manual_seed(0))
    res = lr.train(np.arange(100))
    assert res.train_acc >= 0.99
    assert (lr.probs(np.arange(100)).argmax(1) == ds.y_train[:100]).float().mean() >= 0.95
