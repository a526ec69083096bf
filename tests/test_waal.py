"""WAAL (`waal`): its query score, gradient penalty and both players' gradients against slow references, the critic
training beside the classifier on digits, and --resume bit for bit with the critic in the checkpoint."""
import copy
import math

import numpy as np
import pytest
import torch

import dataset
import run
from extension_learner import LABELLED, digits_learner
from model import MLP
from cli import assert_one_line_error, run_main
from resumed import resume_after_one_round
from query_strategies.waal import Critic, gradient_penalty, waal_select, waal_uncertainty, wasserstein_estimate

FLAGS = ["--alg", "waal", "--nStart", "30", "--nQuery", "10", "--nEnd", "50", "--nEmb", "32", "--maxEpochs", "8",
         "--seed", "4"]
FOLDER = "digits_mlp_waal_10_seed4"


def total_by_loops(p, d, selection):
    """½ sqrt(Σ_c (log p_c)²) + ½ Σ_c −log p_c − selection · d for one point."""
    logs = [math.log(max(q, torch.finfo(torch.float32).tiny)) for q in p]
    return 0.5 * math.sqrt(sum(v * v for v in logs)) + 0.5 * sum(-v for v in logs) - selection * d


def test_the_uncertainty_bound_is_lowest_for_the_uniform_prediction():
    probs = torch.tensor([[0.98, 0.01, 0.01], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]], dtype=torch.float64)
    bound = waal_uncertainty(probs)
    assert bound[1].item() == pytest.approx(0.5 * math.sqrt(3) * math.log(3) + 1.5 * math.log(3), rel=1e-12)
    assert bound.argmin().item() == 1 and torch.isfinite(bound).all()  # a zero probability is clamped, not -inf


