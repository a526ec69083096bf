"""BIM and DeepFool (query_strategies/adversarial_*.py): closed forms on hand-built models, the iteration caps,
and agreement of the batched attacks with one-point-at-a-time references written as the original's loops."""
import math

import pytest
import torch
from torch import nn

from cli import SMALL, accuracy_lines, run_main

from query_strategies.adversarial_bim import bim_perturbations, bim_scores
from query_strategies.adversarial_deepfool import deepfool_perturbations, deepfool_scores



class LinearNet(nn.Module):
    """logits = xWᵀ + b; the embedding is x."""

    def __init__(self, W, b):
        super().__init__()
        self.W, self.b = nn.Parameter(W), nn.Parameter(b)

    def forward(self, x):
        return x.flatten(1) @ self.W.T + self.b, x.flatten(1)


class TanhNet(nn.Module):
    """Two classes: f₀ = 0, f₁ = tanh(x₀) − 0.9; the boundary is x₀ = atanh(0.9), reached by Newton-like steps."""

    def forward(self, x):
        return torch.stack([torch.zeros_like(x[:, 0]), torch.tanh(x[:, 0]) - 0.9], 1), x


def random_mlp(d, C, seed):
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, C)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x), x

    return Net()


def predict(model, x):
    with torch.no_grad():
        return model(x)[0].argmax(1)


def reference_bim(model, x, eps, max_iter):
    """One point: x ← x + ε·sign(∇ CE(f(x), ŷ)) while the prediction is ŷ, at most max_iter steps."""
    label = predict(model, x[None])[0]
    delta = torch.zeros_like(x)
    for _ in range(max_iter):
        z = (x + delta)[None].requires_grad_(True)
        logits = model(z)[0]
        if logits.argmax(1)[0] != label:
            return delta, True
        grad, = torch.autograd.grad(nn.functional.cross_entropy(logits, label[None]), z)
        delta = delta + eps * grad[0].sign()
    return delta, bool(predict(model, (x + delta)[None])[0] != label)


def reference_deepfool(model, x, max_iter):
    """One point, as the original's loop (with the nearest boundary): while the prediction at x + r is the starting
    one and fewer than max_iter steps were taken, add the step to the nearest linearised boundary; (r, flipped)."""
    label = int(predict(model, x[None])[0])
    r = torch.zeros_like(x)
    for _ in range(max_iter):
        z = (x + r)[None].requires_grad_(True)
        logits = model(z)[0][0]
        if int(logits.argmax()) != label:
            return r, True
        grads = [torch.autograd.grad(logits[c], z, retain_graph=True)[0][0] for c in range(len(logits))]
        best, step = math.inf, torch.zeros_like(x)
        for k in range(len(logits)):
            w = grads[k] - grads[label]
            gap = abs(float((logits[k] - logits[label]).detach()))
            if k != label and w.norm() > 0 and gap / w.norm() < best:
                best, step = gap / w.norm(), gap / w.norm() ** 2 * w
        r = r + step
    return r, bool(predict(model, (x + r)[None])[0] != label)


def test_bim_on_a_linear_model_takes_the_closed_form_number_of_steps():
    # f₁ − f₀ = x₀ + 2x₁ − 1: every step ε·sign(1, 2) raises the margin by 0.15, so 7 steps flip from the origin.
    model = LinearNet(torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=torch.float64),
                      torch.tensor([0.0, -1.0], dtype=torch.float64))
    X = torch.zeros(1, 2, dtype=torch.float64)
    delta, flipped = bim_perturbations(model, X, eps=0.05, max_iter=100)
    assert flipped.tolist() == [True]
    assert torch.allclose(delta, torch.full((1, 2), 7 * 0.05, dtype=torch.float64))
    assert predict(model, X + delta).tolist() == [1]
    delta, flipped = bim_perturbations(model, X, eps=0.05, max_iter=5)  # the cap: 5 steps, no flip
    assert flipped.tolist() == [False]
    assert torch.allclose(delta, torch.full((1, 2), 5 * 0.05, dtype=torch.float64))


