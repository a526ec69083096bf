"""Training (PROTOCOL §6) and inference: fresh weights, the 99 % rule and its restart, every reason training stops
(target, unreachable, cap, stalled), the closed-form gradients and the clamped Adam step against autograd and
torch.optim.Adam, MC dropout, augmentation."""
import numpy as np
import pytest
import torch

import dataset
from data_files import SHARED_DATA
from errors import TrainingDiverged
from learner import Learner
from training import ClampedAdam, augment, batch_bounds, reachable_accuracy, recalibrate_batchnorm
from model import build_model, reset_weights
from query_strategies.adversarial_bim import bim_scores
from query_strategies.vaal import AdversarialVAE
from query_strategies.waal import Critic


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
    assert res.train_acc >= 0.99 and res.stop == "target" and res.epochs > 1
    acc = a.test_accuracy()
    b = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(3))
    b.train(np.arange(100))
    assert b.test_accuracy() == acc
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))


def test_attack_scores_batch_like_one_call_and_count_as_inference():
    """The adversarial strategies' scores come through the learner: batched like one call on the trained network,
    and their time is inference time (rounds.csv's infer_seconds)."""
    ds = digits()
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(1), max_epochs=30)
    learner.train(np.arange(80))
    idx = np.arange(200, 260)
    batched = learner.predictor.attack_scores(idx, bim_scores, batch=7)
    assert learner.predictor.infer_seconds > 0
    assert torch.equal(batched, bim_scores(learner.model, ds.X_train[idx]))


def test_state_dict_restores_the_network_and_the_generator():
    ds = digits()
    a = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(2), max_epochs=20)
    a.train(np.arange(60))
    state = a.state_dict()
    b = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(99), max_epochs=20)
    b.load_state_dict(state, np.arange(60))
    assert torch.equal(a.predictor.probs(np.arange(100)), b.predictor.probs(np.arange(100)))
    # same dropout draws from here on
    assert torch.equal(a.predictor.mc_probs(np.arange(50)), b.predictor.mc_probs(np.arange(50)))
    a.train(np.arange(90))
    b.train(np.arange(90))  # same initial weights and shuffles from here on
    assert torch.equal(a.predictor.probs(np.arange(100)), b.predictor.probs(np.arange(100)))


def test_every_round_starts_from_fresh_weights():
    ds = digits()
    lr = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0))
    first = lr.training.fresh_model().lm1.weight.clone()
    second = lr.training.fresh_model().lm1.weight.clone()
    assert not torch.equal(first, second)  # new draws each round, not the previous round's weights


@pytest.mark.parametrize("model", ["cnn", "resnet"])
def test_cpu_conv_nets_are_channels_last_with_the_same_initial_weights(model):
    """The layout changes, the draws do not: a fresh network equals build_model + reset_weights from the same
    generator state, weight for weight, and gives the same outputs up to rounding."""
    ds = tiny_images()
    gen = torch.Generator().manual_seed(4)
    learner = Learner(model, ds, "cpu", gen)
    state = gen.get_state()
    net = learner.training.fresh_model()
    plain = build_model(model, tuple(ds.X_train.shape[1:]), ds.n_classes, data_name=ds.name)
    with torch.no_grad():
        plain.eval()(ds.X_train[:2])
    reset_weights(plain, torch.Generator().set_state(state))
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), plain.state_dict().values()))
    with torch.no_grad():
        assert torch.allclose(net.eval()(ds.X_train)[0], plain.eval()(ds.X_train)[0], atol=1e-5)


def test_epoch_cap_warns_and_is_reported():
    ds = digits()
    lr = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), max_epochs=2)
    with pytest.warns(UserWarning, match="epoch cap"):
        res = lr.train(np.arange(300))
    assert res.stop == "cap" and res.epochs == 2 and res.train_acc < 0.99


def test_no_epoch_cap_by_default_a_linear_model_trains_like_the_others():
    """As the original really runs it: `lin` trains to 0.99 (no early stop after 50 stale epochs)."""
    lr = Learner("lin", digits(), "cpu", torch.Generator().manual_seed(0))
    assert lr.training.rule.max_epochs == 0
    res = lr.train(np.arange(300))
    assert res.stop == "target" and res.train_acc >= 0.99 and res.epochs > 50


def noise(n=60, classes=2, seed=0):
    X = torch.randn(n, 5, generator=torch.Generator().manual_seed(seed))
    y = torch.arange(n) % classes  # labels unrelated to features
    return dataset.Dataset("noise", X, y, X, y, classes, 128)


