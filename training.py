"""Training a round's network (PROTOCOL §6), in parts: the stopping rule (pure: epoch accuracies in, a verdict out),
the two epoch engines (PyTorch's and the compiled mlp epoch of kernels/) behind one constructor, `epoch_engine`, and
the `Trainer`, which trains fresh networks with them. Every random draw (weights, shuffles, augmentation, dropout)
comes from the one CPU generator the trainer is given, or from a device generator seeded from it."""
import hashlib
import time
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

import kernels
from catalog import CONV_MODELS, PATIENCE
from errors import STATE_MISFITS, GuardWarning, TrainingDiverged, UserError
from model import Dropout, build_model, child_generator, reset_weights, set_dropout_generator

ACC_TARGET = 0.99  # train until the epoch's training accuracy reaches this
RESTART_EPOCHS = 1000  # a model still under RESTART_ACC after a multiple of this many epochs restarts
RESTART_ACC = 0.2
GRAD_CLAMP = 0.1
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
TRAIN_STOPS = ("target", "unreachable", "cap", "stalled")
RESTART = "restart"  # the stopping rule's verdict: go on from fresh weights


def diverged(extensions=()):
    """The TrainingDiverged message: the flags that scale the training loss, --lr and the `extensions`' weights."""
    flags = ["--lr", *(f for e in extensions for f in e.weight_flags)]
    lower = flags[0] if len(flags) == 1 else f"{', '.join(flags[:-1])} or {flags[-1]}"
    return f"the training loss became NaN or infinite; lower {lower} or check the features"


@dataclass
class TrainResult:
    epochs: int
    seconds: float
    train_acc: float
    stop: str  # one of TRAIN_STOPS: why training ended
    restarts: int


@dataclass(frozen=True)
class Progress:
    """Where a training stands after `epoch` epochs: the best epoch accuracy of the round (restarts do not reset
    it), the epoch that reached it, and the restarts so far."""
    epoch: int = 0
    best: float = -1.0
    best_epoch: int = 0
    restarts: int = 0


@dataclass(frozen=True)
class StoppingRule:
    """When training ends (PROTOCOL §6, docs/TRAINING.md): an epoch accuracy of ACC_TARGET ("target"), else the
    best `reachable` accuracy ("unreachable"), else `max_epochs` epochs ("cap", 0 = none), else `patience` epochs
    without a new best epoch accuracy of the round ("stalled", 0 = never; restarts included, so that a model that
    never leaves RESTART_ACC stops too); a model still under RESTART_ACC after a multiple of RESTART_EPOCHS epochs
    restarts from fresh weights. Pure: `after_epoch` maps (progress, accuracy) to the next
    progress and a verdict, without a network."""
    max_epochs: int = 0
    patience: int = PATIENCE
    reachable: float = 1.0

    def after_epoch(self, progress, acc):
        """(the progress after an epoch of accuracy `acc`, verdict): verdict is a reason in TRAIN_STOPS, RESTART
        (go on from fresh weights, the round's best kept), or None to go on. A stop is checked before a restart."""
        epoch = progress.epoch + 1
        best, best_epoch = (acc, epoch) if acc > progress.best else (progress.best, progress.best_epoch)
        stop = self.stop_reason(epoch, acc, epoch - best_epoch)
        if stop:
            return Progress(epoch, best, best_epoch, progress.restarts), stop
        if epoch % RESTART_EPOCHS == 0 and acc < RESTART_ACC:
            return Progress(epoch, best, best_epoch, progress.restarts + 1), RESTART
        return Progress(epoch, best, best_epoch, progress.restarts), None

    def stop_reason(self, epoch, acc, stale):
        """Why training stops after epoch `epoch` of accuracy `acc`, `stale` epochs after its best (one of
        TRAIN_STOPS), or None to go on."""
        if acc >= ACC_TARGET:
            return "target"
        if acc >= self.reachable:
            return "unreachable"
        if self.max_epochs and epoch >= self.max_epochs:
            return "cap"
        if self.patience and stale >= self.patience:
            return "stalled"
        return None

    def warning(self, stop, progress, acc):
        """The warning a training that ended for `stop` at `progress` with a last epoch's accuracy `acc` gives (the
        guards: cap and stalled), else None."""
        if stop not in ("cap", "stalled"):
            return None
        why = (f"the epoch cap ({self.max_epochs}; raise --maxEpochs)" if stop == "cap" else
               f"{self.patience} epochs without a better epoch accuracy (--patience)")
        return (f"training stopped after {progress.epoch} epochs at {why} with training accuracy {acc:.3f} "
                f"(best {progress.best:.3f}, epoch {progress.best_epoch})")


