"""What strategies see of a round's trained network: its outputs on pool points, through a narrow interface.

A `Predictor` answers with the network the learner last trained (or restored): probabilities, embeddings (the
input of the last layer), both together (the inputs of gradient embeddings), MC-dropout samples, noisy copies'
outputs, the last layer's weights, the held-out logits of a network trained aside, per-point attack scores (the
attack alone is handed the network), the labels of the labelled points and of the current query's picks, and the
number of classes, a training extension's scores of the pool's inputs or of the network's embeddings, and the last
layer's outputs under dropout on the embedding drawn from a strategy's generator. Strategies never reach the network
otherwise, nor the pool's tensors or the data set; the time spent here is rounds.csv's infer_seconds."""
import copy
import functools
import time
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

import kernels
from dataset import TEST_BATCH
from model import Dropout, dropout, has_dropout, keep_mask
from query_strategies.selection import progress, tempered_softmax
from training import device_generator

MC_DRAWS = 10
EMBEDDING_DROPOUT = 0.5  # MC passes of models without dropout layers drop embedding units with this rate
ATTACK_BATCH = 500  # points attacked together by attack_scores
SCORE_BATCH = 4096  # pool points whose inputs input_scores scores together: VAAL's size before it moved here, kept
# because the discriminator's float rounding (so its ties, so its picks) depends on how many rows a product takes


class Inputs:
    """Inputs X (n × ...) a network answers on, by rows: through PyTorch, TEST_BATCH rows at a time, or through the
    compiled kernel's sparse first layer (kernels.MlpForward, for the mlp it trains; X's sparse form is built at the
    first such call, once)."""

    def __init__(self, X):
        self.X, self._sparse = X, None

    def batches(self, idx=None, size=None):
        """The inputs of rows `idx` (all when None), `size` rows at a time (TEST_BATCH when None), each batch gathered
        only when it is used (no copy of the whole subset: at 60,000 MNIST points the copy alone costs as much as the
        forward pass, and a batch gathered right before its forward pass is still in cache)."""
        size = size or TEST_BATCH
        if idx is None:
            return iter(self.X.split(size))
        rows = torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self.X.device)
        return (self.X[rows[start:start + size]] for start in range(0, len(rows), size))

    @torch.no_grad()
    def outputs(self, model, idx=None, compiled=False):
        """(logits, embeddings) of `model` (in eval mode) on rows `idx` (all when None): with the compiled kernel
        when `compiled`, else with PyTorch."""
        model.eval()
        if compiled:
            if self._sparse is None:
                self._sparse = kernels.MlpForward(kernels.library(), self.X)
            return self._sparse(model, None if idx is None else torch.as_tensor(np.asarray(idx, dtype=np.int64)))
        out_l, out_e = [], []
        for X in self.batches(idx):
            logits, emb = model(X)
            out_l.append(logits)
            out_e.append(emb)
        return torch.cat(out_l), torch.cat(out_e)


