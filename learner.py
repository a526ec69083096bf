"""A run's learner (PROTOCOL §6): the pool and test tensors on one device, a `training.Trainer` that trains each
round's fresh network, and the `predictor.Predictor` strategies ask for that network's outputs. run.py builds it
from its flags, trains it on the labelled points each round, tests it, and saves and restores it for --resume."""
import warnings

import numpy as np
import torch

from catalog import PATIENCE
from predictor import Inputs, Predictor
from training import Setting, StoppingRule, Trainer, epoch_engine


class Learner:
    """Trains fresh networks of `model_name` on pool points of data set `ds` and answers for the last one.

    Every random draw (weights, shuffling, augmentation, dropout) comes from `generator` (on the CPU) or from a
    device generator seeded from it. `extensions`: modules trained beside the classifier (Trainer's hook).
    `select_on`: what the predictor's embeddings are, "model" (the network's) or "input" (the data's features)."""

    def __init__(self, model_name, ds, device, generator, lr=1e-4, n_emb=128, max_epochs=0, patience=PATIENCE,
                 kernel="auto", extensions=(), select_on="model"):
        setting = Setting.of(model_name, ds, device, lr, n_emb)
        engine = epoch_engine(setting, kernel, ds.X_train, generator, extensions)
        self._gen, self._kernel = generator, kernel
        self._X, self._y = ds.X_train.to(setting.device), ds.y_train.to(setting.device)
        self._X_test, self._y_test = Inputs(ds.X_test.to(setting.device)), ds.y_test.to(setting.device)
        rule = StoppingRule(max_epochs, patience)
        self.training = Trainer(setting, generator, engine, self._X[:2], rule, extensions)
        self.predictor = Predictor(self._X, self._y, ds.n_classes, generator, select_on, self.train_aside,
                                   lambda: self.training.engine.sparse_forward)
        self._show_pool(extensions)

    def _show_pool(self, extensions):
        """Give each extension the pool's inputs (Extension.see_pool)."""
        for extension in extensions:
            extension.see_pool(self._X)

    @property
    def trainer(self):
        """What trains the networks (for config.json): "compiled" (kernels/mlp_epoch.c) or "torch"."""
        return self.training.engine.name

    @property
    def trainer_identity(self):
        """The trainer's identity (for config.json): {"path": trainer}, for the compiled epoch with the library's
        hash, the compiler's version line and a hash of the CPU's flags (kernels.state)."""
        return self.training.engine.identity

    @property
    def model(self):
        """The last trained (or restored) network."""
        return self.predictor.model

    def train_with_torch(self):
        """Train with PyTorch from now on, whatever --kernel chose (a resumed run that started with PyTorch)."""
        self.training.train_with_torch()

    def extend(self, extensions):
        """Train with `extensions` (training.Extension: a strategy's) from now on, the epoch engine picked anew."""
        s = self.training.setting
        engine = epoch_engine(s, self._kernel, self._X, self._gen, extensions)
        self.training = Trainer(s, self._gen, engine, self._X[:2], self.training.rule, extensions)
        self._show_pool(extensions)

    def train(self, idx, snapshot=None, report=None):
        """Train a fresh network on pool points `idx` with their labels, and on the extensions' extra points with
        theirs (Trainer.train, which saves and continues the training in progress through `snapshot` and calls
        `report` after every epoch); the predictor answers with it from now on. Returns the training.TrainResult."""
        idx = np.asarray(idx)
        rows = torch.as_tensor(idx, device=self._X.device)
        X, y = self._X[rows], self._y[rows]
        for extra in filter(None, (e.extra_points() for e in self.training.extensions)):
            more = torch.as_tensor(np.asarray(extra[0], dtype=np.int64), device=self._X.device)
            X, y = torch.cat([X, self._X[more]]), torch.cat([y, torch.as_tensor(extra[1], device=y.device)])
        model, result = self.training.train(X, y, snapshot, report)
        self.predictor.use(model, idx)
        return result

    def train_aside(self, idx, generator):
        """A fresh network trained on pool points `idx` with their labels as `train` trains the round's (same
        setting, kind of epoch engine and stopping rule; no extensions), every random draw from `generator`: the
        round's network and the run's generator are left as they were. Its training warnings (a guard, an
        unreachable target) are re-issued naming that network, so that they are not read as the round's."""
        s, rows = self.training.setting, torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self._X.device)
        trainer = Trainer(s, generator, self.training.engine.aside(generator), self._X[:2], self.training.rule)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = trainer.train(self._X[rows], self._y[rows])[0]
        for w in caught:
            warnings.warn(f"the network trained aside on {len(rows)} labelled points: {w.message}", w.category,
                          stacklevel=2)
        return model

    def test_accuracy(self):
        """correct / n of the trained network over the test set, as a Python float of that exact ratio."""
        return self.predictor.accuracy(self._X_test, self._y_test)

    def test_predictions(self):
        """The trained network's class of every test point."""
        return self.predictor.predictions(self._X_test)

    def state_dict(self):
        """What load_state_dict needs to continue exactly (used by --resume): the trained network's weights, the
        generator's state, and each training extension's state under its name (only when there are any)."""
        state = {"model": self.model.state_dict(), "gen": self._gen.get_state()}
        if self.training.extensions:
            state["extensions"] = {e.name: e.state_dict() for e in self.training.extensions}
        return state

    def load_state_dict(self, state, labelled):
        """The trained network, the extensions and the generator as `state_dict` saved them; `labelled`: the pool
        points that network was trained on (whose labels the predictor may give)."""
        model = self.training.fresh_modules()
        model.load_state_dict(state["model"])
        for extension in self.training.extensions:
            extension.load_state_dict(state["extensions"][extension.name])
            extension.eval()
        self.predictor.use(model, labelled)
        self._gen.set_state(state["gen"])
