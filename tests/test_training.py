"""training.py's parts: the stopping rule on its own (sequences of epoch accuracies, no network) against the loop the
learner ran before it was split out, the epoch engine constructor, and the hook for modules trained beside the
classifier (training extensions), and a training saved mid-way (a snapshot) and continued exactly."""
import copy

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import dataset
import training
from cli import run_main
from errors import UserError
from learner import Learner
from model import set_dropout_generator
from training import (RESTART, TRAIN_STOPS, CompiledEpochs, Extension, Progress, Setting, StoppingRule, TorchEpochs,
                      Trainer, augment, batch_bounds, epoch_engine)


def replay(rule, accuracies):
    """(verdicts, progress) of the rule over a sequence of epoch accuracies, until it stops or the sequence ends."""
    progress, verdicts = Progress(), []
    for acc in accuracies:
        progress, verdict = rule.after_epoch(progress, acc)
        verdicts.append(verdict)
        if verdict in TRAIN_STOPS:
            break
    return verdicts, progress


def plain_loop(accuracies, max_epochs, patience, reachable):
    """The training loop as the docs state it, over given epoch accuracies: (epochs, stop reason or None when the
    sequence ran out, restarts); the best accuracy is the round's, restarts included."""
    restarts, epoch, best, best_epoch = 0, 0, -1.0, 0
    for acc in accuracies:
        epoch += 1
        if acc > best:
            best, best_epoch = acc, epoch
        stale, stop = epoch - best_epoch, None
        if acc >= training.ACC_TARGET:
            stop = "target"
        elif acc >= reachable:
            stop = "unreachable"
        elif max_epochs and epoch >= max_epochs:
            stop = "cap"
        elif patience and stale >= patience:
            stop = "stalled"
        if stop:
            return epoch, stop, restarts
        if epoch % training.RESTART_EPOCHS == 0 and acc < training.RESTART_ACC:
            restarts += 1
    return epoch, None, restarts


def test_the_target_ends_training_at_the_first_epoch_that_reaches_it():
    verdicts, progress = replay(StoppingRule(), [0.3, 0.8, 0.99, 1.0])
    assert verdicts == [None, None, "target"] and progress.epoch == 3 and progress.best == 0.99


def test_an_unreachable_target_stops_at_the_best_reachable_accuracy():
    verdicts, progress = replay(StoppingRule(reachable=0.98), [0.5, 0.97, 0.98])
    assert verdicts[-1] == "unreachable" and progress.epoch == 3


def test_the_epoch_cap_stops_unless_the_target_is_reached_at_the_same_epoch():
    assert replay(StoppingRule(max_epochs=3), [0.1, 0.2, 0.3, 0.4])[0] == [None, None, "cap"]
    assert replay(StoppingRule(max_epochs=3), [0.1, 0.2, 0.995])[0] == [None, None, "target"]
    assert replay(StoppingRule(max_epochs=0, patience=0), [0.5] * 3000)[0][-1] is None  # 0: no cap, no patience


def test_patience_counts_epochs_since_the_best_accuracy():
    verdicts, progress = replay(StoppingRule(patience=7), [0.6] + [0.5] * 20)
    assert verdicts[-1] == "stalled" and progress.epoch == 8 and progress.best_epoch == 1
    verdicts, progress = replay(StoppingRule(patience=3), [0.1, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3])
    assert verdicts[-1] == "stalled" and progress.epoch == 7  # equal accuracies are not better


def test_a_model_under_20_percent_at_a_multiple_of_1000_epochs_restarts_and_keeps_the_rounds_best():
    rule = StoppingRule(patience=0)
    verdicts, progress = replay(rule, [0.1] * 2000)
    assert [e + 1 for e, v in enumerate(verdicts) if v == RESTART] == [1000, 2000]
    assert progress == Progress(2000, 0.1, 1, 2)
    assert replay(rule, [0.1] * 999 + [0.2])[0][-1] is None  # 0.2 is not under 0.2
    assert replay(StoppingRule(max_epochs=1000, patience=0), [0.1] * 1000)[0][-1] == "cap"  # a stop comes first
    _, after = replay(StoppingRule(patience=5), [0.1] * 1000)
    assert after.epoch == 6  # patience would have stopped it long before