def test_stalled_training_stops_after_patience_epochs_without_a_better_accuracy():
    lr = Learner("lin", noise(), "cpu", torch.Generator().manual_seed(0), lr=1e-12, patience=7)
    with pytest.warns(UserWarning, match="7 epochs without a better epoch accuracy"):
        res = lr.train(np.arange(60))
    assert res.stop == "stalled" and res.epochs == 8  # best at epoch 1, then 7 epochs without improvement


def test_unreachable_target_stops_at_the_best_reachable_accuracy():
    ds = digits()
    X, y = ds.X_train.clone(), ds.y_train.clone()
    X[1:3] = X[0]
    y[1:3] = (y[0] + torch.tensor([1, 2])) % 10  # three identical inputs, three labels: 2 of 100 must be wrong
    ds.X_train, ds.y_train = X, y
    assert reachable_accuracy(X[:100], y[:100]) == 0.98
    with pytest.warns(UserWarning, match="unreachable.*at most 0.9800"):
        res = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0)).train(np.arange(100))
    assert res.stop == "unreachable" and res.train_acc >= 0.98


def test_reachable_accuracy_matches_a_brute_force_count():
    g = torch.Generator().manual_seed(1)
    X = torch.randint(0, 3, (200, 2), generator=g).float()  # 9 distinct inputs, many repeats
    y = torch.randint(0, 4, (200,), generator=g)
    best = 0
    for x in {tuple(r) for r in X.tolist()}:
        same = [int(y[i]) for i in range(200) if tuple(X[i].tolist()) == x]
        best += max(same.count(c) for c in set(same))
    assert reachable_accuracy(X, y) == best / 200


def test_a_model_under_20_percent_after_1000_epochs_restarts_from_new_weights():
    lr = Learner("lin", noise(n=100, classes=10), "cpu", torch.Generator().manual_seed(0), lr=1e-12,
                 max_epochs=1001, patience=0)
    with pytest.warns(UserWarning, match="epoch cap"):
        res = lr.train(np.arange(100))
    assert res.restarts == 1 and res.epochs == 1001


@pytest.mark.parametrize("name, shape", [("mlp", (5,)), ("lin", (5,)), ("mlp", (1, 4, 4))])
def test_closed_form_gradients_equal_autograd(name, shape):
    g = torch.Generator().manual_seed(0)
    net = build_model(name, shape, 4, n_emb=16)
    reset_weights(net, g)
    x = torch.randn(33, *shape, generator=g)
    y = torch.randint(0, 4, (33,), generator=g)
    logits, _ = net(x)
    expected = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, y), list(net.parameters()))
    out = [torch.empty_like(p) for p in net.parameters()]
    z = net.loss_gradients(x.flatten(1), torch.nn.functional.one_hot(y, 4).float(), out)
    assert torch.allclose(z, logits, atol=1e-6)
    for got, want in zip(out, expected):
        assert torch.allclose(got, want, atol=1e-6, rtol=1e-5)


def test_clamped_adam_is_torch_adam_after_clip_grad_value():
    g = torch.Generator().manual_seed(0)
    ours = [torch.randn(7, 3, generator=g), torch.randn(3, generator=g)]
    ref = [p.clone().requires_grad_() for p in ours]
    adam, torch_adam = ClampedAdam(ours, lr=1e-2), torch.optim.Adam(ref, lr=1e-2)
    for _ in range(5):
        grads = [torch.randn(p.shape, generator=g) * 0.3 for p in ours]
        for p, gr in zip(ref, grads):
            p.grad = gr.clone()
        torch.nn.utils.clip_grad_value_(ref, 0.1)
        torch_adam.step()
        adam.step([gr.clone() for gr in grads])
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b.detach(), atol=1e-6)
    assert not torch.allclose(ours[0], ref[0].detach() + 0.01)  # the parameters moved together, not stayed


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_every_step_sees_clamped_gradients(monkeypatch, model):
    ds = digits() if model == "mlp" else tiny_images()
    lr = Learner(model, ds, "cpu", torch.Generator().manual_seed(0), lr=1e-4, max_epochs=2, kernel="off")
    seen, step = [], ClampedAdam.step  # the PyTorch path's clamp (tests/test_kernel.py checks the kernel's)

    def spy(self, grads):
        step(self, grads)
        seen.append(max(gr.abs().max().item() for gr in grads))

    monkeypatch.setattr(ClampedAdam, "step", spy)
    with pytest.warns(UserWarning):
        lr.train(np.arange(200 if model == "mlp" else 40))
    assert len(seen) == 2 * len(batch_bounds(200 if model == "mlp" else 40, ds.train_batch))
    assert max(seen) == pytest.approx(0.1)  # clamped, and some element was at the bound


