"""LDM-S, NoiseStability, ALFA-Mix and VeSSAL (query_strategies/ldm.py, noise_stability.py, alfamix.py, vessal.py),
each against a slow reference written from the definition on small inputs, with the same generator stream; the
sampling law of VeSSAL; the learner's weight noise; and each strategy through run.main on digits, resumed bit for
bit."""
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from sklearn.cluster import KMeans
from sklearn.metrics.pairwise import cosine_distances

import dataset
import run
from learner import Learner
from query_strategies.alfamix import alfamix_select, candidates, class_anchors
from query_strategies.ldm import SIGMAS, ldm_estimates, ldm_select
from query_strategies.noise_stability import noise_stability_select
from query_strategies.selection import seed_from
from query_strategies.vessal import vessal_select

NOVEL = ["ldm", "noise_stability", "alfamix", "vessal"]


def random_inputs(n, d, C, seed):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, d, generator=g).clamp_min(0)
    W = torch.randn(C, d, generator=g) / d ** 0.5
    b = 0.1 * torch.randn(C, generator=g)
    probs = torch.softmax(emb @ W.T + b, 1)
    return probs, emb, W, b


def gradient_embeddings(probs, emb):
    """g_i = (onehot(argmax p_i) − p_i) ⊗ e_i, float64, (n, C·d), from the definition."""
    p, e = probs.double().numpy(), emb.double().numpy()
    a = -p
    a[np.arange(len(p)), p.argmax(1)] += 1
    return np.stack([np.outer(a[i], e[i]).ravel() for i in range(len(p))])


def fill_reference(chosen, n, k, generator):
    rest = [i for i in range(n) if i not in chosen]
    order = torch.randperm(len(rest), generator=generator).tolist()
    return chosen + [rest[j] for j in order[:k - len(chosen)]]


# --- VeSSAL ---------------------------------------------------------------------------------------------------------

def reference_vessal(probs, emb, k, generator, scaling=100.0):
    """The stream point by point: Σ̂_t averaged explicitly, A⁻¹ inverted afresh from λI + Σ_picked g gᵀ."""
    G = gradient_embeddings(probs, emb)
    n, D = G.shape
    u = torch.rand(n, generator=generator, dtype=torch.float64).numpy()
    A = np.eye(D) / scaling
    cov = np.zeros((D, D))
    chosen = []
    for t in range(n):
        if len(chosen) == k:
            break
        g = G[t]
        cov = t / (t + 1) * cov + np.outer(g, g) / (t + 1)
        A_inv = np.linalg.inv(A)
        quad = g @ A_inv @ g
        rate = (k - len(chosen)) / (n - t)
        p = rate / np.trace(cov @ A_inv) * quad if quad > 0 else 0.0
        if u[t] < p:
            chosen.append(t)
            A = A + np.outer(g, g)
    return fill_reference(chosen, n, k, generator)


@pytest.mark.parametrize("n,d,C,k,scaling", [(200, 6, 3, 20, 100.0), (300, 8, 4, 60, 100.0), (150, 5, 3, 10, 1.0),
                                             (80, 4, 2, 70, 100.0), (400, 6, 5, 5, 10.0)])
def test_vessal_same_picks_as_the_reference(n, d, C, k, scaling):
    probs, emb, _, _ = random_inputs(n, d, C, seed=n + k)
    ours = vessal_select(probs, emb, k, torch.Generator().manual_seed(3), scaling)
    assert ours.index.tolist() == reference_vessal(probs, emb, k, torch.Generator().manual_seed(3), scaling)
    streamed = ~np.isnan(ours.score)
    assert (ours.score[streamed] > 0).all() and np.isnan(ours.score[~streamed]).all()
    assert (np.diff(ours.index[streamed]) > 0).all()  # picks of the pass in stream order


def test_vessal_blocks_do_not_change_the_picks():
    """A pool long enough for several blocks and picks inside them (the block restarts after each pick)."""
    probs, emb, _, _ = random_inputs(3000, 4, 3, seed=1)
    ours = vessal_select(probs, emb, 40, torch.Generator().manual_seed(5))
    assert ours.index.tolist() == reference_vessal(probs, emb, 40, torch.Generator().manual_seed(5))


