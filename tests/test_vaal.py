"""VAAL (`vaal`): its VAE loss and selection rule against slow references, the VAE and discriminator training
beside the classifier on digits, and --resume bit for bit with both in the checkpoint."""
import math

import numpy as np
import pytest
import torch

from cli import run_main
from extension_learner import digits_learner
from resumed import resume_after_one_round
from query_strategies.vaal import AdversarialVAE, vaal_select, vae_loss

FLAGS = ["--alg", "vaal", "--nStart", "30", "--nQuery", "10", "--nEnd", "50", "--nEmb", "32", "--maxEpochs", "8",
         "--seed", "4"]
FOLDER = "digits_mlp_vaal_10_seed4"


def vae_loss_by_loops(x, rec, mu, logvar, beta):
    """Per point: Σ (x − x̂)² + β·(−½ Σ_j (1 + log σ²_j − μ_j² − σ²_j)), averaged over points."""
    total = 0.0
    for xi, ri, mi, li in zip(x, rec, mu, logvar):
        kl = -0.5 * sum(1 + l - m * m - math.exp(l) for m, l in zip(mi, li))
        total += sum((a - b) ** 2 for a, b in zip(xi, ri)) + beta * kl
    return total / len(x)


def test_vae_loss_is_squared_error_plus_beta_kl():
    g = torch.Generator().manual_seed(0)
    x, rec, mu, logvar = (torch.randn(5, n, generator=g, dtype=torch.float64) for n in (7, 7, 3, 3))
    for beta in (1.0, 0.5):
        slow = vae_loss_by_loops(x.tolist(), rec.tolist(), mu.tolist(), logvar.tolist(), beta)
        assert vae_loss(x, rec, mu, logvar, beta).item() == pytest.approx(slow, rel=1e-12)


def test_selection_takes_the_points_least_likely_labelled():
    probability = [0.9, 0.1, 0.5, 0.1, 0.75]
    picks = vaal_select(probability, 3, torch.Generator())
    assert picks.index.tolist() == sorted(range(5), key=lambda i: (probability[i], i))[:3]
    assert picks.score.tolist() == pytest.approx([0.9, 0.9, 0.5])


@pytest.mark.filterwarnings("ignore:training stopped")
def test_the_vae_learns_the_inputs_and_the_discriminator_leans_to_the_labelled():
    ds, module, learner = digits_learner(lambda unlabelled: AdversarialVAE(unlabelled, 1.0, 1.0))
    X = ds.X_train

    def reconstruction_error():
        with torch.no_grad():
            module.eval()
            return (module.vae["decode"](module.encode(X)[0]) - X.flatten(1)).pow(2).sum(1).mean().item()

    learner.training.fresh_modules()
    before = reconstruction_error()
    learner.train(np.arange(200))
    assert reconstruction_error() < before / 2
    p = module.labelled_probability(X)
    assert p[:200].mean() > p[200:].mean()


@pytest.mark.filterwarnings("ignore:training stopped")
def test_resume_is_bit_for_bit_with_the_vae_in_the_checkpoint(tmp_path):
    state, config = resume_after_one_round(FLAGS, FOLDER, tmp_path)
    assert set(state["learner"]["extensions"]["vaal"]) == {"vae", "disc"}
    assert (config["vaalBeta"], config["vaalAdversary"]) == (1.0, 1.0)


@pytest.mark.filterwarnings("ignore:training stopped")
def test_a_run_that_labels_the_whole_pool_trains_without_an_unlabelled_minibatch(tmp_path):
    done = run_main("--alg", "vaal", "--nStart", "1617", "--nQuery", "10", "--nEnd", "1617", "--maxEpochs", "3",
                    "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "digits_mlp_vaal_10_seed1" / "rounds.csv").read_text().count("\n") == 2
