"""Training and inference, in one place (SPEC §6). Strategies ask the learner for model outputs on pool indices."""
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dataset import TEST_BATCH
from model import Dropout, build_model, dropout, has_dropout, reset_weights, set_dropout_generator

ACC_TARGET = 0.99  # train until the epoch's training accuracy reaches this
RESTART_EPOCHS = 1000  # a non-linear model still under RESTART_ACC after a multiple of this restarts
RESTART_ACC = 0.2
LINEAR_PATIENCE = 50  # a linear model stops after this many epochs without improvement
GRAD_CLAMP = 0.1
MC_DRAWS = 10
EMBEDDING_DROPOUT = 0.5  # MC passes of models without dropout layers drop embedding units with this rate


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainResult:
    epochs: int
    seconds: float
    train_acc: float
    capped: bool
    restarts: int


class Learner:
    """Holds the pool and test tensors on one device, trains fresh networks and computes their outputs.

    Every random draw (weights, shuffling, augmentation, dropout) comes from `generator` (on the CPU) or
    from a device generator seeded from it."""

    def __init__(self, model_name, ds, device, generator, lr=1e-4, n_emb=128, max_epochs=2000):
        self.model_name, self.ds, self.device = model_name, ds, torch.device(device)
        self.lr, self.n_emb, self.max_epochs = lr, n_emb, max_epochs
        self.gen = generator
        self.X, self.y = ds.X_train.to(self.device), ds.y_train.to(self.device)
        self.X_test, self.y_test = ds.X_test.to(self.device), ds.y_test.to(self.device)
        self.model = None
        self.infer_seconds = 0.0
        if ds.augment:
            self.fill = ds.black.view(1, -1, 1, 1).to(self.device)

    @property
    def device_gen(self):
        """A generator on the learner's device, seeded from the CPU generator (the CPU generator itself on CPU)."""
        if self.device.type == "cpu":
            return self.gen
        seed = int(torch.randint(2**62, (1,), generator=self.gen))
        return torch.Generator(self.device).manual_seed(seed)

    def fresh_model(self):
        """A new network with every layer (BatchNorm included) freshly initialised from the generator."""
        net = build_model(self.model_name, tuple(self.X.shape[1:]), self.ds.n_classes, self.n_emb, self.ds.name)
        net = net.to(self.device)
        with torch.no_grad():
            net.eval()(self.X[:2])  # materialise lazy layers
        reset_weights(net, self.gen)
        set_dropout_generator(net, self.device_gen)
        return net

    def train(self, idx):
        """Train a fresh network on pool points `idx` until the training accuracy of an epoch reaches 0.99
        (Adam, cross-entropy, each gradient element clamped to ±0.1), capped at `max_epochs`."""
        start = time.perf_counter()
        idx = torch.as_tensor(idx, device=self.device)
        X, y = self.X[idx], self.y[idx]
        linear = self.model_name == "lin"
        model, restarts, epoch, acc, best, stale = self.fresh_model(), 0, 0, 0.0, -1.0, 0
        opt = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=0.0)
        while acc < ACC_TARGET:
            if epoch >= self.max_epochs:
                warnings.warn(f"training stopped at the epoch cap ({self.max_epochs}) with training accuracy "
                              f"{acc:.3f}; raise --maxEpochs to train longer")
                break
            epoch += 1
            acc = self.train_epoch(model, opt, X, y)
            if linear:
                best, stale = (acc, 0) if acc > best else (best, stale + 1)
                if stale >= LINEAR_PATIENCE:
                    break
            elif epoch % RESTART_EPOCHS == 0 and acc < RESTART_ACC:
                model, restarts = self.fresh_model(), restarts + 1
                opt = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=0.0)
        recalibrate_batchnorm(model, X, self.ds.train_batch)
        self.model = model.eval()
        capped = acc < ACC_TARGET and not (linear and stale >= LINEAR_PATIENCE)
        return TrainResult(epoch, time.perf_counter() - start, acc, capped, restarts)

    def train_epoch(self, model, opt, X, y):
        """One shuffled pass over (X, y); returns the fraction of training points predicted right during it."""
        model.train()
        correct = torch.zeros((), device=self.device)
        losses = torch.zeros((), device=self.device)
        order = torch.randperm(len(y), generator=self.gen).to(self.device)
        for batch in batches(order, self.ds.train_batch):
            xb, yb = X[batch], y[batch]
            if self.ds.augment:
                xb = augment(xb, self.fill, self.gen)
            logits, _ = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_value_(model.parameters(), GRAD_CLAMP)
            opt.step()
            correct += (logits.argmax(1) == yb).sum()
            losses += loss.detach()
        if not torch.isfinite(losses):
            raise TrainingDiverged("the training loss became NaN or infinite; lower --lr or check the features")
        return correct.item() / len(y)

    @contextmanager
    def timed(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.infer_seconds += time.perf_counter() - start

    @torch.no_grad()
    def forward(self, X, mc=False):
        """(logits, embeddings) of the trained network over X in batches; `mc` keeps dropout on (BatchNorm in
        eval mode) and, for networks without dropout layers, drops embedding units before the last layer."""
        model, out_l, out_e = self.model.eval(), [], []
        gen = self.device_gen if mc else None
        native = mc and has_dropout(model)
        if native:
            set_dropout_generator(model, gen)
            for m in model.modules():
                if isinstance(m, Dropout):
                    m.train()
        for start in range(0, len(X), TEST_BATCH):
            logits, emb = model(X[start:start + TEST_BATCH])
            if mc and not native:
                logits = model.head(dropout(emb, EMBEDDING_DROPOUT, gen))
            out_l.append(logits)
            out_e.append(emb)
        model.eval()
        return torch.cat(out_l), torch.cat(out_e)

    def probs(self, idx):
        """Softmax probabilities (n, C) of pool points `idx`."""
        with self.timed():
            return F.softmax(self.forward(self.X[idx])[0], dim=1)

    def probs_embeddings(self, idx):
        """(probabilities (n, C), embeddings (n, d)) of pool points `idx`: the input of the last layer."""
        with self.timed():
            logits, emb = self.forward(self.X[idx])
            return F.softmax(logits, dim=1), emb

    def embeddings(self, idx):
        return self.probs_embeddings(idx)[1]

    def mc_probs(self, idx, draws=MC_DRAWS):
        """Softmax probabilities of `draws` MC-dropout passes over pool points `idx`, shape (draws, n, C)."""
        with self.timed():
            X = self.X[idx]
            return torch.stack([F.softmax(self.forward(X, mc=True)[0], dim=1) for _ in range(draws)])

    def test_accuracy(self):
        """correct / n over the test set, as a Python float of that exact ratio (as the original prints it)."""
        logits, _ = self.forward(self.X_test)
        return int((logits.argmax(1) == self.y_test).sum()) / len(self.y_test)


@torch.no_grad()
def recalibrate_batchnorm(model, X, size):
    """Running mean and variance of every BatchNorm layer := the average of its batch statistics over X (the
    labelled points, unaugmented, in batches of `size`) under the final weights. A network trained on few points
    makes few BatchNorm updates, and its momentum-0.1 running statistics stay far from the data's: eval-mode
    predictions on its own training points were near chance for a ResNet trained on 100 MNIST images."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
        m.train()
    for batch in batches(torch.arange(len(X), device=X.device), size):
        model(X[batch])
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()


def batches(order, size):
    """Consecutive slices of `order` of `size`; a last slice of one point joins the one before (BatchNorm needs
    two samples per batch)."""
    cuts = list(range(0, len(order), size)) + [len(order)]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] == 1:
        del cuts[-2]
    return [order[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def augment(x, fill, generator):
    """Random 32×32 crop of the image padded by 4 with black (`fill`, per channel), then a horizontal flip with
    probability ½; one draw per image."""
    n, c, h, w = x.shape
    padded = fill.expand(n, c, h + 8, w + 8).clone()
    padded[:, :, 4:4 + h, 4:4 + w] = x
    di = torch.randint(0, 9, (n, 1), generator=generator).to(x.device)
    dj = torch.randint(0, 9, (n, 1), generator=generator).to(x.device)
    rows = (di + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dj + torch.arange(w, device=x.device))[:, None, None, :]
    out = padded[torch.arange(n, device=x.device)[:, None, None, None], torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], out.flip(3), out)