def reachable_accuracy(X, y):
    """The highest training accuracy any classifier can reach on (X, y): points with identical inputs but different
    labels cannot all be right; per distinct input only its most frequent label counts."""
    _, group = torch.unique(X.flatten(1), dim=0, return_inverse=True)
    n_classes = int(y.max()) + 1
    counts = torch.bincount(group * n_classes + y, minlength=(int(group.max()) + 1) * n_classes)
    return counts.view(-1, n_classes).amax(1).sum().item() / len(y)


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

    def state_dict(self):
        """The moments and step counts (what a training snapshot saves)."""
        return {"exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq, "steps": self.steps}

    @torch.no_grad()
    def load_state_dict(self, state):
        """The moments and step counts as state_dict saved them, copied in place."""
        for name in ("exp_avg", "exp_avg_sq", "steps"):
            for mine, saved in zip(getattr(self, name), state[name], strict=True):
                mine.copy_(saved)


@dataclass(frozen=True)
class Epochs:
    """An engine's epochs over one network: each call trains one epoch and returns its training accuracy;
    `optimizer` holds the state carried from epoch to epoch (state_dict / load_state_dict)."""
    run: object
    optimizer: object

    def __call__(self):
        return self.run()


@dataclass(frozen=True)
class Setting:
    """What trains, where, and with which of the protocol's values: the network (`model_name`, `n_emb`, for data
    `data_name` with `n_classes` classes), the device, the Adam learning rate, the minibatch size, and whether
    images are augmented (`black`: a black pixel's value per channel, the padding colour)."""
    model_name: str
    device: torch.device
    n_classes: int
    data_name: str
    lr: float = 1e-4
    n_emb: int = 128
    batch: int = 64
    augment: bool = False
    black: torch.Tensor = field(default=None, compare=False)

    @classmethod
    def of(cls, model_name, ds, device, lr=1e-4, n_emb=128):
        """The setting of `model_name` trained on data set `ds` (its batch size, classes and augmentation)."""
        return cls(model_name, torch.device(device), ds.n_classes, ds.name, lr, n_emb, ds.train_batch, ds.augment,
                   ds.black)


def device_generator(generator, device):
    """A generator on `device`: the CPU generator itself on the CPU; elsewhere a new one seeded by a draw from it
    (each call draws)."""
    return generator if device.type == "cpu" else child_generator(generator, device)


class Extension:
    """What a strategy trains beside the classifier or changes in its training (Trainer's hook; docs/TRAINING.md).
    A subclass overrides what it needs; these defaults do nothing. `adds_loss`: whether `loss` and `parameters`
    take part (then every autograd step minimises cross-entropy + Σ loss over network and extension parameters)."""
    name = None
    adds_loss = False
    weight_flags = ()  # the flags that weigh its loss: named when training diverges

    def see_pool(self, X):
        """The pool's inputs X (on the training device), for an extension that also trains on unlabelled points;
        called once, when the learner takes the extension."""

    def see_augmentation(self, augmentation):
        """What the labelled minibatches of the coming trainings go through (a function of a batch of inputs), or
        None: an extension that trains on inputs of its own augments them alike."""

    def reset(self, generator, device, n_features):
        """Fresh modules (with every fresh network), drawn from `generator`, on `device`, for embeddings of width
        `n_features`."""

    def parameters(self):
        """The parameters the clamped Adam updates with the network's."""
        return []

    def generators(self):
        """The generators its modules draw from, beyond the one `reset` was given (a snapshot saves their state)."""
        return []

    def train(self):
        """Training mode (each epoch)."""

    def eval(self):
        """Evaluation mode (after training)."""

    def loss(self, model, x, y, logits, emb):
        """A scalar added to the minibatch's cross-entropy (only when `adds_loss`)."""
        raise NotImplementedError

    def extra_points(self):
        """(pool indices, labels) trained on beside the labelled points (e.g. pseudo-labels), or None."""
        return None

    def state_dict(self):
        """What load_state_dict needs (kept in the checkpoint under `name`)."""
        return {}

    def load_state_dict(self, state):
        """The extension as state_dict saved it."""


class UnlabelledDraws(Extension):
    """An extension that trains on unlabelled pool points beside each labelled minibatch (vaal, waal): the pool's
    inputs (see_pool), the points unlabelled at this training (refreshed by `train`), and minibatches of them drawn
    uniformly from the extension's generator `gen` (set by its `reset`)."""

    def __init__(self, unlabelled):
        """`unlabelled`: a function giving the pool indices not yet labelled."""
        self.unlabelled, self.X, self.rows, self.gen, self.augmentation = unlabelled, None, None, None, None

    def see_pool(self, X):
        self.X = X

    def see_augmentation(self, augmentation):
        self.augmentation = augmentation

    def train(self):
        """The unlabelled points of this training (read once per epoch)."""
        self.rows = torch.as_tensor(np.asarray(self.unlabelled(), dtype=np.int64), device=self.X.device)

    def unlabelled_batch(self, n):
        """The inputs of n unlabelled pool points drawn uniformly with replacement, augmented as the labelled
        minibatch is (--aug 1), so that telling the two apart cannot go by the augmentation; None when none is
        unlabelled."""
        if not len(self.rows):
            return None
        draw = torch.randint(len(self.rows), (n,), generator=self.gen).to(self.X.device)
        drawn = self.X[self.rows[draw]]
        return drawn if self.augmentation is None else self.augmentation(drawn)

    def no_loss(self):
        """A zero in the graph of every parameter (the loss when the whole pool is labelled)."""
        return sum((p * 0).sum() for p in self.parameters())


def with_losses(extensions):
    """The extensions that add a loss (and parameters) to each minibatch step."""
    return tuple(e for e in extensions if e.adds_loss)


def kernel_misfit(setting, extensions=()):
    """Why the compiled epoch does not cover this training, or None: it trains the mlp on the CPU, without
    augmentation or training extensions that add a loss, with a hidden width that is a multiple of the kernel's
    vector width."""
    if setting.model_name != "mlp":
        return f"the compiled epoch trains the mlp only, not {setting.model_name}"
    if setting.device.type != "cpu":
        return f"the compiled epoch runs on the CPU only, not {setting.device.type}"
    if setting.augment:
        return "the compiled epoch does not train with augmentation (--aug 1)"
    if setting.n_emb % kernels.VECTOR:
        return f"the compiled epoch needs --nEmb a multiple of {kernels.VECTOR}, not {setting.n_emb}"
    names = [e.name for e in with_losses(extensions)]
    if names:
        return f"the compiled epoch trains the classifier alone, not with {', '.join(names)}"
    return None


def epoch_engine(setting, kernel, X, generator, extensions=()):
    """The epoch engine for `setting` under --kernel `kernel` (pool inputs X decide "auto"): "off" PyTorch's
    (TorchEpochs); "auto" the compiled one (CompiledEpochs) where it applies (kernel_misfit), is the faster path
    (sparse or low-dimensional inputs: kernels.pays_off) and builds here, else PyTorch's; "on" the compiled one
    where it applies and builds, else UserError saying why not."""
    if kernel not in ("auto", "on", "off"):
        raise ValueError(f"kernel must be auto, on or off, not {kernel!r}")
    if kernel == "off":
        return TorchEpochs(setting, generator, extensions)
    misfit = kernel_misfit(setting, extensions)
    if kernel == "auto":
        fits = misfit is None and kernels.pays_off(X, setting.batch) and kernels.library() is not None
        return CompiledEpochs(setting, generator) if fits else TorchEpochs(setting, generator, extensions)
    why = misfit or kernels.state().reason
    if why:
        raise UserError(f"--kernel on: {why}; use --kernel auto or off")
    return CompiledEpochs(setting, generator)


class TorchEpochs:
    """PyTorch's epochs: minibatches of the setting's size from a fresh shuffle, each a closed-form gradient step
    (mlp, lin, without augmentation or extensions) or an autograd step (the rest), then the clamped Adam update.
    With training extensions that add a loss (Trainer) each autograd step minimises cross-entropy + Σ
    extension.loss and updates the extensions' parameters with the network's."""
    name = "torch"
    sparse_forward = False  # whether its networks answer through the compiled sparse forward (Predictor)

    def __init__(self, setting, generator, extensions=()):
        self.setting, self.gen, self.extensions = setting, generator, with_losses(extensions)
        self.fill = setting.black.view(1, -1, 1, 1).to(setting.device) if setting.augment else None
        for extension in self.extensions:
            extension.see_augmentation(self.augmented if setting.augment else None)

    def augmented(self, x):
        """The minibatch x augmented (augment), drawing from the engine's generator."""
        return augment(x, self.fill, self.gen)

    @property
    def identity(self):
        """What config.json's trainer_identity records for this engine."""
        return {"path": "torch"}

    def aside(self, generator):
        """The same kind of engine for the same setting, drawing from `generator`, without extensions: what trains
        a network beside the round's (Learner.train_aside)."""
        return TorchEpochs(self.setting, generator)

    def epoch_function(self, model, X, y):
        """Epochs of `model` on (X, y): each call trains one epoch and returns the fraction of points predicted
        right during it (TrainingDiverged when the loss becomes NaN or infinite)."""
        s = self.setting
        params = list(model.parameters()) + [p for e in self.extensions for p in e.parameters()]
        adam = ClampedAdam(params, s.lr)
        closed_form = hasattr(model, "loss_gradients") and not s.augment and not self.extensions
        if closed_form:
            X, target = X.flatten(1), F.one_hot(y, s.n_classes).to(X.dtype)
            grads = [torch.empty_like(p) for p in adam.params]
        else:
            target = y
        bounds = batch_bounds(len(y), s.batch)
        predicted = torch.empty_like(y)
        last_loss = []  # the last autograd step's loss: an extension's own modules can diverge with finite logits

        def step(xb, tb):
            if closed_form:
                logits = model.loss_gradients(xb, tb, grads)
                adam.step(grads)
                return logits
            if s.augment:
                xb = self.augmented(xb)
            logits, emb = model(xb)
            loss = F.cross_entropy(logits, tb)
            for extension in self.extensions:
                loss = loss + extension.loss(model, xb, tb, logits, emb)
            adam.step(list(torch.autograd.grad(loss, params)))
            last_loss[:] = [loss.detach()]
            return logits.detach()

        def epoch():
            model.train()
            for extension in self.extensions:
                extension.train()
            order = torch.randperm(len(y), generator=self.gen).to(s.device)
            Xo, to, yo = X[order], target[order], y[order]
            for a, b in bounds:
                logits = step(Xo[a:b], to[a:b])
                torch.argmax(logits, 1, out=predicted[a:b])
            # a NaN or infinite loss makes every later weight NaN, so the last logits (and loss) tell
            if not (torch.isfinite(logits).all() and all(torch.isfinite(v) for v in last_loss)):
                raise TrainingDiverged(diverged(self.extensions))
            return (predicted == yo).sum().item() / len(y)

        return Epochs(epoch, adam)


class CompiledEpochs:
    """The compiled mlp epoch (kernels.MlpEpoch) on the CPU: TorchEpochs' training, from the same shuffle, in one
    call of the kernel per epoch."""
    name = "compiled"
    sparse_forward = True  # its networks answer through kernels.MlpForward (Predictor)

    def __init__(self, setting, generator):
        self.setting, self.gen = setting, generator

    @property
    def identity(self):
        """The library's hash, the compiler's version line and a hash of the CPU's flags (kernels.state)."""
        return kernels.state().identity

    def aside(self, generator):
        """TorchEpochs.aside's compiled form."""
        return CompiledEpochs(self.setting, generator)

    def epoch_function(self, model, X, y):
        """TorchEpochs.epoch_function's compiled form."""
        s = self.setting
        run = kernels.MlpEpoch(kernels.library(), model, X, y, s.batch, s.lr, GRAD_CLAMP, ADAM_BETAS, ADAM_EPS)

        def epoch():
            model.train()
            acc = run(torch.randperm(len(y), generator=self.gen))
            if acc is None:
                raise TrainingDiverged(diverged())
            return acc

        return Epochs(epoch, run)


class Trainer:
    """Trains fresh networks of `setting` with an epoch `engine` (epoch_engine) until `rule` stops (PROTOCOL §6).

    The hook for strategies that train something beside the classifier (a loss predictor, a discriminator) or
    change its training data (pseudo-labels): `extensions`, each an Extension: `reset(generator, device,
    n_features)` (fresh modules, called with every fresh network), `parameters()` (updated by the same clamped Adam
    as the network), `train()` / `eval()`, `loss(model, x, y, logits, embeddings)` (a scalar added to each
    minibatch's cross-entropy, when `adds_loss`), `extra_points()` (pool points and labels Learner.train adds),
    `see_pool(X)` (the pool's inputs, from the Learner, for unlabelled minibatches), `see_augmentation(f)` (the
    labelled minibatches' augmentation, from the epoch engine, for theirs) and `state_dict()` /
    `load_state_dict(state)` (kept in the checkpoint under its name by Learner.state_dict).
    Extensions that add a loss train with PyTorch's autograd epoch (the compiled epoch and the closed-form steps
    do not apply). `train(X, y)` trains on any labelled points, pool points or others (e.g. pseudo-labelled
    ones); the stopping rule reads the classifier's accuracy on them."""

    def __init__(self, setting, generator, engine, probe, rule=StoppingRule(), extensions=()):
        """`probe`: two inputs on the setting's device, which materialise lazy layers."""
        self.setting, self.gen, self.engine, self.probe, self.rule = setting, generator, engine, probe, rule
        self.extensions = tuple(extensions)

    def train_with_torch(self):
        """From now on train with PyTorch's epochs (a resumed run continues with the engine it started with)."""
        self.engine = TorchEpochs(self.setting, self.gen, self.extensions)

    def fresh_model(self):
        """A new network with every layer (BatchNorm included) freshly initialised from the generator. On the CPU a
        convolutional network then keeps its weights channels-last (the same values), the layout in which oneDNN's
        convolutions and PyTorch's pooling run fastest there."""
        s = self.setting
        net = build_model(s.model_name, tuple(self.probe.shape[1:]), s.n_classes, s.n_emb, s.data_name)
        net = net.to(s.device)
        with torch.no_grad():
            net.eval()(self.probe)  # materialise lazy layers
        reset_weights(net, self.gen)
        if s.device.type == "cpu" and s.model_name in CONV_MODELS:
            net = net.to(memory_format=torch.channels_last)
        set_dropout_generator(net, device_generator(self.gen, s.device))
        return net

    def fresh_modules(self):
        """A fresh network (fresh_model), the extensions reset after it for its embedding width."""
        model = self.fresh_model()
        if self.extensions:
            with torch.no_grad():
                n_features = model.eval()(self.probe)[1].shape[1]
            for extension in self.extensions:
                extension.reset(self.gen, self.setting.device, n_features)
        return model

    def train(self, X, y, snapshot=None, report=None):
        """(network, TrainResult): a fresh network trained on (X, y) (Adam, cross-entropy, each gradient element
        clamped to ±0.1) epoch after epoch until the stopping rule ends it, from fresh weights on its RESTART;
        warnings when the target is unreachable and when a guard stops it. BatchNorm statistics are then
        recomputed over X (recalibrate_batchnorm) and the network is returned in eval mode.

        `snapshot` (optional; results.TrainingSnapshot): every `snapshot.every` seconds (0 = never) the training
        in progress is saved with `snapshot.save(key, state)`; when `snapshot.load(key, trainer)` gives a state
        saved by this same training (key: training_key at its start) with this trainer's epoch (its optimizer's
        state has the trainer's own form), it continues from there, exactly as if uninterrupted,
        and TrainResult's seconds include those spent before; a state that does not fit raises snapshot.unfit(error).
        `report` (optional): called as report(progress, acc) after every epoch (how a run shows a long training)."""
        start = time.perf_counter()
        rule = replace(self.rule, reachable=reachable_accuracy(X, y))
        if rule.reachable < ACC_TARGET:
            warnings.warn(f"training accuracy {ACC_TARGET} is unreachable: labelled points with identical inputs "
                          f"carry different labels (at most {rule.reachable:.4f}); training stops there", GuardWarning)
        model, progress, verdict, before = None, Progress(), None, 0.0
        key = training_key(X, y, self.gen) if snapshot else None
        saved = snapshot.load(key, self.engine.name) if snapshot else None
        if saved:
            try:
                model, epoch, progress, before = self.restore(saved, X, y)
            except STATE_MISFITS as e:
                raise snapshot.unfit(e) from None
        saved_at = time.perf_counter()
        while verdict not in TRAIN_STOPS:
            if model is None:
                model = self.fresh_modules()
                epoch = self.engine.epoch_function(model, X, y)
            acc = epoch()
            progress, verdict = rule.after_epoch(progress, acc)
            if report:
                report(progress, acc)
            if verdict == RESTART:
                model = None
            elif verdict is None and snapshot and snapshot.every and time.perf_counter() - saved_at >= snapshot.every:
                seconds = before + time.perf_counter() - start
                snapshot.save(key, self.snapshot_state(model, epoch, progress, seconds))
                saved_at = time.perf_counter()
        message = rule.warning(verdict, progress, acc)
        if message:
            warnings.warn(message, GuardWarning)
        recalibrate_batchnorm(model, X, self.setting.batch)
        for extension in self.extensions:
            extension.eval()
        seconds = before + time.perf_counter() - start
        return model.eval(), TrainResult(progress.epoch, seconds, acc, verdict, progress.restarts)

    def side_generators(self, model):
        """The generators training draws from besides the trainer's own (a device's, for dropout off the CPU)."""
        gens = [m.generator for m in model.modules() if isinstance(m, Dropout)]
        gens += [g for e in self.extensions for g in e.generators()]
        unique = {id(g): g for g in gens if g is not None and g is not self.gen}
        return list(unique.values())

    def snapshot_state(self, model, epoch, progress, seconds):
        """What `restore` needs to continue this training exactly: weights, optimizer moments (in the form of the
        trainer named), generator states, the extensions' states, the stopping rule's progress and the seconds
        trained so far."""
        return {"trainer": self.engine.name, "model": model.state_dict(), "optimizer": epoch.optimizer.state_dict(),
                "gen": self.gen.get_state(), "side_gens": [g.get_state() for g in self.side_generators(model)],
                "extensions": {e.name: e.state_dict() for e in self.extensions},
                "progress": [progress.epoch, progress.best, progress.best_epoch, progress.restarts],
                "seconds": seconds}

    def restore(self, state, X, y):
        """(network, its Epochs, Progress, seconds trained) as snapshot_state saved them; the generators continue
        from their saved states."""
        epochs, best, best_epoch, restarts = state["progress"]
        progress = Progress(int(epochs), float(best), int(best_epoch), int(restarts))
        model = self.fresh_modules()
        epoch = self.engine.epoch_function(model, X, y)
        model.load_state_dict(state["model"])
        for extension in self.extensions:
            extension.load_state_dict(state["extensions"][extension.name])
        epoch.optimizer.load_state_dict(state["optimizer"])
        self.gen.set_state(state["gen"])
        for gen, saved in zip(self.side_generators(model), state["side_gens"], strict=True):
            gen.set_state(saved)
        return model, epoch, progress, float(state["seconds"])


def training_key(X, y, generator):
    """SHA-256 of the points, labels and generator state a training starts from: what a snapshot must match."""
    digest = hashlib.sha256()
    for t in (X, y, generator.get_state()):
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@torch.no_grad()
def recalibrate_batchnorm(model, X, size):
    """Running mean and variance of every BatchNorm layer := the average of its batch statistics over X (the
    points trained on, unaugmented, in batches of `size`) under the final weights. A network trained on few points
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
    out = padded[torch.arange(n, device=x.device)[:, None, None, None],
                 torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], out.flip(3), out)