def test_vessal_sampling_law_of_the_first_two_points():
    """Point 0 is picked with probability k/n (tr(Σ̂₁A⁻¹) = g₀ᵀA⁻¹g₀); point 1, when point 0 was not, with
    ((k/(n−1)) · 2 q₁ / (q₀ + q₁)) capped at 1, q = gᵀA⁻¹g with A⁻¹ = I/λ."""
    probs, emb, _, _ = random_inputs(12, 3, 3, seed=9)
    n, k, trials = 12, 3, 4000
    G = gradient_embeddings(probs, emb)
    q0, q1 = (100 * G[:2] ** 2).sum(1)
    runs = [vessal_select(probs, emb, k, torch.Generator().manual_seed(s)) for s in range(trials)]
    first = [0 in r.index[~np.isnan(r.score)] for r in runs]
    assert stats.binomtest(sum(first), trials, k / n).pvalue > 1e-3
    second = [1 in r.index[~np.isnan(r.score)] for r, f in zip(runs, first) if not f]
    p1 = min(1.0, k / (n - 1) * 2 * q1 / (q0 + q1))
    assert stats.binomtest(sum(second), len(second), p1).pvalue > 1e-3


# --- LDM-S ----------------------------------------------------------------------------------------------------------

def reference_ldm(emb, ref, W, b, generator, stop):
    """Hypothesis by hypothesis, noise in chunks of `stop` draws as the definition fixes it; a last layer without a
    bias (b None) perturbed in its weights only."""
    u, r = emb.double().numpy(), ref.double().numpy()
    W0, b0 = W.double().numpy(), (np.zeros(len(W)) if b is None else b.double().numpy())
    y0, y0_ref = (u @ W0.T + b0).argmax(1), (r @ W0.T + b0).argmax(1)
    ldm = np.ones(len(u))
    for sigma in SIGMAS.tolist():
        calm = 0
        while calm < stop:
            N = torch.randn(stop, *W.shape, generator=generator, dtype=torch.float64).numpy()
            nu = np.zeros((stop, len(W))) if b is None else torch.randn(stop, len(b), generator=generator,
                                                                        dtype=torch.float64).numpy()
            for h in range(stop):
                Wh, bh = W0 + sigma * N[h], b0 + sigma * nu[h]
                rho = np.mean((r @ Wh.T + bh).argmax(1) != y0_ref)
                lower = ((u @ Wh.T + bh).argmax(1) != y0) & (ldm > rho)
                ldm[lower] = rho
                calm = 0 if lower.any() else calm + 1
                if calm == stop:
                    break
    return ldm


def reference_seeding(ldm, emb, k, generator):
    """The authors' seeding over the full cosine-distance matrix, in ascending LDM order."""
    order = np.argsort(ldm, kind="stable")
    L = ldm[order]
    q = L[min(k, len(L) - 1)]
    if q == 0:
        q = L[L > 0].min()
    gamma = np.exp(-np.maximum(L - q, 0) / q)
    gamma[k:] *= k / gamma[k:].sum()
    gamma = np.minimum(gamma, 1)
    D = cosine_distances(emb.double().numpy()[order])
    D[D < 1e-5] = 0
    u = torch.rand(k - 1, generator=generator, dtype=torch.float64).numpy()
    chosen, D2 = [0], np.full(len(L), np.inf)
    for t in range(k - 1):
        D2 = np.minimum(D2, D[chosen[-1]])
        w = (gamma * D2) ** 2
        w[chosen] = 0  # the authors redraw a point already chosen (a zero embedding is at distance 1 of itself)
        cum = np.cumsum(w)
        chosen.append(int(np.searchsorted(cum, u[t] * cum[-1], side="right")))
    return order[chosen].tolist()


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no bias"])
@pytest.mark.parametrize("n,d,C,k,stop", [(120, 6, 3, 15, 3), (200, 8, 4, 30, 2)])
def test_ldm_same_estimates_and_picks_as_the_reference(n, d, C, k, stop, bias):
    _, emb, W, b = random_inputs(n + 100, d, C, seed=n)
    b = b if bias else None
    emb, ref = emb[:n], emb[n:]
    ours = ldm_estimates(emb, ref, W, b, torch.Generator().manual_seed(1), stop)
    expected = reference_ldm(emb, ref, W, b, torch.Generator().manual_seed(1), stop)
    assert np.array_equal(ours.numpy(), expected)
    assert 0 < (expected < 1).sum()
    picked = ldm_select(emb, ref, W, b, k, torch.Generator().manual_seed(4), stop)
    gen = torch.Generator().manual_seed(4)
    ldm = reference_ldm(emb, ref, W, b, gen, stop)
    assert picked.index.tolist() == reference_seeding(ldm, emb, k, gen)
    assert np.array_equal(picked.score, ldm[picked.index])
    assert picked.index[0] == int(np.argmin(ldm))