class Predictor:
    """The outputs of the trained network on the pool's inputs `X` (labels `y`, `n_classes` classes). MC-dropout
    masks come from `generator` (on the CPU) or from a device generator seeded from it: the one the trainer draws
    from, so that picks follow from the seed."""

    def __init__(self, X, y, n_classes, generator, select_on="model", train_aside=None, compiled=lambda: False):
        """`select_on`: "model" (embeddings are the network's) or "input" (the pool's own features);
        `train_aside(idx, generator)`: a fresh network trained on pool points idx (Learner.train_aside);
        `compiled()`: whether the networks answering are the mlp's trained by the compiled kernel (then they answer
        through its sparse first layer, kernels.MlpForward)."""
        self._X, self._y, self._n_classes, self._gen = X, y, n_classes, generator
        self._pool, self._compiled = Inputs(X), compiled
        self._select_on = select_on
        self._train_aside = train_aside
        self._model = None
        self._labelled = np.zeros(len(y), dtype=bool)
        self._seconds = 0.0

    def use(self, model, labelled):
        """Answer with `model` (in eval mode) from now on, trained on pool points `labelled` (whose labels
        `labels` may then give)."""
        self._model = model.eval()
        self._labelled = np.zeros(len(self._y), dtype=bool)
        self._labelled[np.asarray(labelled, dtype=np.int64)] = True

    @property
    def model(self):
        """The network answering (None before the first `use`)."""
        return self._model

    @property
    def n_classes(self):
        return self._n_classes

    @property
    def n_pool(self):
        return len(self._y)

    @property
    def infer_seconds(self):
        """Seconds spent computing outputs for strategies since this predictor was made."""
        return self._seconds

    @contextmanager
    def _timed(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            self._seconds += time.perf_counter() - start

    def _forward(self, inputs, idx=None, model=None):
        """(logits, embeddings) of `model` (default: the network) on rows `idx` of `inputs` (an Inputs; all rows
        when None): the one place that picks the compiled kernel's forward pass (whenever the network was trained
        by it) or PyTorch's."""
        return inputs.outputs(self._model if model is None else model, idx, self._compiled())

    def probs(self, idx):
        """Softmax probabilities (n, C) of pool points `idx`."""
        with self._timed():
            return F.softmax(self._forward(self._pool, idx)[0], dim=1)

    def probs_embeddings(self, idx, temperature=1.0):
        """(probabilities (n, C), embeddings (n, d)) of pool points `idx`: what gradient embeddings are made of;
        the probabilities softmax(logits / temperature), for temperature ≠ 1 by tempered_softmax."""
        with self._timed():
            logits, emb = self._forward(self._pool, idx)
            if temperature == 1:
                return F.softmax(logits, dim=1), emb
            return tempered_softmax(logits, temperature).to(logits.dtype), emb

    def held_out_logits(self, fit_idx, val_idx, generator):
        """Logits (n, C) on labelled pool points `val_idx` of a fresh network trained on labelled pool points
        `fit_idx` as the round's was (Learner.train_aside), its random draws from `generator`: what calibrating a
        temperature on held-out labels takes. The round's network answers on; ValueError for an unlabelled point."""
        both = np.concatenate([np.asarray(fit_idx, dtype=np.int64), np.asarray(val_idx, dtype=np.int64)])
        if not self._labelled[both].all():
            raise ValueError("held-out logits asked for points the network was not trained on")
        with self._timed():
            model = self._train_aside(fit_idx, generator)
            return self._forward(self._pool, val_idx, model)[0]

    def network_embeddings(self, idx):
        """The network's embeddings (n, d) of pool points `idx`, the input of its last layer, whatever --select-on
        says: what a strategy that puts embeddings through the last layer takes."""
        return self.probs_embeddings(idx)[1]

    def embeddings(self, idx):
        """Embeddings (n, d) of pool points `idx` to select on: the network's (network_embeddings), or the points'
        own features, flattened, when selecting on the input (--select-on input; no network needed)."""
        if self._select_on == "input":
            return self._X[idx].flatten(1)
        return self.network_embeddings(idx)

    def labels(self, idx):
        """The labels of pool points `idx`, all among those the network was trained on (ValueError otherwise: a
        strategy learns no label it has not paid for)."""
        idx = np.asarray(idx, dtype=np.int64)
        if not self._labelled[idx].all():
            raise ValueError("labels asked for points the network was not trained on")
        return self._y[torch.as_tensor(idx, device=self._y.device)]

    def label_picks(self, idx):
        """The labels of pool points `idx` that a strategy is picking in the current query (the query pays for
        them): for sequential strategies that use a pick's label before choosing the next one (GALAXY)."""
        return self._y[torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self._y.device)]

    def accuracy(self, X, y):
        """correct / n of the network over inputs X (a tensor or an Inputs) with labels y, as a Python float of that
        exact ratio (as the original prints it)."""
        return int((self.predictions(X) == y).sum()) / len(y)

    def predictions(self, X):
        """The network's class of each input in X (a tensor or an Inputs, whose sparse form is then kept): the
        argmax of its logits."""
        return self._forward(X if isinstance(X, Inputs) else Inputs(X))[0].argmax(1)

    def mc_probs(self, idx, draws=MC_DRAWS, shared=False):
        """Softmax probabilities of `draws` MC-dropout passes over pool points `idx`, shape (draws, n, C): dropout
        on (BatchNorm in eval mode), or, for networks without dropout layers, embedding units dropped before the
        last layer. Each pass takes a generator (training.device_generator) and draws its masks batch after batch
        of TEST_BATCH points; the layers before the first dropout are computed once for all passes. shared=True:
        each pass draws one mask per dropout layer and applies it to every point, so that a pass is one network
        (one sample of the weights) for all of them."""
        with self._timed():
            if has_dropout(self._model):
                logits = self._mc_logits(self._X[idx], draws, shared)
            else:
                embs = self._forward(self._pool, idx)[1].split(TEST_BATCH)
                gens = (device_generator(self._gen, self._X.device) for _ in range(draws))
                logits = mc_head_logits(self._model.head, embs, gens, EMBEDDING_DROPOUT, shared)
            return F.softmax(logits, dim=2)

    @torch.no_grad()
    def _mc_logits(self, X, draws, shared=False):
        """MC-dropout logits (draws, n, C) of a network with dropout layers (forward = tail(trunk(x))): every
        pass's keep masks drawn first (shared: one per layer and pass, for every batch), then per batch the trunk
        once and the tail once per pass with its masks."""
        model = self._model.eval()
        bounds = [(a, min(a + TEST_BATCH, len(X))) for a in range(0, len(X), TEST_BATCH)]
        shapes = dropout_input_shapes(model, X[:1])
        gens = (device_generator(self._gen, X.device) for _ in range(draws))
        masks = [pass_masks(shapes, bounds, gen, X.device, shared) for gen in gens]
        out = torch.empty(draws, len(X), self._n_classes, device=X.device)
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

    @torch.no_grad()
    def head_dropout(self, idx, rate, passes, generator):
        """(embeddings e (n, d), logits head(e) (n, C), logits head(e ⊙ m / (1 − rate)) (passes, n, C)) of pool
        points `idx`, m ~ Bernoulli(1 − rate) (n × d) drawn from `generator` pass after pass: the last layer on the
        generator's device (a strategy's, the CPU), all points at once (head_dropout_logits)."""
        with self._timed():
            emb = self._forward(self._pool, idx)[1]
            weight, bias = (None if t is None else t.to(generator.device) for t in self.last_layer())
            return (emb, *head_dropout_logits(weight, bias, emb.to(generator.device), rate, passes, generator))

    def input_scores(self, idx, score):
        """score(x) (n,) of the inputs x of pool points `idx`, SCORE_BATCH points at a time, concatenated: a
        training extension's function of the pool's inputs (VAAL's discriminator)."""
        with self._timed():
            return torch.cat([score(x) for x in self._pool.batches(idx, SCORE_BATCH)])

    def embedding_scores(self, idx, score):
        """(softmax probabilities (n, C), score(e) (n,)) of pool points `idx`, e the network's embeddings whatever
        --select-on says, score taking all at once: a training extension's function of them (LPL's predicted loss,
        WAAL's critic) with the network's own outputs."""
        with self._timed():
            logits, emb = self._forward(self._pool, idx)
            return F.softmax(logits, dim=1), score(emb)

    def last_layer(self):
        """(weight C × d, bias C or None) of the network's last linear layer, whose input is the embedding:
        detached, on the network's device."""
        head = self._model.head
        return head.weight.detach(), None if head.bias is None else head.bias.detach()

    @torch.no_grad()
    def noisy_probs(self, idx, scale, draws):
        """Softmax outputs (draws, n, C) on pool points `idx` of `draws` copies of the network, each with every
        layer's `weight` (not its bias) perturbed by Gaussian noise ξ scaled to ‖ξ‖ = scale·‖weight‖, ξ drawn layer by
        layer from a device generator per copy (NoiseStability, Li et al. 2024). The network itself is unchanged. On
        PyTorch's path the points' inputs are gathered once for all copies (the compiled path reads the pool's sparse
        form, built once)."""
        with self._timed():
            rows = torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self._X.device)
            inputs, idx = (self._pool, idx) if self._compiled() else (Inputs(self._X[rows]), None)
            out = []
            for _ in range(draws):
                gen, noisy = device_generator(self._gen, self._X.device), copy.deepcopy(self._model).eval()
                for m in noisy.modules():
                    weight = getattr(m, "weight", None)
                    if isinstance(weight, torch.nn.Parameter):
                        noise = torch.randn(weight.shape, generator=gen, device=weight.device, dtype=weight.dtype)
                        weight.add_(noise.mul_(scale * weight.norm() / noise.norm()))
                out.append(F.softmax(self._forward(inputs, idx, noisy)[0], dim=1))
            return torch.stack(out)

    def attack_scores(self, idx, attack, batch=ATTACK_BATCH):
        """`attack(network, X)` (a per-point score that needs input gradients, e.g. an adversarial attack) for pool
        points `idx`, `batch` points at a time (each batch reported to selection.progress), timed as inference."""
        with self._timed():
            parts = torch.as_tensor(idx, device=self._X.device).split(batch)
            scores = []
            for part in parts:
                progress("points attacked", sum(map(len, scores)), len(idx))
                scores.append(attack(self._model.eval(), self._X[part]))
            return torch.cat(scores)