def test_bim_batch_equals_one_point_at_a_time():
    model = random_mlp(4, 3, seed=0)
    X = torch.randn(12, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    delta, flipped = bim_perturbations(model, X, eps=0.1, max_iter=15)
    assert flipped.any() and not flipped.all()
    for i in range(len(X)):
        ref_delta, ref_flipped = reference_bim(model, X[i], 0.1, 15)
        assert bool(flipped[i]) == ref_flipped
        assert torch.allclose(delta[i], ref_delta)
    moved = predict(model, X + delta)
    assert (moved[flipped] != predict(model, X)[flipped]).all()


def test_deepfool_takes_the_nearest_boundary_of_a_linear_model():
    # from the origin (class 0): the boundary with class 1 is at distance 1, with class 2 (the last) at 3; with no
    # overshoot the step lands on the boundary, where classes 0 and 1 tie and the prediction stays 0
    model = LinearNet(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64),
                      torch.tensor([0.0, -1.0, -3.0], dtype=torch.float64))
    r, flipped = deepfool_perturbations(model, torch.zeros(1, 2, dtype=torch.float64))
    assert r.tolist() == [[1.0, 0.0]] and flipped.tolist() == [False]
    assert deepfool_scores(model, torch.zeros(1, 2, dtype=torch.float64)).tolist() == [1.0]


def test_deepfool_score_is_the_closed_form_squared_distance_on_random_linear_models():
    """For f(x) = Wx + b from class l = argmax f(x): min over k ≠ l of (f_l − f_k)² / ‖W_k − W_l‖², reached in one
    step along W_k − W_l."""
    g = torch.Generator().manual_seed(2)
    W, b = torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)
    model = LinearNet(W, b)
    X = torch.randn(30, 4, generator=g, dtype=torch.float64)
    r, _ = deepfool_perturbations(model, X)
    scores = deepfool_scores(model, X)
    f, label = X @ W.T + b, predict(model, X)
    for i in range(len(X)):
        k0 = int(label[i])
        dist = {k: float((f[i, k0] - f[i, k]) / (W[k] - W[k0]).norm()) for k in range(5) if k != k0}
        nearest = min(dist, key=dist.get)
        direction = (W[nearest] - W[k0]) / (W[nearest] - W[k0]).norm()
        assert torch.allclose(r[i], dist[nearest] * direction)
        assert math.isclose(float(scores[i]), dist[nearest] ** 2, rel_tol=1e-9)
        assert torch.allclose(r[i], reference_deepfool(model, X[i], 50)[0])


def test_deepfool_stops_at_its_cap_and_scores_the_perturbation_reached():
    # Newton steps on tanh(x₀) = 0.9 from 0 approach the boundary x₀ = atanh(0.9) from below (tanh is concave
    # there): without overshoot the walk never crosses, and the score is ‖r‖² where the cap stopped it
    model, X = TanhNet(), torch.zeros(1, 2, dtype=torch.float64)
    for cap in (0, 1, 3, 50):
        r, flipped = deepfool_perturbations(model, X, max_iter=cap)
        ref_r, ref_flipped = reference_deepfool(model, X[0], cap)
        assert flipped.tolist() == [ref_flipped] and torch.allclose(r[0], ref_r)
        assert deepfool_scores(model, X, max_iter=cap).tolist() == [float(r[0].square().sum())]  # cap 0: r = 0
    r3, flipped3 = deepfool_perturbations(model, X, max_iter=3)
    assert 0 < r3[0, 0] < math.atanh(0.9) and r3[0, 1] == 0 and flipped3.tolist() == [False]
    assert math.isclose(float(deepfool_scores(model, X)[0]), math.atanh(0.9) ** 2, rel_tol=1e-12)
    assert float(deepfool_scores(model, X, max_iter=1)[0]) < float(deepfool_scores(model, X, max_iter=3)[0])


