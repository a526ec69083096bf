"""Training and inference, in one place (PROTOCOL §6). Strategies ask the learner for model outputs on pool indices."""
import copy
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F

import kernels
from catalog import CONV_MODELS, PATIENCE
from dataset import TEST_BATCH
from errors import TrainingDiverged, UserError
from query_strategies.selection import progress
from model import Dropout, build_model, dropout, has_dropout, keep_mask, reset_weights, set_dropout_generator

ACC_TARGET = 0.99  # train until the epoch's training accuracy reaches this
RESTART_EPOCHS = 1000  # a model still under RESTART_ACC after a multiple of this many epochs restarts
RESTART_ACC = 0.2
GRAD_CLAMP = 0.1
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
MC_DRAWS = 10
EMBEDDING_DROPOUT = 0.5  # MC passes of models without dropout layers drop embedding units with this rate
TRAIN_STOPS = ("target", "unreachable", "cap", "stalled")
ATTACK_BATCH = 500  # points attacked together by attack_scores


DIVERGED = "the training loss became NaN or infinite; lower --lr or check the features"


@dataclass
class TrainResult:
    epochs: int
    seconds: float
    train_acc: float
    stop: str  # one of TRAIN_STOPS: why training ended
    restarts: int


class ClampedAdam:
    """Adam (β = (0.9, 0.999), ε = 1e-8, no weight decay) after clamping every gradient element to ±0.1, as
    three fused operations over all parameters (torch.optim.Adam's own fused kernel, without its per-step
    bookkeeping)."""

    def __init__(self, params, lr):
        self.params, self.lr = [p.detach() for p in params], lr
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.steps = [torch.zeros((), device=p.device) for p in self.params]

    @torch.no_grad()
    def step(self, grads):
        torch._foreach_clamp_min_(grads, -GRAD_CLAMP)
        torch._foreach_clamp_max_(grads, GRAD_CLAMP)
        torch._foreach_add_(self.steps, 1)
        torch._fused_adam_(self.params, grads, self.exp_avg, self.exp_avg_sq, [], self.steps, lr=self.lr,
                           beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1], weight_decay=0.0, eps=ADAM_EPS,
                           amsgrad=False, maximize=False)


def reachable_accuracy(X, y):
    """The highest training accuracy any classifier can reach on (X, y): points with identical inputs but different
    labels cannot all be right; per distinct input only its most frequent label counts."""
    _, group = torch.unique(X.flatten(1), dim=0, return_inverse=True)
    n_classes = int(y.max()) + 1
    counts = torch.bincount(group * n_classes + y, minlength=(int(group.max()) + 1) * n_classes)
    return counts.view(-1, n_classes).amax(1).sum().item() / len(y)