@pytest.mark.parametrize("selection", [10.0, 0.5])
def test_selection_takes_the_lowest_uncertainty_bound_minus_the_critic_score(selection):
    g = torch.Generator().manual_seed(3)
    probs = torch.softmax(3 * torch.randn(40, 5, generator=g), dim=1)
    critic = torch.rand(40, generator=g)
    probs[7], critic[7] = probs[2], critic[2]  # a tie: the lower position first
    picks = waal_select(probs, critic, 12, torch.Generator(), selection)
    totals = [total_by_loops(p, d, selection) for p, d in zip(probs.double().tolist(), critic.double().tolist())]
    slow = sorted(range(40), key=lambda i: (totals[i], i))[:12]
    assert picks.index.tolist() == slow
    assert picks.score == pytest.approx([totals[i] for i in slow], rel=1e-9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_selection_on_cuda_outputs_picks_as_on_the_cpu():
    """The pool's probabilities and critic scores on a CUDA device (as --device cuda gives them): the bound was
    computed there and the critic scores moved to the CPU, and the subtraction of the two raised."""
    g = torch.Generator().manual_seed(3)
    probs, critic = torch.softmax(3 * torch.randn(40, 5, generator=g), dim=1), torch.rand(40, generator=g)
    cpu = waal_select(probs, critic, 12, torch.Generator(), 10.0)
    cuda = waal_select(probs.cuda(), critic.cuda(), 12, torch.Generator(), 10.0)
    assert cuda.index.tolist() == cpu.index.tolist() and np.array_equal(cuda.score, cpu.score)


def test_gradient_penalty_of_a_linear_critic_is_its_slope_norm_off_one():
    g = torch.Generator().manual_seed(0)
    critic = torch.nn.Linear(6, 1).double()
    z_u, z_l = torch.randn(4, 6, generator=g, dtype=torch.float64), torch.randn(4, 6, generator=g, dtype=torch.float64)
    penalty = gradient_penalty(critic, z_u, z_l, torch.rand(4, generator=g, dtype=torch.float64))
    assert penalty.item() == pytest.approx((critic.weight.norm().item() - 1) ** 2, rel=1e-12)


def penalty_by_rows(critic, z_u, z_l, mix):
    """The gradient penalty one row at a time: (‖∂D(r)/∂r‖ − 1)² for each interpolate, z_U and z_L row, averaged."""
    rows = [u + m * (v - u) for u, v, m in zip(z_u, z_l, mix)] + list(z_u) + list(z_l)
    terms = []
    for r in rows:
        r = r.detach().requires_grad_()
        grad = torch.autograd.grad(critic(r[None]).sum(), r, create_graph=True)[0]
        terms.append((grad.norm() - 1) ** 2)
    return sum(terms) / len(terms)


def test_the_features_descend_and_the_critic_ascends_the_wasserstein_estimate():
    ds = dataset.load_digits(np.random.default_rng(0))
    X, alpha, penalty = ds.X_train, 0.5, 2.0
    unlabelled = np.arange(100, len(X))
    critic = Critic(lambda: unlabelled, alpha, penalty)
    critic.see_pool(X)
    gen = torch.Generator().manual_seed(1)
    model = MLP(X.shape[1], 10, 16)
    critic.reset(gen, torch.device("cpu"), 16)
    critic.train()
    critic.eval()  # γ and the unlabelled rows read; no dropout, so a copy of the critic computes the same D
    x, y = X[:8], ds.y_train[:8]
    logits, emb = model(x)
    state = gen.get_state()
    net, crit = list(model.lm1.parameters()), critic.parameters()  # the head does not reach the embedding
    got = torch.autograd.grad(critic.loss(model, x, y, logits, emb), net + crit)

    gen.set_state(state)
    z_u = model(X[unlabelled[torch.randint(len(unlabelled), (8,), generator=gen)]])[1]
    mix = torch.rand(8, generator=gen)
    gamma, held = 100 / (len(X) - 100), copy.deepcopy(critic.net)
    features = alpha * wasserstein_estimate(held(z_u), held(model(x)[1]), gamma)
    want_net = torch.autograd.grad(features, net)
    z_u, z_l = z_u.detach(), emb.detach()
    ascent = -alpha * wasserstein_estimate(critic.net(z_u), critic.net(z_l), gamma)
    want_crit = torch.autograd.grad(ascent + alpha * penalty * penalty_by_rows(critic.net, z_u, z_l, mix), crit)
    assert all(a.abs().sum() > 0 for a in got[:len(net)])  # the adversarial term reaches the network's features
    for a, b in zip(got, want_net + want_crit):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.filterwarnings("ignore:training stopped")
def test_the_critic_raises_its_estimate_while_the_classifier_trains_on_digits():
    ds, module, learner = digits_learner(lambda unlabelled: Critic(unlabelled, 0.002, 2.0))
    gamma = LABELLED / (len(ds.y_train) - LABELLED)

    def estimate(net):
        with torch.no_grad():
            d = module.score(net.eval()(ds.X_train)[1])
        return wasserstein_estimate(d[LABELLED:], d[:LABELLED], gamma).item()

    before = estimate(learner.training.fresh_modules())
    learner.train(np.arange(LABELLED))
    assert estimate(learner.model) > before + 0.1


@pytest.mark.filterwarnings("ignore:training stopped")
def test_resume_is_bit_for_bit_with_the_critic_in_the_checkpoint(tmp_path):
    state, config = resume_after_one_round(FLAGS, FOLDER, tmp_path)
    assert set(state["learner"]["extensions"]) == {"waal_critic"}
    assert set(state["learner"]["extensions"]["waal_critic"]) == {"0.weight", "0.bias", "3.weight", "3.bias"}
    assert (config["waalAlpha"], config["waalPenalty"], config["waalSelection"]) == (0.002, 2.0, 10.0)


@pytest.mark.parametrize("flag", ["--waalAlpha", "--waalPenalty", "--waalSelection"])
def test_a_parameter_that_is_not_positive_is_refused_with_one_line(flag):
    assert_one_line_error(run_main("--alg", "waal", flag, "0"), flag)


@pytest.mark.filterwarnings("ignore:training stopped")
def test_a_run_that_labels_the_whole_pool_trains_without_an_unlabelled_minibatch(tmp_path):
    assert run.main(["--alg", "waal", "--nStart", "1617", "--nQuery", "10", "--nEnd", "1617", "--maxEpochs", "3",
                     "--out", str(tmp_path)]) == 0
    assert (tmp_path / "digits_mlp_waal_10_seed1" / "rounds.csv").read_text().count("\n") == 2
