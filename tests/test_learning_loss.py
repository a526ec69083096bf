"""Learning loss (`lpl`): the ranking loss and the selection rule against slow references, the loss-prediction
module's training beside the classifier on digits, and --resume bit for bit with the module in the checkpoint."""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import dataset
from learner import Learner
from resumed import resume_after_one_round
from query_strategies.learning_loss import LossPrediction, learning_loss_select, pairwise_ranking_loss

FLAGS = ["--alg", "lpl", "--nStart", "30", "--nQuery", "10", "--nEnd", "60", "--nEmb", "32", "--maxEpochs", "15",
         "--seed", "3"]
FOLDER = "digits_mlp_lpl_10_seed3"


def ranking_loss_by_pairs(predicted, target, margin):
    """The paper's loss, one pair at a time: pair i with B−1−i for i < B//2, max(0, −s(l̂_i − l̂_j) + ξ)."""
    n, total = len(predicted), 0.0
    for i in range(n // 2):
        j = n - 1 - i
        s = 1.0 if target[i] > target[j] else -1.0
        total += max(0.0, -s * (predicted[i] - predicted[j]) + margin)
    return total / (n // 2)


@pytest.mark.parametrize("n", [2, 7, 64])
def test_ranking_loss_is_the_pairwise_hinge_of_the_paper(n):
    g = torch.Generator().manual_seed(n)
    predicted, target = torch.randn(n, generator=g, dtype=torch.float64), torch.rand(n, generator=g)
    target[0] = target[-1]  # a tie counts as l_i < l_j
    for margin in (0.5, 1.0):
        got = pairwise_ranking_loss(predicted, target, margin).item()
        assert got == pytest.approx(ranking_loss_by_pairs(predicted.tolist(), target.tolist(), margin), rel=1e-12)


def test_a_minibatch_of_one_point_has_no_pair_and_a_ranking_loss_of_zero():
    """The mean over no pairs was NaN (a run with --nStart 1 trains on one labelled point)."""
    predicted = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    loss = pairwise_ranking_loss(predicted, torch.tensor([2.0]), 1.0)
    loss.backward()
    assert loss.item() == 0.0 and predicted.grad.tolist() == [0.0]
    module = LossPrediction(weight=1.0, margin=1.0)
    module.reset(torch.Generator().manual_seed(0), "cpu", 4)
    emb, logits = torch.randn(1, 4), torch.randn(1, 3)
    assert module.loss(None, None, torch.tensor([1]), logits, emb).item() == 0.0


def test_selection_takes_the_highest_predicted_losses():
    scores = torch.tensor([0.3, 2.0, -1.0, 2.0, 0.75])
    picks = learning_loss_select(scores, 3, torch.Generator())
    slow = sorted(range(5), key=lambda i: (-scores[i].item(), i))[:3]
    assert picks.index.tolist() == slow and picks.score.tolist() == [2.0, 2.0, 0.75]


@pytest.mark.filterwarnings("ignore:training stopped")
def test_the_module_learns_to_rank_the_classifiers_losses_on_digits():
    ds = dataset.load_digits(np.random.default_rng(0))
    module = LossPrediction(1.0, 1.0)
    learner = Learner("mlp", ds, "cpu", torch.Generator().manual_seed(0), n_emb=32, max_epochs=60,
                      extensions=[module])
    learner.training.fresh_modules()
    before = [p.clone() for p in module.parameters()]
    learner.train(np.arange(300))
    assert all(not torch.equal(a, b) for a, b in zip(before, module.parameters()))
    rest = np.arange(300, len(ds.y_train))
    probs = learner.predictor.probs(rest)
    true = -torch.log(probs[torch.arange(len(rest)), ds.y_train[rest]])
    rho = spearmanr(module.predict(learner.predictor.embeddings(rest)).numpy(), true.numpy()).statistic
    assert rho > 0.3


@pytest.mark.filterwarnings("ignore:training stopped")
def test_resume_is_bit_for_bit_with_the_module_in_the_checkpoint(tmp_path):
    state, config = resume_after_one_round(FLAGS, FOLDER, tmp_path)
    assert set(state["learner"]["extensions"]) == {"loss_prediction"}
    assert (config["lplWeight"], config["lplMargin"], config["trainer"]) == (1.0, 1.0, "torch")