def test_a_model_that_never_leaves_20_percent_stalls_across_its_restarts():
    """Under 0.2 it restarts every 1000 epochs, more often than --patience (5000): patience still counts from the
    round's best (0.15 at epoch 3), so training ends at epoch 5003 after 5 restarts, where the original loops
    forever."""
    verdicts, progress = replay(StoppingRule(), [0.1, 0.12, 0.15] + [0.1] * 9000)
    assert verdicts[-1] == "stalled" and progress == Progress(5003, 0.15, 3, 5)


def test_after_epoch_is_pure():
    rule, start = StoppingRule(max_epochs=5, patience=2), Progress(3, 0.5, 2, 1)
    assert rule.after_epoch(start, 0.4) == rule.after_epoch(start, 0.4) == (Progress(4, 0.5, 2, 1), "stalled")
    assert start == Progress(3, 0.5, 2, 1)


@pytest.mark.parametrize("seed", range(40))
def test_the_rule_stops_where_the_plain_loop_stops(seed, monkeypatch):
    """Random accuracy sequences (restarts every 6 epochs instead of 1000, so that they happen) against the loop
    written from the docs: the same epoch, stop reason and number of restarts."""
    monkeypatch.setattr(training, "RESTART_EPOCHS", 6)
    rng = np.random.default_rng(seed)
    accuracies = rng.choice([0.05, 0.1, 0.15, 0.3, 0.5, 0.7, 0.9, 0.95, 0.99], size=60,
                            p=[0.2, 0.2, 0.15, 0.1, 0.1, 0.1, 0.1, 0.04, 0.01]).tolist()
    max_epochs, patience = int(rng.choice([0, 10, 40])), int(rng.choice([0, 3, 8]))
    reachable = float(rng.choice([1.0, 0.9, 0.5]))
    verdicts, progress = replay(StoppingRule(max_epochs, patience, reachable), accuracies)
    stop = verdicts[-1] if verdicts[-1] in TRAIN_STOPS else None
    assert (progress.epoch, stop, progress.restarts) == plain_loop(accuracies, max_epochs, patience, reachable)


def test_the_guards_warn_with_their_flag_and_the_best_epoch():
    rule = StoppingRule(max_epochs=4, patience=9)
    verdicts, progress = replay(rule, [0.3, 0.6, 0.55, 0.5])
    assert verdicts[-1] == "cap"
    assert rule.warning("cap", progress, 0.5) == ("training stopped after 4 epochs at the epoch cap (4; raise "
                                                  "--maxEpochs) with training accuracy 0.500 (best 0.600, epoch 2)")
    verdicts, progress = replay(StoppingRule(patience=9), [0.7] + [0.6] * 9)
    assert verdicts[-1] == "stalled"
    assert rule.warning("stalled", progress, 0.6).endswith(
        "9 epochs without a better epoch accuracy (--patience) with training accuracy 0.600 (best 0.700, epoch 1)")
    assert rule.warning("target", progress, 0.99) is None and rule.warning("unreachable", progress, 0.9) is None


def digits():
    return dataset.load("digits", 0, "data", np.random.default_rng(0))


def test_one_constructor_gives_the_engine_for_the_setting():
    ds = digits()
    mlp, lin = Setting.of("mlp", ds, "cpu"), Setting.of("lin", ds, "cpu")
    assert isinstance(epoch_engine(mlp, "off", ds.X_train, torch.Generator()), TorchEpochs)
    assert isinstance(epoch_engine(lin, "auto", ds.X_train, torch.Generator()), TorchEpochs)
    with pytest.raises(ValueError, match="kernel must be auto, on or off, not 'yes'"):
        epoch_engine(mlp, "yes", ds.X_train, torch.Generator())
    if training.kernels.library() is not None:
        assert isinstance(epoch_engine(mlp, "on", ds.X_train, torch.Generator()), CompiledEpochs)


