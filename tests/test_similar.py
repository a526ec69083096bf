"""SIMILAR's FLQMI and LogDetMI (query_strategies/similar.py) against slow references that evaluate the set
functions from scratch (determinants by numpy) for every candidate on the kernel of the materialised n × C(d + 1)
gradient rows; the query set and the gradient kernel."""
import numpy as np
import pytest
import torch

import run
from query_strategies.similar import flqmi_select, kernel, logdetmi_select, rare_class_rows, unit_gradients


def gradient_inputs(n, d, C, seed):
    """(probs, emb, labels) of n random points, labels the predicted classes."""
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(2 * torch.randn(n, C, generator=g, dtype=torch.float64), 1)
    return probs, torch.randn(n, d, generator=g, dtype=torch.float64), probs.argmax(1)


def materialised(probs, emb, labels):
    """The rows (onehot(y) − p) ⊗ (e, 1) built in full (n × C(d + 1)) and scaled to unit norm, a zero row left 0."""
    a = torch.nn.functional.one_hot(torch.as_tensor(labels).long(), probs.shape[1]).double() - probs.double()
    e = torch.cat([emb.double(), torch.ones(len(emb), 1, dtype=torch.float64)], 1)
    g = torch.einsum("ic,id->icd", a, e).reshape(len(a), -1)
    norm = g.norm(dim=1, keepdim=True)
    return torch.where(norm > 0, g / norm, 0.0)


def full_kernel(x, y):
    """(1 + x_i·y_j) / 2 on materialised unit rows."""
    return ((1 + x @ y.T) / 2).numpy()


def kernels(unl_rows, query_rows):
    """K_UU, K_QU, K_QQ of materialised unit rows."""
    return full_kernel(unl_rows, unl_rows), full_kernel(query_rows, unl_rows), full_kernel(query_rows, query_rows)


def rows(n, d, seed, C=3):
    """(unit gradients as the selections take them, the same rows materialised) of n random points."""
    probs, emb, labels = gradient_inputs(n, d, C, seed)
    return unit_gradients(probs, emb, labels), materialised(probs, emb, labels)


def flqmi(A, K_QU, eta):
    """Σ_q max_{j∈A} s_qj + η Σ_{j∈A} max_q s_jq (0 for an empty A)."""
    if not A:
        return 0.0
    return K_QU[:, A].max(1).sum() + eta * K_QU[:, A].max(0).sum()


def logdetmi(A, K_UU, K_QU, K_QQ, eta, lam):
    """log det(S_A) − log det(S_A − η² S_AQ S_Q⁻¹ S_QA)."""
    if not A:
        return 0.0
    S_A = K_UU[np.ix_(A, A)] + lam * np.eye(len(A))
    S_Q = K_QQ + lam * np.eye(len(K_QQ))
    cond = S_A - eta ** 2 * K_QU[:, A].T @ np.linalg.solve(S_Q, K_QU[:, A])
    return np.linalg.slogdet(S_A)[1] - np.linalg.slogdet(cond)[1]


def plain_greedy(f, n, k):
    A, gains = [], []
    for _ in range(k):
        base = f(A)
        gain = {j: f(A + [j]) - base for j in range(n) if j not in A}
        j = max(gain, key=lambda j: gain[j])
        A.append(j)
        gains.append(gain[j])
    return A, gains


@pytest.mark.parametrize("n,q,d,k,eta,seed", [(40, 5, 4, 8, 1.0, 0), (30, 3, 6, 10, 0.5, 1), (50, 8, 3, 6, 2.0, 2)])
def test_flqmi_same_picks_as_plain_greedy(n, q, d, k, eta, seed):
    (unl, unl_rows), (query, query_rows) = rows(n, d, seed), rows(q, d, seed + 100)
    K_QU = full_kernel(query_rows, unl_rows)
    want, gains = plain_greedy(lambda A: flqmi(A, K_QU, eta), n, k)
    got = flqmi_select(unl, query, k, torch.Generator(), eta=eta)
    assert got.index.tolist() == want
    np.testing.assert_allclose(got.score, gains, rtol=1e-9)


@pytest.mark.parametrize("n,q,d,k,eta,lam,seed", [(40, 5, 4, 8, 1.0, 1.0, 0), (30, 3, 6, 10, 0.5, 0.3, 1),
                                                  (25, 6, 3, 6, 1.0, 2.0, 2)])
