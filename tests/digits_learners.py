"""A trained digits learner: the set-up of the tests that compare a strategy's picks with its selection function
on the outputs the strategy asks the learner for."""
import numpy as np

import dataset
from learner import Learner


def trained_on_every_27th(generator):
    """(learner, labelled mask): an mlp Learner on digits (split seeded by 0, at most 20 epochs, drawing from
    `generator`) trained on every 27th pool point (60 labelled)."""
    ds = dataset.load("digits", 0, "data", np.random.default_rng(0))
    learner = Learner("mlp", ds, "cpu", generator, max_epochs=20)
    labeled = np.zeros(len(ds.y_train), dtype=bool)
    labeled[::27] = True
    learner.train(np.flatnonzero(labeled))
    return learner, labeled