def test_ldm_puts_no_noise_on_a_bias_the_last_layer_lacks():
    """A point whose embedding is zero has logits uWᵀ = 0 (a tie, predicted as class 0) under every weight
    perturbation of a layer without a bias (the mlp's), so no hypothesis flips it: LDM 1. Noise on an invented bias
    flipped it at the smallest σ, giving it LDM 0 and so the first pick."""
    _, emb, W, _ = random_inputs(60, 5, 3, seed=2)
    emb[0] = 0
    ldm = ldm_estimates(emb[:30], emb[30:], W, None, torch.Generator().manual_seed(0), stop=3)
    assert ldm[0] == 1 and (ldm[emb[:30].any(1)] < 1).all()
    with_bias = ldm_estimates(emb[:30], emb[30:], W, torch.zeros(3), torch.Generator().manual_seed(0), stop=3)
    assert with_bias[0] < 0.05  # a bias, even a zero one, is perturbed: the tie breaks at the smallest σ


# --- NoiseStability -------------------------------------------------------------------------------------------------

def reference_noise_stability(probs, noisy, k):
    """Features built point by point; k-center from a centre at the origin, the farthest point each time."""
    p, q = probs.double().numpy(), noisy.double().numpy()
    X = np.stack([np.concatenate([(q[j, i] - p[i]) / np.linalg.norm(p[i]) for j in range(len(q))])
                  for i in range(len(p))])
    D = np.linalg.norm(X, axis=1)
    chosen = []
    for _ in range(k):
        masked = np.where(np.isin(np.arange(len(X)), chosen), -np.inf, D)
        c = int(np.argmax(masked))
        chosen.append(c)
        D = np.minimum(D, np.linalg.norm(X - X[c], axis=1))
    return chosen


@pytest.mark.parametrize("n,C,K,k", [(100, 3, 5, 10), (300, 10, 4, 50), (40, 2, 3, 40)])
def test_noise_stability_same_picks_as_the_reference(n, C, K, k):
    g = torch.Generator().manual_seed(n)
    logits = 3 * torch.randn(n, C, generator=g)
    probs = torch.softmax(logits, 1)
    noisy = torch.softmax(logits + 0.05 * torch.randn(K, n, C, generator=g), 2)
    ours = noise_stability_select(probs, noisy, k, torch.Generator())
    assert ours.index.tolist() == reference_noise_stability(probs, noisy, k)
    assert (np.diff(ours.score) <= 1e-12).all()  # k-center's distances only fall


def test_predictor_weight_noise_has_the_stated_norm_and_scale_zero_changes_nothing():
    """noisy_probs equals the softmax of the network with W ← W + ξ·s‖W‖/‖ξ‖ for lm1's then head's weight (ξ from
    the generator in that order; biases untouched), and leaves the trained network as it was."""
    ds = dataset.load("digits", 0, "data", np.random.default_rng(0))
    gen = torch.Generator().manual_seed(1)
    learner = Learner("mlp", ds, "cpu", gen, max_epochs=60, kernel="off")
    learner.train(np.arange(100))
    predictor, idx = learner.predictor, np.arange(300)
    assert torch.allclose(predictor.noisy_probs(idx, 0.0, 2), predictor.probs(idx).expand(2, -1, -1))
    net = learner.model
    w1, b1, w2 = (p.detach().clone() for p in (net.lm1.weight, net.lm1.bias, net.head.weight))
    state = gen.get_state()
    noisy = predictor.noisy_probs(idx, 0.05, 1)[0]
    assert all(torch.equal(a, b) for a, b in zip((net.lm1.weight, net.lm1.bias, net.head.weight), (w1, b1, w2)))
    gen.set_state(state)
    xi1 = torch.randn(w1.shape, generator=gen)
    xi2 = torch.randn(w2.shape, generator=gen)
    v1, v2 = w1 + xi1 * 0.05 * w1.norm() / xi1.norm(), w2 + xi2 * 0.05 * w2.norm() / xi2.norm()
    expected = torch.softmax(torch.relu(ds.X_train[idx].flatten(1) @ v1.T + b1) @ v2.T, 1)
    assert torch.allclose(noisy, expected, atol=1e-6)
    assert (noisy - predictor.probs(idx)).abs().max() > 1e-4
    W, b = predictor.last_layer()
    assert torch.equal(W, w2) and b is None  # the mlp's head has no bias


