"""CEAL (`ceal`): its selection and pseudo-labelling rule against a slow reference, the pseudo-labelled points'
effect on training (through the training extension's extra points), and --resume bit for bit with the
pseudo-labels and the round count in the checkpoint."""
import math

import numpy as np
import pytest
import torch

import dataset
from learner import Learner
from resumed import resume_after_one_round
from query_strategies.ceal import PseudoLabels, ceal_select, confident_threshold

FLAGS = ["--alg", "ceal", "--nStart", "60", "--nQuery", "20", "--nEnd", "120", "--nEmb", "32", "--maxEpochs", "40",
         "--seed", "5", "--cealDelta", "0.8", "--cealDecay", "0.2"]
FOLDER = "digits_mlp_ceal_20_seed5"


def ceal_by_loops(probs, k, threshold):
    """The paper's rule one point at a time: entropies −Σ p log p; the k largest (ties: lower row first) are
    queried; every other row with entropy < threshold gets its most probable class."""
    h = [-sum(p * math.log(p) for p in row if p > 0) for row in probs]
    queried = sorted(range(len(h)), key=lambda i: (-h[i], i))[:k]
    confident = [i for i in range(len(h)) if h[i] < threshold and i not in queried]
    return queried, confident, [max(range(len(probs[i])), key=lambda c: probs[i][c]) for i in confident]


@pytest.mark.parametrize("seed", range(3))
def test_selection_and_pseudo_labels_follow_the_paper(seed):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(3 * torch.randn(40, 4, generator=g, dtype=torch.float64), 1)
    probs[3] = torch.tensor([1.0, 0.0, 0.0, 0.0])  # entropy 0, no NaN
    picked, rows, labels = ceal_select(probs, 5, g, 0.4)
    queried, confident, classes = ceal_by_loops(probs.tolist(), 5, 0.4)
    assert picked.index.tolist() == queried and rows.tolist() == confident and labels.tolist() == classes
    assert 0 < len(confident) < 35


def test_the_threshold_decays_by_round():
    assert [confident_threshold(0.005, 0.00033, t) for t in (0, 1, 10)] == pytest.approx([0.005, 0.00467, 0.0017])


@pytest.mark.filterwarnings("ignore:training stopped")
def test_pseudo_labelled_points_are_trained_on_with_their_labels():
    """Points given a wrong class as pseudo-label are learnt with it; the labelled points are not displaced, and
    only the labelled points' labels stay the predictor's."""
    ds = dataset.load_digits(np.random.default_rng(0))
    pseudo = PseudoLabels()
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), n_emb=32, extensions=[pseudo])
    assert learner.trainer in ("compiled", "torch")  # no loss: the compiled epoch may train it
    extra = np.arange(200, 220)
    wrong = (ds.y_train[extra] + 1) % ds.n_classes
    pseudo.set(extra, wrong)
    result = learner.train(np.arange(200))
    assert result.stop == "target"
    assert (learner.predictor.probs(extra).argmax(1) == wrong).float().mean() >= 0.9
    with pytest.raises(ValueError):
        learner.predictor.labels(extra)


@pytest.mark.filterwarnings("ignore:training stopped")
def test_resume_is_bit_for_bit_with_the_pseudo_labels_in_the_checkpoint(tmp_path):
    state, config = resume_after_one_round(FLAGS, FOLDER, tmp_path)
    assert len(state["learner"]["extensions"]["pseudo_labels"]["index"]) > 0 and state["strategy"]["rounds"] == 1
    assert (config["cealDelta"], config["cealDecay"]) == (0.8, 0.2)