def test_an_epochs_accuracy_counts_each_minibatchs_training_mode_predictions_on_augmented_images():
    """The accuracy the 0.99 rule reads (README, "Training"): the fraction of the points predicted right by the
    epoch's own minibatch passes, in training mode (dropout on) and on the augmented images, each minibatch before
    its step. Replayed here from the same weights with the same shuffle, crops, flips and dropout masks (an lr of
    1e-12 changes no prediction); the network's eval-mode accuracy on the same images differs."""
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(40, 3, 32, 32, generator=g), torch.arange(40) % 3
    black = torch.tensor([-1.0, -2.0, -3.0])
    setting = Setting("cnn", torch.device("cpu"), 3, "CIFAR10", lr=1e-12, batch=16, augment=True, black=black)
    gen = torch.Generator().manual_seed(1)
    model = Trainer(setting, gen, TorchEpochs(setting, gen), X[:2]).fresh_model()
    weights, start = copy.deepcopy(model.state_dict()), gen.get_state()
    acc = TorchEpochs(setting, gen).epoch_function(model, X, y)()
    model.load_state_dict(weights)
    gen.set_state(start)
    set_dropout_generator(model, gen)
    order, right = torch.randperm(40, generator=gen), 0
    with torch.no_grad():
        for a, b in batch_bounds(40, 16):
            xb = augment(X[order[a:b]], black.view(1, 3, 1, 1), gen)
            right += (model.train()(xb)[0].argmax(1) == y[order[a:b]]).sum().item()
        eval_right = (model.eval()(X)[0].argmax(1) == y).sum().item()
    assert acc == right / 40 and eval_right != right


class AuxHead(Extension):
    """A training extension: a linear classifier on the embedding, trained beside the network, its cross-entropy
    weighted by `weight`; zero weights at every reset (no draws from the generator)."""
    name = "aux"
    adds_loss = True

    def __init__(self, emb_dim, n_classes, weight):
        self.shape, self.weight, self.linear = (emb_dim, n_classes), weight, None

    def reset(self, generator, device, n_features):
        assert n_features == self.shape[0]
        self.linear = torch.nn.Linear(*self.shape).to(device)
        with torch.no_grad():
            for p in self.linear.parameters():
                p.zero_()

    def parameters(self):
        return list(self.linear.parameters())

    def train(self):
        self.linear.train()

    def eval(self):
        self.linear.eval()

    def loss(self, model, x, y, logits, emb):
        return self.weight * F.cross_entropy(self.linear(emb), y)

    def state_dict(self):
        return self.linear.state_dict()

    def load_state_dict(self, state):
        self.linear.load_state_dict(state)


@pytest.mark.filterwarnings("ignore:training stopped")
def test_an_extension_trains_beside_the_network_and_its_state_is_checkpointed():
    ds = digits()
    aux = AuxHead(32, ds.n_classes, 1.0)
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), n_emb=32, max_epochs=5, extensions=[aux])
    assert learner.trainer == "torch"  # the compiled epoch trains the classifier alone
    learner.train(np.arange(200))
    assert aux.linear.weight.abs().max() > 0 and not aux.linear.training
    state = learner.state_dict()
    twin_aux = AuxHead(32, ds.n_classes, 1.0)
    twin = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(9), n_emb=32, extensions=[twin_aux])
    twin.load_state_dict(state, np.arange(200))
    assert torch.equal(twin_aux.linear.weight, aux.linear.weight)
    assert torch.equal(twin.predictor.probs(np.arange(50)), learner.predictor.probs(np.arange(50)))
    with pytest.raises(UserError, match="^--kernel on: the compiled epoch trains the classifier alone, not with aux"):
        Learner("mlp", ds, "cpu", torch.Generator(), n_emb=32, kernel="on", extensions=[aux])