@pytest.mark.parametrize("kernel", ["auto", "off"], ids=["compiled", "torch"])
def test_diverging_loss_raises(kernel):
    ds = digits()
    ds.X_train = ds.X_train * 1e37  # logits overflow to ±inf, the loss to NaN
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), lr=1.0, kernel=kernel)
    with pytest.raises(TrainingDiverged):
        learner.train(np.arange(100))


def test_mc_dropout_without_dropout_layers_drops_embedding_only_in_mc_passes():
    ds = digits()
    lr = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0))
    lr.train(np.arange(100))
    idx = np.arange(30)
    p1, p2 = lr.predictor.probs(idx), lr.predictor.probs(idx)
    assert torch.equal(p1, p2)  # plain inference is deterministic
    mc = lr.predictor.mc_probs(idx)
    assert mc.shape == (10, 30, ds.n_classes)
    assert torch.allclose(mc.sum(-1), torch.ones(10, 30))  # each draw is a probability vector
    assert not torch.allclose(mc[0], mc[1])  # dropout on the embedding varies between draws
    assert torch.equal(lr.predictor.probs(idx), p1)  # and MC passes leave plain inference unchanged


@pytest.mark.filterwarnings("ignore:training stopped")
def test_mc_dropout_keeps_batchnorm_in_eval_mode():
    ds = tiny_images()
    gen = torch.Generator().manual_seed(0)
    lr = Learner("resnet", ds, "cpu", gen, max_epochs=3)
    lr.train(np.arange(40))
    stats = {k: v.clone() for k, v in lr.model.state_dict().items() if "running" in k}
    mc = lr.predictor.mc_probs(np.arange(8), draws=4)
    assert all(torch.equal(v, lr.model.state_dict()[k]) for k, v in stats.items())  # no BN statistics update
    emb = lr.predictor.embeddings(np.arange(8))  # eval-mode embedding; MC draws only drop its units
    gen.manual_seed(5)
    draw = lr.predictor.mc_probs(np.arange(8), draws=1)[0]
    gen.manual_seed(5)
    keep = torch.rand(emb.shape, generator=gen) >= 0.5
    expected = torch.softmax(lr.model.head(emb * keep / 0.5), dim=1)
    assert torch.allclose(draw, expected, atol=1e-5)
    assert mc.shape == (4, 8, 3)


@pytest.mark.filterwarnings("ignore:training stopped")
def test_mc_dropout_with_dropout_layers_averages_probabilities():
    ds = tiny_images()
    lr = Learner("cnn", ds, "cpu", torch.Generator().manual_seed(0), max_epochs=3)
    lr.train(np.arange(40))
    mc = lr.predictor.mc_probs(np.arange(10), draws=6)
    assert not torch.allclose(mc[0], mc[1])  # the network's own dropout layers are on
    assert not lr.model.training and not lr.model.drop.training  # and off again afterwards
    assert torch.equal(lr.predictor.probs(np.arange(10)), lr.predictor.probs(np.arange(10)))


def test_batches_never_leave_a_single_point():
    assert batch_bounds(129, 64) == [(0, 64), (64, 129)]
    assert batch_bounds(128, 64) == [(0, 64), (64, 128)]
    assert batch_bounds(1, 64) == [(0, 1)]


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


@pytest.mark.parametrize("make", [lambda unlabelled: AdversarialVAE(unlabelled, 1.0, 1.0),
                                  lambda unlabelled: Critic(unlabelled, 0.002, 2.0)], ids=["vaal", "waal"])
def test_unlabelled_minibatches_are_augmented_as_the_labelled_ones(make):
    """With --aug 1 (a CIFAR10-named set) VAAL's discriminator and WAAL's critic see both sides cropped and
    flipped: an unaugmented unlabelled side could be told from the labelled one by the augmentation alone. A crop at
    the centre without a flip leaves an image as it is (1 in 162), so a few drawn rows may equal a pool image."""
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(40, 3, 32, 32, generator=g), torch.arange(40) % 3
    ds = dataset.Dataset("CIFAR10", X, y, X[:8], y[:8], 3, 16, augment=True, black=torch.full((3,), -2.0))
    module, drawn = make(lambda: np.arange(20, 40)), []
    draw = module.unlabelled_batch
    module.unlabelled_batch = lambda n: drawn.append(draw(n)) or drawn[-1]
    Learner("cnn", ds, "cpu", torch.Generator().manual_seed(1), max_epochs=1, extensions=[module]).train(np.arange(20))
    rows = torch.cat(drawn)
    as_they_are = sum(bool((X == row).all(dim=(1, 2, 3)).any()) for row in rows)
    assert len(rows) >= 20 and as_they_are <= len(rows) // 10


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
    assert (lr.predictor.probs(np.arange(100)).argmax(1) == ds.y_train[:100]).float().mean() >= 0.95