def test_logdetmi_same_picks_as_plain_greedy(n, q, d, k, eta, lam, seed):
    (unl, unl_rows), (query, query_rows) = rows(n, d, seed), rows(q, d, seed + 100)
    K_UU, K_QU, K_QQ = kernels(unl_rows, query_rows)
    want, gains = plain_greedy(lambda A: logdetmi(A, K_UU, K_QU, K_QQ, eta, lam), n, k)
    got = logdetmi_select(unl, query, k, torch.Generator(), eta=eta, lam=lam)
    assert got.index.tolist() == want
    np.testing.assert_allclose(got.score, gains, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("lam", [1e-6, 1e4])
def test_logdetmi_at_the_ends_of_the_ridge_flags_range_picks_as_plain_greedy(lam):
    """The ends of --smiLambda's range: beyond them λ = 1e8 left every gain 0 and λ = 1e-300 every score NaN, the
    picks in row order."""
    (unl, unl_rows), (query, query_rows) = rows(40, 4, 0), rows(5, 4, 100)
    K_UU, K_QU, K_QQ = kernels(unl_rows, query_rows)
    want, _ = plain_greedy(lambda A: logdetmi(A, K_UU, K_QU, K_QQ, 1.0, lam), 40, 20)
    got = logdetmi_select(unl, query, 20, torch.Generator(), eta=1.0, lam=lam)
    assert got.index.tolist() == want and np.isfinite(got.score).all() and want != list(range(20))


def test_query_set_is_the_rarest_classes():
    labels = np.array([0, 0, 0, 1, 2, 2, 1, 0, 3, 3, 2])
    assert rare_class_rows(labels, 1).tolist() == [3, 6]  # classes 1 and 3 have two labels each: the lower
    assert rare_class_rows(labels, 2).tolist() == [3, 6, 8, 9]


def test_gradient_kernel_is_the_shifted_cosine_of_bias_and_weight_gradients():
    """The factored kernel against the cosine of the full gradients; a zero gradient (p the one-hot of its label)
    has cosine 0 with every row (kernel 1/2)."""
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(6, 3, generator=g, dtype=torch.float64), 1)
    probs[5] = torch.tensor([1.0, 0.0, 0.0])
    emb = torch.randn(6, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 2, 1, 0])
    grad = probs - torch.nn.functional.one_hot(y, 3)  # d loss / d bias; d loss / d W = that ⊗ e
    full = torch.cat([grad, torch.einsum("ic,id->icd", grad, emb).reshape(6, -1)], 1)
    cos = torch.nn.functional.cosine_similarity(full[:, None], full[None], dim=2)
    got = unit_gradients(probs, emb, y)
    assert torch.allclose(kernel(got, got), (1 + cos) / 2, rtol=0, atol=1e-12)
    assert (kernel(got, got)[5] == 0.5).all()


def tied_gradient_inputs(n, q, d, C, seed):
    """Random (probs, emb, labels) of q query rows then n unlabelled ones: row 1 a copy of row 0, unlabelled rows
    q + 1, q + 2 copies of row q and q + 3 of row 0, a zero gradient (p one-hot on its label) in rows q − 1 and
    q + 5."""
    probs, emb, labels = gradient_inputs(n + q, d, C, seed)
    for copy, source in ((1, 0), (q + 1, q), (q + 2, q), (q + 3, 0)):
        probs[copy], emb[copy], labels[copy] = probs[source], emb[source], labels[source]
    for zero in (q - 1, q + 5):
        probs[zero] = torch.nn.functional.one_hot(labels[zero], C).double()
    return probs, emb, labels


@pytest.mark.parametrize("seed", range(6))
def test_factored_gradients_pick_as_the_materialised_rows(seed):
    """FLQMI and LogDetMI on the factored gradients against the plain greedy on the kernel of the materialised
    n × C(d + 1) rows, with duplicate rows (ties: the lowest index first) and a zero gradient in both sets."""
    n, q, d, C, k = 24, 6, 5, 3, 10
    probs, emb, labels = tied_gradient_inputs(n, q, d, C, seed)
    grads, full = unit_gradients(probs, emb, labels), materialised(probs, emb, labels)
    unl, query, unl_rows, query_rows = grads[q:], grads[:q], full[q:], full[:q]
    K_UU, K_QU, K_QQ = kernels(unl_rows, query_rows)
    want, gains = plain_greedy(lambda A: flqmi(A, K_QU, 0.7), n, k)
    got = flqmi_select(unl, query, k, torch.Generator(), eta=0.7)
    assert got.index.tolist() == want
    np.testing.assert_allclose(got.score, gains, rtol=1e-12)
    want, gains = plain_greedy(lambda A: logdetmi(A, K_UU, K_QU, K_QQ, 0.8, 0.5), n, k)
    got = logdetmi_select(unl, query, k, torch.Generator(), eta=0.8, lam=0.5)
    assert got.index.tolist() == want
    np.testing.assert_allclose(got.score, gains, rtol=1e-8, atol=1e-12)


def test_logdetmi_refuses_an_eta_above_one_whose_conditioned_kernel_goes_indefinite():
    """η = 2: S_A − η² S_AQ S_Q⁻¹ S_QA has a negative pivot on these rows (its log would be NaN and every gain NaN);
    η = 1 keeps every pivot positive."""
    (unl, unl_rows), (query, query_rows) = rows(30, 4, 0), rows(5, 4, 100)
    both = torch.cat([query_rows, unl_rows])
    K = full_kernel(both, both) + np.eye(35)
    S_Q, S_QU = K[:5, :5], K[:5, 5:]
    assert (np.diag(K[5:, 5:]) - 4 * np.einsum("qu,qu->u", S_QU, np.linalg.solve(S_Q, S_QU))).min() < 0
    with pytest.raises(ValueError, match=r"logdetmi needs --smiEta in \(0, 1\], got 2:"):
        logdetmi_select(unl, query, 5, torch.Generator(), eta=2.0)
    with pytest.raises(ValueError, match=r"got 1.0000001:"):  # it said "got 1", a value it accepts
        logdetmi_select(unl, query, 5, torch.Generator(), eta=1.0000001)
    assert np.isfinite(logdetmi_select(unl, query, 5, torch.Generator(), eta=1.0).score).all()


def test_run_refuses_logdetmi_with_an_eta_above_one_in_one_line(tmp_path, capsys):
    assert run.main(["--alg", "logdetmi", "--smiEta", "2", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["run.py: error: logdetmi needs --smiEta in (0, 1], got 2: above 1 the conditioned kernel "
                   "S_A − η²·S_AQ·S_Q⁻¹·S_QA has no log-determinant; lower --smiEta"]
    assert not any(tmp_path.iterdir())
    # FLQMI's η weighs a sum: any η > 0
    assert run.main(["--alg", "flqmi", "--smiEta", "2", "--nStart", "50", "--nQuery", "10", "--nEnd", "60",
                     "--nEmb", "16", "--maxEpochs", "5", "--out", str(tmp_path)]) == 0