# --- ALFA-Mix -------------------------------------------------------------------------------------------------------

def reference_candidates(probs, emb, lab_emb, lab_y, W, b, k, cap_step):
    """Per point and anchor, the authors' closed form with ∇ by autograd through the last layer."""
    u = emb.double().clone().requires_grad_(True)
    W64, b64 = W.double(), b.double()
    pred = probs.argmax(1)
    grad = torch.autograd.grad(F.cross_entropy(u @ W64.T + b64, pred, reduction="sum"), u)[0]
    u = u.detach()
    anchors = []
    for c in range(W.shape[0]):
        members = lab_emb[lab_y == c]
        anchors.append((members if len(members) else lab_emb).double().mean(0))
    chosen, cap = set(), 0.0
    while cap < 1.0:
        cap += cap_step
        eps = cap / u.shape[1] ** 0.5
        for i in range(len(u)):
            g = grad[i]
            if g.norm() == 0:
                continue
            for anchor in anchors:
                z = anchor - u[i]
                alpha = eps * z.norm() / g.norm() * g / (z + 1e-8)
                mix = (1 - alpha) * u[i] + alpha * anchor
                if int((mix @ W64.T + b64).argmax()) != int(pred[i]):
                    chosen.add(i)
        if len(chosen) > k:
            break
    return sorted(chosen)


def reference_alfamix(probs, emb, lab_emb, lab_y, W, b, k, generator, cap_step):
    """Candidates, then for each k-means cluster of their normalised embeddings the member nearest its centre (an
    empty cluster: the nearest candidate not yet taken), then uniform draws for what is missing."""
    cand = reference_candidates(probs, emb, lab_emb, lab_y, W, b, k, cap_step)
    chosen = []
    if cand:
        x = emb[cand].double().numpy()
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)  # as F.normalize: 0 stays 0
        m = min(k, len(cand))
        km = KMeans(n_clusters=m, n_init=10, random_state=seed_from(generator)).fit(x)
        labels, heads = km.predict(x), [None] * m
        for c in range(m):
            members = [j for j in range(len(x)) if labels[j] == c]
            if members:
                heads[c] = members[int(np.argmin([((x[j] - km.cluster_centers_[c]) ** 2).sum() for j in members]))]
        for c in range(m):
            if heads[c] is None:
                dist = [((x[j] - km.cluster_centers_[c]) ** 2).sum() if j not in heads else np.inf
                        for j in range(len(x))]
                heads[c] = int(np.argmin(dist))
        chosen = [cand[j] for j in heads]
    return fill_reference(chosen, len(emb), k, generator)


@pytest.mark.parametrize("n,d,C,k,cap", [(150, 6, 3, 10, 0.2), (200, 8, 4, 30, 0.2), (120, 5, 3, 100, 0.5),
                                         (100, 6, 3, 8, 0.03125)])
def test_alfamix_same_picks_as_the_reference(n, d, C, k, cap):
    probs, emb, W, b = random_inputs(n + 40, d, C, seed=n + k)
    lab_emb, lab_y = emb[n:], torch.arange(40) % (C - 1)  # the last class has no labelled point
    probs, emb = probs[:n], emb[:n]
    ours = alfamix_select(probs, emb, lab_emb, lab_y, W, b, k, torch.Generator().manual_seed(2), cap)
    assert ours.index.tolist() == reference_alfamix(probs, emb, lab_emb, lab_y, W, b, k,
                                                    torch.Generator().manual_seed(2), cap)
    assert len(set(ours.index.tolist())) == k