@pytest.mark.filterwarnings("ignore:training stopped")
def test_an_extension_without_loss_leaves_the_training_unchanged():
    """A weight-0 extension adds zero gradients: the autograd-trained network is the one trained without it."""
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(40, 1, 28, 28, generator=g), torch.arange(40) % 3
    X[torch.arange(40), 0, 0, y] += 4.0
    ds = dataset.Dataset("MNIST", X, y, X[:10], y[:10], 3, 16)
    plain = Learner("cnn", ds, "cpu", torch.Generator().manual_seed(1), max_epochs=2)
    plain.train(np.arange(40))
    extended = Learner("cnn", ds, "cpu", torch.Generator().manual_seed(1), max_epochs=2,
                       extensions=[AuxHead(50, 3, 0.0)])
    extended.train(np.arange(40))
    assert all(torch.equal(a, b) for a, b in zip(plain.model.state_dict().values(),
                                                 extended.model.state_dict().values()))
    assert "extensions" not in plain.state_dict() and set(extended.state_dict()["extensions"]) == {"aux"}


class Killed(Exception):
    pass


class MemorySnapshot:
    """results.TrainingSnapshot's interface held in memory, saving after every epoch; its `kill_at`-th save raises
    Killed (a process killed right after it), and `load` gives the last save when its key and trainer match."""
    every = 1e-9

    def __init__(self, kill_at=None, saved=None):
        self.kill_at, self.saved, self.saves = kill_at, saved, 0

    def save(self, key, state):
        self.saved = (key, copy.deepcopy(state))  # a file holds a copy, not the live tensors
        self.saves += 1
        if self.saves == self.kill_at:
            raise Killed

    def load(self, key, trainer):
        match = self.saved and self.saved[0] == key and self.saved[1]["trainer"] == trainer
        return self.saved[1] if match else None


def tiny_images(n=60, classes=3):
    """n 28×28 images whose class marks one pixel, as an MNIST-named data set (the cnn for MNIST, with dropout)."""
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(n, 1, 28, 28, generator=g), torch.arange(n) % classes
    X[torch.arange(n), 0, 0, y] += 4.0
    return dataset.Dataset("MNIST", X, y, X[:10], y[:10], classes, 16)


def snapshot_learner(case):
    """A fresh learner of one test case (generator seeded by 1, at most 12 epochs) and the points it trains on."""
    model, kernel, extension, device = case
    ds = digits() if model == "mlp" else tiny_images()
    extensions = [AuxHead(32 if model == "mlp" else 50, ds.n_classes, 0.5)] if extension else []
    learner = Learner(model, ds, device, torch.Generator().manual_seed(1), n_emb=32, max_epochs=12, kernel=kernel,
                      extensions=extensions)
    return learner, np.arange(60)


SNAPSHOT_CASES = {"mlp-torch": ("mlp", "off", False, "cpu"), "mlp-compiled": ("mlp", "on", False, "cpu"),
                  "cnn-dropout": ("cnn", "off", False, "cpu"), "cnn-extension": ("cnn", "off", True, "cpu"),
                  "cnn-cuda": ("cnn", "off", True, "cuda")}  # on a GPU, dropout draws from a device generator


@pytest.mark.filterwarnings("ignore:training stopped")
@pytest.mark.parametrize("case", SNAPSHOT_CASES.values(), ids=SNAPSHOT_CASES.keys())
def test_a_training_killed_after_a_snapshot_continues_exactly(case):
    """Killed after its 5th epoch's snapshot, a training continued by a new learner from it ends with the weights,
    epochs, accuracy and generator states of the same training uninterrupted; without the snapshot it would
    start again from the weights of its first epoch."""
    if case[1] == "on" and training.kernels.library() is None:
        pytest.skip("no C compiler here for the compiled epoch")
    if case[3] == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA here (bench/gpu_check.sh runs this case on a GPU)")
    if case[3] == "cuda":
        import run

        run.cuda_deterministic()  # as run.py sets it for --device cuda: bit-equal weights need deterministic kernels
    reference, idx = snapshot_learner(case)
    done = reference.train(idx)
    killed, _ = snapshot_learner(case)
    snapshot = MemorySnapshot(kill_at=5)
    with pytest.raises(Killed):
        killed.train(idx, snapshot)
    assert snapshot.saved[1]["progress"][0] == 5
    resumed, _ = snapshot_learner(case)
    result = resumed.train(idx, MemorySnapshot(saved=snapshot.saved))
    assert (result.epochs, result.train_acc, result.stop) == (done.epochs, done.train_acc, done.stop) == \
        (12, done.train_acc, "cap")
    assert result.seconds >= snapshot.saved[1]["seconds"]
    for name, weights in reference.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], weights), name
    if case[2]:
        assert torch.equal(resumed.training.extensions[0].linear.weight, reference.training.extensions[0].linear.weight)
    assert torch.equal(resumed.state_dict()["gen"], reference.state_dict()["gen"])
    sides = [t.training.side_generators(t.model) for t in (resumed, reference)]
    assert len(sides[0]) == (case[3] == "cuda")
    assert all(torch.equal(a.get_state(), b.get_state()) for a, b in zip(*sides))


