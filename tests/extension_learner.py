"""A digits Learner that trains with one strategy's training extension, the first LABELLED pool points labelled:
the set-up of the tests of extensions that also train on unlabelled points (vaal, waal)."""
import numpy as np
import torch

import dataset
from learner import Learner

LABELLED = 200


def digits_learner(make_module):
    """(data set, module, learner): digits (split seeded by 0); module = make_module(unlabelled), unlabelled() giving
    the pool points past the first LABELLED; an mlp Learner (nEmb 32, at most 60 epochs, generator seeded by 0)
    training with the module, which runs PyTorch's epochs."""
    ds = dataset.load_digits(np.random.default_rng(0))
    module = make_module(lambda: np.arange(LABELLED, len(ds.y_train)))
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), n_emb=32, max_epochs=60,
                      extensions=[module])
    assert learner.trainer == "torch"
    return ds, module, learner