def test_deepfool_batch_equals_one_point_at_a_time():
    model = random_mlp(3, 4, seed=3)
    X = torch.randn(10, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    r, flipped = deepfool_perturbations(model, X, max_iter=50)
    for i in range(len(X)):
        ref_r, ref_flipped = reference_deepfool(model, X[i], 50)
        assert bool(flipped[i]) == ref_flipped
        assert torch.allclose(r[i], ref_r, atol=1e-10)
    assert (predict(model, X + r)[flipped] != predict(model, X)[flipped]).all()


class ReluNet(nn.Module):
    """Two classes: f₀ = 0, f₁ = relu(x₀) − 1; where x₀ < 0 no input gradient is left (a dead ReLU)."""

    def forward(self, x):
        return torch.stack([torch.zeros_like(x[:, 0]), torch.relu(x[:, 0]) - 1], 1), x


def test_a_point_without_input_gradient_ranks_last_for_deepfool_as_for_bim():
    """From x₀ = −5 no step leads anywhere (every w_k is 0): r = 0 scored 0, the closest of all, though the point
    never moved and never flipped; bim gives it +∞."""
    X = torch.tensor([[-5.0, 0.0], [0.5, 0.0], [2.0, 0.0]], dtype=torch.float64)
    r, flipped = deepfool_perturbations(ReluNet(), X)
    assert r[0].tolist() == [0.0, 0.0] and not flipped[0]
    scores = deepfool_scores(ReluNet(), X)
    assert scores.tolist()[:2] == [math.inf, 0.25] and scores.argsort().tolist()[-1] == 0
    assert math.isinf(bim_scores(ReluNet(), X)[0])


def test_scores_rank_the_closest_points_first_and_unflipped_bim_points_last():
    model = LinearNet(torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64),
                      torch.tensor([0.0, -1.0], dtype=torch.float64))  # boundary x₀ = 1
    X = torch.tensor([[0.0, 0.0], [0.9, 5.0], [-100.0, 0.0], [0.5, -1.0]], dtype=torch.float64)
    for score in (bim_scores, deepfool_scores):
        scores = score(model, X)
        assert scores.argsort().tolist() == [1, 3, 0, 2]
        assert score(model, X[[3, 0]]).tolist() == scores[[3, 0]].tolist()
    assert math.isinf(bim_scores(model, X)[2])  # 2,020 steps needed, the cap is 100
    assert torch.allclose(deepfool_scores(model, X),
                          torch.tensor([1.0, 0.1 ** 2, 101.0 ** 2, 0.5 ** 2], dtype=torch.float64))


@pytest.mark.slow
@pytest.mark.parametrize("alg", ["bim", "deepfool"])
@pytest.mark.parametrize("data", ["digits", "letter"])
def test_cli_runs(tmp_path, request, alg, data):
    flags = SMALL if data == "digits" else request.getfixturevalue("letter")
    proc = run_main("--alg", alg, "--out", tmp_path, *flags)
    assert proc.returncode == 0, proc.stderr
    assert [n for n, _ in accuracy_lines(proc.stdout)] == ([50, 100, 150] if data == "digits" else [100, 150, 200])


def test_a_point_on_a_boundary_scores_zero_for_deepfool():
    """x₀ = 1 ties f₀ and f₁ (ŷ = 0, the first): the nearest boundary is at distance 0, so r = 0 and the score is 0,
    the closest of all, as the original's; only a point no step can move (x₀ = −5, dead ReLU) scores +∞. The same
    on a linear model at a tie (x = (1, 1) with W = I)."""
    X = torch.tensor([[1.0, 0.0], [-5.0, 0.0], [0.5, 0.0]], dtype=torch.float64)
    assert deepfool_scores(ReluNet(), X).tolist() == [0.0, math.inf, 0.25]
    assert deepfool_scores(ReluNet(), X).tolist()[0] == float(reference_deepfool(ReluNet(), X[0], 50)[0].square().sum())
    model = LinearNet(torch.eye(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    scores = deepfool_scores(model, torch.tensor([[1.0, 1.0], [2.0, 1.0]], dtype=torch.float64)).tolist()
    assert scores[0] == 0.0 and math.isclose(scores[1], 0.5, rel_tol=1e-12)