def test_alfamix_candidates_are_the_points_that_flip():
    """The two points on the decision boundary flip at the smallest cap, which then holds more than k = 1
    candidates; the confident ones far from it do not flip there. The pick is one of the two."""
    W, b = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.zeros(2)
    emb = torch.tensor([[1.0, 0.999], [5.0, 0.0], [0.999, 1.0], [0.0, 6.0]])
    probs = torch.softmax(emb @ W.T, 1)
    lab_emb, lab_y = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
    anchors = class_anchors(lab_emb, lab_y, 2)
    assert candidates(probs, emb, anchors, W, b, 1, 0.2).tolist() == [True, False, True, False]
    picked = alfamix_select(probs, emb, lab_emb, lab_y, W, b, 1, torch.Generator().manual_seed(0), 0.2)
    assert picked.index.tolist()[0] in (0, 2)


def test_alfamix_confident_point_keeps_the_direction_of_its_gradient():
    """Logits (20, 0): float32 rounds p_0 to 1, so p_0 − 1 is 0, yet ∇ = p_1 (W_1 − W_0) points toward class 1 and
    the mix with either anchor (2.5 away) flips at cap 1: a candidate, as float64 autograd's gradient makes it."""
    W, b = torch.tensor([[10.0, 0.0], [0.0, 10.0]]), torch.zeros(2)
    emb = torch.tensor([[2.0, 0.0]])
    probs = torch.softmax(emb @ W.T, 1)
    assert probs[0, 0] == 1
    lab_emb, lab_y = torch.tensor([[3.25, 2.165], [0.75, -2.165]]), torch.tensor([0, 1])
    assert reference_candidates(probs, emb, lab_emb, lab_y, W, b, 1, 0.2) == [0]
    assert candidates(probs, emb, class_anchors(lab_emb, lab_y, 2), W, b, 1, 0.2).tolist() == [True]


# --- through run.main -----------------------------------------------------------------------------------------------

FLAGS = ["--nStart", "30", "--nQuery", "10", "--nEmb", "32", "--maxEpochs", "15", "--seed", "7", "--ldmRef", "300",
         "--ldmPool", "500"]


def queries(out, alg):
    return pd.read_csv(out / f"digits_mlp_{alg}_10_seed7" / "queries.csv")


@pytest.mark.filterwarnings("ignore:training stopped")
@pytest.mark.parametrize("alg", NOVEL)
def test_runs_from_the_cli_and_resumes_bit_for_bit(alg, tmp_path):
    assert run.main(["--alg", alg, "--out", str(tmp_path / "whole"), "--nEnd", "60", *FLAGS]) == 0
    assert run.main(["--alg", alg, "--out", str(tmp_path / "parts"), "--nEnd", "40", *FLAGS]) == 0
    rounds_csv = tmp_path / "parts" / f"digits_mlp_{alg}_10_seed7" / "rounds.csv"
    round_0 = rounds_csv.read_text().splitlines()[:2]  # header, round 0
    assert run.main(["--alg", alg, "--out", str(tmp_path / "parts"), "--nEnd", "60", "--resume", *FLAGS]) == 0
    assert rounds_csv.read_text().splitlines()[:2] == round_0  # round 0 as trained before, not again
    whole = queries(tmp_path / "whole", alg)
    assert whole.groupby("round").size().to_dict() == {0: 30, 1: 10, 2: 10, 3: 10}
    assert whole["index"].is_unique
    assert whole.equals(queries(tmp_path / "parts", alg))


@pytest.mark.parametrize("flag,value", [("--ldmRef", "0"), ("--ldmStop", "-1"), ("--ldmPool", "-5"),
                                        ("--ldmPool", "x"), ("--noiseScale", "0"),
                                        ("--noiseDraws", "x"), ("--alphaCap", "-0.1"), ("--covInvScaling", "0"),
                                        ("--alphaCap", "1e-9"),  # 10⁹ passes over the pool: it ran for ever
                                        ("--alphaCap", "1")])  # the help said "below 1"; 5 ran as one cap of 5
def test_bad_parameter_values_are_refused_in_one_line(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_:
        run.main(["--alg", "vessal", flag, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("run.py: error:") and flag in err[-1]
