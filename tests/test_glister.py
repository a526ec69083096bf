"""GLISTER (query_strategies/glister.py) against a slow reference that holds every gradient as a full vector
(bias, then weights) and the last layer's weights explicitly, takes the SGD steps on them and recomputes every
logit from scratch."""
import numpy as np
import pytest
import torch

from query_strategies.glister import glister_select


def gradient(W, b, e, y):
    """The cross-entropy gradient (bias, weights) of the layer z = We + b at (e, y), as one vector."""
    a = torch.softmax(W @ e + b, 0)
    a[y] -= 1
    return torch.cat([a, torch.outer(a, e).reshape(-1)])


def sgd_step(W, b, g, lr):
    """(W, b) − lr · g, g = (bias, weights) as one vector."""
    return W - lr * g[len(b):].reshape(W.shape), b - lr * g[:len(b)]


def reference_glister(W, b, emb, known, k, lr):
    C, d = W.shape
    pred = (emb @ W.T + b).argmax(1)
    labels = torch.where(torch.as_tensor(known) >= 0, torch.as_tensor(known), pred)
    g_cand = [gradient(W, b, emb[i], int(pred[i])) for i in range(len(emb))]
    labelled_sum = sum((gradient(W, b, emb[i], int(known[i])) for i in range(len(emb)) if known[i] >= 0),
                       torch.zeros(C * (d + 1), dtype=torch.float64))
    Wv, bv = sgd_step(W, b, labelled_sum, lr)
    free, rows, gains = set(np.flatnonzero(known < 0).tolist()), [], []
    for _ in range(k):
        g_val = sum(gradient(Wv, bv, emb[i], int(labels[i])) for i in range(len(emb))) / len(emb)
        gain = {j: float(g_cand[j] @ g_val) for j in sorted(free)}
        j = max(gain, key=lambda j: gain[j])
        rows.append(j)
        gains.append(gain[j])
        free.remove(j)
        Wv, bv = sgd_step(Wv, bv, g_cand[j], lr)
    return rows, gains


@pytest.mark.parametrize("n,d,C,n_lab,k,lr,seed", [(40, 4, 3, 8, 6, 0.5, 0), (30, 6, 4, 0, 5, 1e-4, 1),
                                                   (50, 3, 2, 10, 10, 2.0, 2)])
def test_same_picks_as_explicit_sgd_steps(n, d, C, n_lab, k, lr, seed):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(C, d, generator=g, dtype=torch.float64)
    b = torch.randn(C, generator=g, dtype=torch.float64)
    emb = torch.randn(n, d, generator=g, dtype=torch.float64)
    known = np.full(n, -1)
    lab = torch.randperm(n, generator=g)[:n_lab].numpy()
    known[lab] = torch.randint(C, (n_lab,), generator=g).numpy()
    probs = torch.softmax(emb @ W.T + b, 1)
    got = glister_select(probs, emb, known, k, torch.Generator(), lr=lr)
    rows, gains = reference_glister(W, b, emb, known, k, lr)
    assert got.index.tolist() == rows
    np.testing.assert_allclose(got.score, gains, rtol=1e-9, atol=1e-12)