class Learner:
    """Holds the pool and test tensors on one device, trains fresh networks and computes their outputs.

    Every random draw (weights, shuffling, augmentation, dropout) comes from `generator` (on the CPU) or
    from a device generator seeded from it."""

    def __init__(self, model_name, ds, device, generator, lr=1e-4, n_emb=128, max_epochs=0, patience=PATIENCE,
                 kernel="auto"):
        self.model_name, self.ds, self.device = model_name, ds, torch.device(device)
        self.lr, self.n_emb, self.max_epochs, self.patience = lr, n_emb, max_epochs, patience
        self.kernel = self.use_kernel(kernel)
        self.gen = generator
        self.X, self.y = ds.X_train.to(self.device), ds.y_train.to(self.device)
        self.X_test, self.y_test = ds.X_test.to(self.device), ds.y_test.to(self.device)
        self.model = None
        self.infer_seconds = 0.0
        if ds.augment:
            self.fill = ds.black.view(1, -1, 1, 1).to(self.device)

    def use_kernel(self, choice):
        """Whether the compiled epoch (kernels/) trains, for --kernel `choice`: "off" never; "auto" where it applies
        (kernel_misfit), is the faster path (sparse or low-dimensional inputs: kernels.pays_off) and builds here;
        "on" where it applies and builds, else UserError saying why not."""
        if choice not in ("auto", "on", "off"):
            raise ValueError(f"kernel must be auto, on or off, not {choice!r}")
        if choice == "off":
            return False
        misfit = self.kernel_misfit()
        if choice == "auto":
            return (misfit is None and kernels.pays_off(self.ds.X_train, self.ds.train_batch)
                    and kernels.library() is not None)
        why = misfit or kernels.state().reason
        if why:
            raise UserError(f"--kernel on: {why}; use --kernel auto or off")
        return True

    def kernel_misfit(self):
        """Why the compiled epoch does not cover this training, or None: it trains the mlp on the CPU, without
        augmentation, with a hidden width that is a multiple of the kernel's vector width."""
        if self.model_name != "mlp":
            return f"the compiled epoch trains the mlp only, not {self.model_name}"
        if self.device.type != "cpu":
            return f"the compiled epoch runs on the CPU only, not {self.device.type}"
        if self.ds.augment:
            return "the compiled epoch does not train with augmentation (--aug 1)"
        if self.n_emb % kernels.VECTOR:
            return f"the compiled epoch needs --nEmb a multiple of {kernels.VECTOR}, not {self.n_emb}"
        return None

    @property
    def trainer(self):
        """What trains the networks (for config.json): "compiled" (kernels/mlp_epoch.c) or "torch"."""
        return "compiled" if self.kernel else "torch"

    @property
    def trainer_identity(self):
        """The trainer's identity (for config.json): {"path": trainer}, for the compiled epoch with the library's
        hash, the compiler's version line and a hash of the CPU's flags (kernels.state)."""
        return kernels.state().identity if self.kernel else {"path": "torch"}

    def device_generator(self):
        """A generator on the learner's device: the CPU generator itself on CPU; elsewhere a new one seeded by a draw
        from the CPU generator (each call draws)."""
        if self.device.type == "cpu":
            return self.gen
        seed = int(torch.randint(2**62, (1,), generator=self.gen))
        return torch.Generator(self.device).manual_seed(seed)

    def fresh_model(self):
        """A new network with every layer (BatchNorm included) freshly initialised from the generator. On the CPU a
        convolutional network then keeps its weights channels-last (the same values), the layout in which oneDNN's
        convolutions and PyTorch's pooling run fastest there."""
        net = build_model(self.model_name, tuple(self.X.shape[1:]), self.ds.n_classes, self.n_emb, self.ds.name)
        net = net.to(self.device)
        with torch.no_grad():
            net.eval()(self.X[:2])  # materialise lazy layers
        reset_weights(net, self.gen)
        if self.device.type == "cpu" and self.model_name in CONV_MODELS:
            net = net.to(memory_format=torch.channels_last)
        set_dropout_generator(net, self.device_generator())
        return net

    def state_dict(self):
        """What load_state_dict needs to continue exactly (used by --resume): the trained network's weights and
        the generator's state."""
        return {"model": self.model.state_dict(), "gen": self.gen.get_state()}

    def load_state_dict(self, state):
        """The trained network and the generator as `state_dict` saved them."""
        model = self.fresh_model()
        model.load_state_dict(state["model"])
        self.model = model.eval()
        self.gen.set_state(state["gen"])

    def train(self, idx):
        """Train a fresh network on pool points `idx` (Adam, cross-entropy, each gradient element clamped to ±0.1)
        until the epoch's training accuracy reaches 0.99, restarting from new weights when it is still under 0.2
        after a multiple of 1000 epochs (the original's rule). Guards (each with a warning, PROTOCOL §6): the best
        reachable accuracy when identical inputs carry different labels, `max_epochs` (0 = none) and `patience`
        epochs without a new best epoch accuracy (0 = none)."""
        start = time.perf_counter()
        idx = torch.as_tensor(idx, device=self.device)
        X, y = self.X[idx], self.y[idx]
        reachable = reachable_accuracy(X, y)
        if reachable < ACC_TARGET:
            warnings.warn(f"training accuracy {ACC_TARGET} is unreachable: labelled points with identical inputs "
                          f"carry different labels (at most {reachable:.4f}); training stops there")
        model, restarts, epoch, best, best_epoch = None, 0, 0, -1.0, 0
        while True:
            if model is None:
                model = self.fresh_model()
                epoch_fn = self.epoch_function(model, X, y)
            epoch += 1
            acc = epoch_fn()
            if acc > best:
                best, best_epoch = acc, epoch
            stop = self.stop_reason(epoch, acc, reachable, epoch - best_epoch)
            if stop:
                break
            if epoch % RESTART_EPOCHS == 0 and acc < RESTART_ACC:
                model, restarts, best, best_epoch = None, restarts + 1, -1.0, epoch
        if stop in ("cap", "stalled"):
            why = (f"the epoch cap ({self.max_epochs}; raise --maxEpochs)" if stop == "cap" else
                   f"{self.patience} epochs without a better epoch accuracy (--patience)")
            warnings.warn(f"training stopped after {epoch} epochs at {why} with training accuracy {acc:.3f}")
        recalibrate_batchnorm(model, X, self.ds.train_batch)
        self.model = model.eval()
        return TrainResult(epoch, time.perf_counter() - start, acc, stop, restarts)

    def stop_reason(self, epoch, acc, reachable, stale):
        """Why training stops after this epoch (one of TRAIN_STOPS), or None to go on."""
        if acc >= ACC_TARGET:
            return "target"
        if acc >= reachable:
            return "unreachable"
        if self.max_epochs and epoch >= self.max_epochs:
            return "cap"
        if self.patience and stale >= self.patience:
            return "stalled"
        return None

    def epoch_function(self, model, X, y):
        """A function that trains `model` for one epoch on (X, y) and returns the fraction of points predicted
        right during it: minibatches of the data set's size from a fresh shuffle, each a closed-form gradient step
        (mlp, lin) or an autograd step (the rest), then the clamped Adam update. With `self.kernel` the mlp's epoch
        is one call of the compiled kernel, from the same shuffle."""
        if self.kernel:
            return self.compiled_epoch_function(model, X, y)
        adam = ClampedAdam(model.parameters(), self.lr)
        closed_form = hasattr(model, "loss_gradients") and not self.ds.augment
        if closed_form:
            X, target = X.flatten(1), F.one_hot(y, self.ds.n_classes).to(X.dtype)
            grads = [torch.empty_like(p) for p in adam.params]
        else:
            target = y
        bounds = batch_bounds(len(y), self.ds.train_batch)
        predicted, params = torch.empty_like(y), list(model.parameters())

        def step(xb, tb):
            if closed_form:
                logits = model.loss_gradients(xb, tb, grads)
                adam.step(grads)
                return logits
            if self.ds.augment:
                xb = augment(xb, self.fill, self.gen)
            logits, _ = model(xb)
            adam.step(list(torch.autograd.grad(F.cross_entropy(logits, tb), params)))
            return logits.detach()

        def epoch():
            model.train()
            order = torch.randperm(len(y), generator=self.gen).to(self.device)
            Xo, to, yo = X[order], target[order], y[order]
            for a, b in bounds:
                logits = step(Xo[a:b], to[a:b])
                torch.argmax(logits, 1, out=predicted[a:b])
            # a NaN or infinite loss makes every later weight NaN, so the last logits tell
            if not torch.isfinite(logits).all():
                raise TrainingDiverged(DIVERGED)
            return (predicted == yo).sum().item() / len(y)

        return epoch

    def compiled_epoch_function(self, model, X, y):
        """epoch_function's compiled form (kernels.MlpEpoch) for the mlp on the CPU."""
        run = kernels.MlpEpoch(kernels.library(), model, X, y, self.ds.train_batch, self.lr, GRAD_CLAMP, ADAM_BETAS,
                               ADAM_EPS)

        def epoch():
            model.train()
            acc = run(torch.randperm(len(y), generator=self.gen))
            if acc is None:
                raise TrainingDiverged(DIVERGED)
            return acc

        return epoch

    @contextmanager
    def timed(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.infer_seconds += time.perf_counter() - start

    @torch.no_grad()
    def forward(self, X, model=None):
        """(logits, embeddings) of `model` (default: the trained network) over X in batches of TEST_BATCH."""
        model, out_l, out_e = (self.model if model is None else model).eval(), [], []
        for start in range(0, len(X), TEST_BATCH):
            logits, emb = model(X[start:start + TEST_BATCH])
            out_l.append(logits)
            out_e.append(emb)
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
        """Softmax probabilities of `draws` MC-dropout passes over pool points `idx`, shape (draws, n, C): dropout
        on (BatchNorm in eval mode), or, for networks without dropout layers, embedding units dropped before the
        last layer. Each pass takes a generator (device_generator) and draws its masks batch after batch of
        TEST_BATCH points; the layers before the first dropout are computed once for all passes."""
        with self.timed():
            X = self.X[idx]
            logits = self.mc_logits(X, draws) if has_dropout(self.model) else self.mc_head_logits(X, draws)
            return F.softmax(logits, dim=2)

    @torch.no_grad()
    def mc_head_logits(self, X, draws):
        """MC-dropout logits (draws, n, C) of a network without dropout layers: the embeddings once, then per pass
        and batch head(dropout(embedding, EMBEDDING_DROPOUT))."""
        model = self.model.eval()
        embs = [model(X[a:a + TEST_BATCH])[1] for a in range(0, len(X), TEST_BATCH)]
        passes = []
        for _ in range(draws):
            gen = self.device_generator()
            passes.append(torch.cat([model.head(dropout(emb, EMBEDDING_DROPOUT, gen)) for emb in embs]))
        return torch.stack(passes)

    @torch.no_grad()
    def mc_logits(self, X, draws):
        """MC-dropout logits (draws, n, C) of a network with dropout layers (forward = tail(trunk(x))): every
        pass's keep masks drawn first, then per batch the trunk once and the tail once per pass with its masks."""
        model = self.model.eval()
        bounds = [(a, min(a + TEST_BATCH, len(X))) for a in range(0, len(X), TEST_BATCH)]
        shapes = dropout_input_shapes(model, X[:1])
        masks = [[[keep_mask((b - a, *shape), m.p, gen, X.device, m.channelwise) for m, shape in shapes.items()]
                  for a, b in bounds] for gen in (self.device_generator() for _ in range(draws))]
        out = torch.empty(draws, len(X), self.ds.n_classes, device=X.device)
        try:
            for j, (a, b) in enumerate(bounds):
                h = model.trunk(X[a:b])
                for t in range(draws):
                    for m, keep in zip(shapes, masks[t][j]):
                        m.keep = keep
                    out[t, a:b] = model.tail(h)[0]
        finally:
            for m in shapes:
                m.keep = None
        return out

    def last_layer(self):
        """(W, b) of the trained network's last layer `head`, logits = emb·Wᵀ + b: detached copies, W of shape
        (C, d), b of shape (C,) (zeros when the layer has no bias)."""
        head = self.model.head
        bias = head.bias if head.bias is not None else torch.zeros(head.out_features, device=self.device)
        return head.weight.detach().clone(), bias.detach().clone()

    @torch.no_grad()
    def noisy_probs(self, idx, scale, draws):
        """Softmax outputs (draws, n, C) on pool points `idx` of `draws` copies of the trained network, each with
        every layer's `weight` (not its bias) perturbed by Gaussian noise ξ scaled to ‖ξ‖ = scale·‖weight‖, ξ drawn
        layer by layer from a device_generator per copy (NoiseStability, Li et al. 2024)."""
        with self.timed():
            X, out = self.X[idx], []
            for _ in range(draws):
                gen, noisy = self.device_generator(), copy.deepcopy(self.model).eval()
                for m in noisy.modules():
                    weight = getattr(m, "weight", None)
                    if isinstance(weight, torch.nn.Parameter):
                        noise = torch.randn(weight.shape, generator=gen, device=weight.device, dtype=weight.dtype)
                        weight.add_(noise.mul_(scale * weight.norm() / noise.norm()))
                out.append(F.softmax(self.forward(X, noisy)[0], dim=1))
            return torch.stack(out)

    def attack_scores(self, idx, attack, batch=ATTACK_BATCH):
        """`attack(network, X)` (a per-point score that needs input gradients, e.g. an adversarial attack) for pool
        points `idx`, `batch` points at a time (each batch reported to selection.progress), timed as inference."""
        with self.timed():
            parts = torch.as_tensor(idx, device=self.device).split(batch)
            scores = []
            for part in parts:
                progress("points attacked", sum(map(len, scores)), len(idx))
                scores.append(attack(self.model.eval(), self.X[part]))
            return torch.cat(scores)

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
    for a, b in batch_bounds(len(X), size):
        model(X[a:b])
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()


def dropout_input_shapes(model, x):
    """{dropout layer: shape of its input per sample} of model(x), in the order the layers are called; layers with
    p = 0 (which draw nothing) left out."""
    shapes = {}

    def record(layer, args):
        shapes.setdefault(layer, tuple(args[0].shape[1:]))

    hooks = [m.register_forward_pre_hook(record) for m in model.modules() if isinstance(m, Dropout) and m.p > 0]
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return shapes


def batch_bounds(n, size):
    """(start, end) of consecutive minibatches of `size` over n points; a last batch of one point joins the one
    before (BatchNorm needs two samples per batch)."""
    cuts = list(range(0, n, size)) + [n]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] == 1:
        del cuts[-2]
    return list(zip(cuts[:-1], cuts[1:]))


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