@pytest.mark.filterwarnings("ignore:training stopped")
def test_a_training_reports_every_epoch_and_a_continued_one_from_where_it_was():
    """report(progress, acc) runs after every epoch with its number, accuracy and the best so far; a training
    continued from its 5th epoch's snapshot reports epochs 6 to 12 as the uninterrupted one did."""
    case = SNAPSHOT_CASES["mlp-torch"]
    learner, idx = snapshot_learner(case)
    seen = []
    result = learner.train(idx, report=lambda progress, acc: seen.append((progress.epoch, acc, progress.best)))
    assert [epoch for epoch, _, _ in seen] == list(range(1, 13)) and seen[-1][1] == result.train_acc
    assert [best for _, _, best in seen] == [max(acc for _, acc, _ in seen[:i + 1]) for i in range(12)]
    killed, _ = snapshot_learner(case)
    snapshot = MemorySnapshot(kill_at=5)
    with pytest.raises(Killed):
        killed.train(idx, snapshot)
    resumed, _ = snapshot_learner(case)
    again = []
    resumed.train(idx, MemorySnapshot(saved=snapshot.saved), lambda p, acc: again.append((p.epoch, acc, p.best)))
    assert again == seen[5:]


@pytest.mark.filterwarnings("ignore:training stopped")
def test_a_snapshot_of_another_training_is_not_continued():
    """A snapshot saved for other points (another key) is not loaded: the training starts afresh, and it ends as
    one that never had a snapshot."""
    case = SNAPSHOT_CASES["mlp-torch"]
    other, _ = snapshot_learner(case)
    snapshot = MemorySnapshot(kill_at=3)
    with pytest.raises(Killed):
        other.train(np.arange(1, 61), snapshot)
    reference, idx = snapshot_learner(case)
    reference.train(idx)
    learner, _ = snapshot_learner(case)
    fresh = MemorySnapshot(saved=snapshot.saved)
    learner.train(idx, fresh)
    assert fresh.saves == 11  # after each epoch but the last, from epoch 1
    assert torch.equal(learner.state_dict()["gen"], reference.state_dict()["gen"])
    assert all(torch.equal(a, b) for a, b in zip(learner.model.parameters(), reference.model.parameters()))


def test_every_round_a_guard_stops_says_so_though_the_words_repeat(tmp_path):
    """At lr 1e-9 every round stalls at the same accuracy, so rounds 0 and 2 stop with the same words: Python's
    default filter showed such a warning once per process, and round 2 went unsaid."""
    proc = run_main("--nStart", "20", "--nQuery", "20", "--nEnd", "60", "--lr", "1e-9", "--patience", "100",
                    "--out", tmp_path)
    stops = pd.read_csv(tmp_path / "digits_mlp_rand_20_seed1" / "rounds.csv").train_stop.tolist()
    warned = [line for line in proc.stderr.replace("\r", "\n").splitlines() if line.startswith("warning: training")]
    assert proc.returncode == 0 and stops == ["stalled"] * 3 and len(warned) == 3, proc.stderr