@torch.no_grad()
def mc_head_logits(head, embs, gens, rate, shared=False):
    """Logits (passes, n, C) of the last layer `head` over the embedding batches `embs` under dropout at `rate`:
    per pass (one per generator of `gens`, taken when the pass begins) and batch head(dropout(e, rate)), masks drawn
    batch after batch; shared: head(e ⊙ m / (1 − rate)) with one mask m per pass for every batch."""
    passes = []
    for gen in gens:
        if shared:
            keep = keep_mask((1, embs[0].shape[1]), rate, gen, embs[0].device)
            passes.append(torch.cat([head(emb * keep / (1 - rate)) for emb in embs]))
        else:
            passes.append(torch.cat([head(dropout(emb, rate, gen)) for emb in embs]))
    return torch.stack(passes)


@torch.no_grad()
def head_dropout_logits(weight, bias, emb, rate, passes, generator):
    """(head(e) (n, C), head(dropout(e, rate)) (passes, n, C)) of the last layer head(e) = e Wᵀ + b (bias b or None)
    over the embeddings `emb` (n × d), all rows at once, each pass's n × d mask drawn from `generator` in turn:
    DropQuery's predictions with and without dropout."""
    head = functools.partial(F.linear, weight=weight, bias=bias)
    return head(emb), mc_head_logits(head, [emb], [generator] * passes, rate)


def pass_masks(shapes, bounds, gen, device, shared):
    """One pass's keep masks, per batch of `bounds` a list over the dropout layers of `shapes`: drawn batch after
    batch, or (shared) one of batch size 1 per layer, the same for every batch."""
    if shared:
        one = [keep_mask((1, *shape), m.p, gen, device, m.channelwise) for m, shape in shapes.items()]
        return [one] * len(bounds)
    return [[keep_mask((b - a, *shape), m.p, gen, device, m.channelwise) for m, shape in shapes.items()]
            for a, b in bounds]


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
