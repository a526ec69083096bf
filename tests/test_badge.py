"""BADGE (query_strategies/badge_sampling.py) against a slow reference that materialises every gradient embedding
g = (onehot(ŷ) − p) ⊗ e and runs k-means++ seeding on it with the same generator stream; and the CLI runs of the
four diversity strategies (badge, kdpp, kcenter, kmeans)."""
import numpy as np
import pytest
import torch
from scipy import stats

from cli import SHARED_DATA, SMALL, accuracy_lines, run_main
from query_strategies.badge_sampling import badge_select
from query_strategies.selection import FactoredPoints, draw_index, gradient_factor, kmeanspp


def gradient_embeddings(probs, emb):
    """g_i = (onehot(argmax p_i) − p_i) ⊗ e_i, straight from the definition, float64, shape (n, C·d)."""
    p, e = probs.double(), emb.double()
    a = -p
    for i, c in enumerate(p.argmax(1).tolist()):
        a[i, c] += 1
    return torch.einsum("nc,nd->ncd", a, e).reshape(len(p), -1).numpy()


def reference_badge(probs, emb, k, generator):
    """k-means++ seeding on explicit g: the largest ‖g‖ first, then inverse-CDF draws ∝ D² with one uniform each
    (uniform over the unchosen points once every D² is 0)."""
    G = gradient_embeddings(probs, emb)
    u = torch.rand(k - 1, generator=generator, dtype=torch.float64).numpy()
    picks = [int(np.argmax((G ** 2).sum(1)))]
    D2 = np.full(len(G), np.inf)
    for t in range(k - 1):
        D2 = np.minimum(D2, ((G - G[picks[-1]]) ** 2).sum(1))
        w = D2.copy()
        w[picks] = 0
        if w.sum() == 0:
            w = np.ones(len(G))
            w[picks] = 0
        cum = np.cumsum(w)
        picks.append(int(np.searchsorted(cum, u[t] * cum[-1], side="right")))
    return picks


def random_inputs(n, d, C, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, d, generator=g).clamp_min(0).to(dtype)
    probs = torch.softmax(3 * torch.randn(n, C, generator=g), 1).to(dtype)
    return probs, emb


@pytest.mark.parametrize("n,d,C,k,dtype", [(300, 16, 5, 40, torch.float32), (500, 32, 10, 120, torch.float64),
                                           (2000, 48, 10, 250, torch.float32), (60, 4, 3, 60, torch.float32)])
def test_same_picks_as_the_materialised_reference(n, d, C, k, dtype):
    probs, emb = random_inputs(n, d, C, seed=n + k, dtype=dtype)
    ours = badge_select(probs, emb, k, torch.Generator().manual_seed(7)).index.tolist()
    assert ours == reference_badge(probs, emb, k, torch.Generator().manual_seed(7))


def test_low_rank_embeddings_like_a_trained_network():
    """Embeddings of rank 6 in 64 dimensions (where the pruning bound is tight) and peaked predictions."""
    g = torch.Generator().manual_seed(3)
    emb = (torch.randn(1500, 6, generator=g) @ torch.randn(6, 64, generator=g)).relu()
    probs = torch.softmax(6 * torch.randn(1500, 10, generator=g), 1)
    ours = badge_select(probs, emb, 200, torch.Generator().manual_seed(1)).index.tolist()
    assert ours == reference_badge(probs, emb, 200, torch.Generator().manual_seed(1))


def test_first_pick_is_the_largest_gradient_norm():
    probs, emb = random_inputs(400, 20, 7, seed=2)
    first = int(badge_select(probs, emb, 1, torch.Generator().manual_seed(0)).index[0])
    assert first == int(np.argmax((gradient_embeddings(probs, emb) ** 2).sum(1)))


def test_duplicated_rows_never_give_an_index_twice():
    """12 distinct points, each 15 times: after 12 picks every remaining D is 0 and the draw turns uniform."""
    probs, emb = random_inputs(12, 8, 4, seed=5)
    probs, emb = probs.repeat(15, 1), emb.repeat(15, 1)
    picks = badge_select(probs, emb, 100, torch.Generator().manual_seed(3)).index.tolist()
    assert len(set(picks)) == 100
    assert len({i % 12 for i in picks[:12]}) == 12  # the distinct points come first: D² > 0 only for them
    assert picks == reference_badge(probs, emb, 100, torch.Generator().manual_seed(3))


def test_all_points_identical_or_with_zero_gradient():
    identical = badge_select(torch.full((30, 3), 1 / 3), torch.ones(30, 5), 30, torch.Generator().manual_seed(0)).index
    assert sorted(identical.tolist()) == list(range(30))
    one_hot = torch.eye(4)[torch.arange(40) % 4]  # p exactly one-hot: a = 0, g = 0 everywhere
    picks = badge_select(one_hot, torch.rand(40, 6), 25, torch.Generator().manual_seed(0)).index
    assert len(set(picks.tolist())) == 25


def test_second_pick_frequencies_follow_d_squared():
    """Chi-square test of 3000 second picks against D²(·, first pick) / Σ D²."""
    probs, emb = random_inputs(10, 6, 3, seed=11)
    emb[7] = emb[2]
    probs[7] = probs[2]  # a duplicate of a point: both have the same D², neither is the first pick
    points = FactoredPoints(gradient_factor(probs), emb)
    first = int(points.s.argmax())
    seconds = [int(kmeanspp(points, 2, torch.Generator().manual_seed(s), first).index[1]) for s in range(3000)]
    counts = np.bincount(seconds, minlength=10)
    G = gradient_embeddings(probs, emb)
    d2 = ((G - G[first]) ** 2).sum(1)
    assert counts[first] == 0
    assert stats.chisquare(counts[d2 > 0], 3000 * d2[d2 > 0] / d2.sum()).pvalue > 1e-3


@pytest.mark.parametrize("exponent", [-80, 64])
def test_picks_do_not_depend_on_the_embeddings_scale(exponent):
    """Embeddings scaled by 2^exponent (exact in float32): the same picks, and D² scores times 4^exponent. Before
    FactoredPoints rescaled e, 2^-80 gave other picks (the float32 bound underflowed and skipped points) and 2^64 a
    traceback (it overflowed); `run.py --alg badge` on features of about 10^18 ended in an IndexError."""
    probs, emb = random_inputs(300, 16, 5, seed=0)
    plain = badge_select(probs, emb, 30, torch.Generator().manual_seed(1))
    scaled = badge_select(probs, emb * 2.0 ** exponent, 30, torch.Generator().manual_seed(1))
    assert scaled.index.tolist() == plain.index.tolist()
    assert (scaled.score == plain.score * 4.0 ** exponent).all()


def test_draw_index_never_draws_zero_weight():
    w = torch.tensor([0.0, 2.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    assert [draw_index(w, [], u) for u in (0.0, 0.66, 0.67, 1 - 2 ** -53)] == [1, 1, 3, 3]
    assert draw_index(torch.zeros(4, dtype=torch.float64), [0, 2], 0.75) == 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_same_picks_on_cuda():
    probs, emb = random_inputs(3000, 64, 10, seed=4)
    cpu = badge_select(probs, emb, 200, torch.Generator().manual_seed(2)).index
    cuda = badge_select(probs.cuda(), emb.cuda(), 200, torch.Generator().manual_seed(2)).index
    assert cuda.tolist() == cpu.tolist()




@pytest.mark.slow
@pytest.mark.parametrize("alg", ["badge", "kdpp", "kcenter", "kmeans"])
def test_diversity_strategies_run_from_the_cli(tmp_path, request, alg):
    """Each of the four (two by their aliases) end to end on digits and on the real letter data (the conftest's
    2,000-row slice)."""
    proc = run_main("--alg", alg, "--out", tmp_path, *SMALL)
    assert proc.returncode == 0, proc.stderr
    assert [n for n, _ in accuracy_lines(proc.stdout)] == [50, 100, 150]
    if not (SHARED_DATA / "openml" / "6.csv").is_file():
        pytest.skip("the letter data (OpenML 6) is not in the shared data folder")
    proc = run_main("--alg", alg, "--out", tmp_path, *request.getfixturevalue("letter"))
    assert proc.returncode == 0, proc.stderr
    assert [n for n, _ in accuracy_lines(proc.stdout)] == [100, 150, 200]


@pytest.mark.parametrize("exponent", [-600, 600])
def test_float64_embeddings_past_float32s_range_give_the_same_picks(exponent):
    """Float64 embeddings × 2^±600: the picks of the unscaled ones, and D² scores of +∞ and 0 (past float64's
    range). 2^600 ended in an OverflowError (the scores' unit 1/scale², 2^1200, was computed first)."""
    probs, emb = random_inputs(300, 16, 5, seed=0)
    plain = badge_select(probs, emb.double(), 30, torch.Generator().manual_seed(1))
    scaled = badge_select(probs, emb.double() * 2.0 ** exponent, 30, torch.Generator().manual_seed(1))
    assert scaled.index.tolist() == plain.index.tolist()
    assert (scaled.score == (np.inf if exponent > 0 else 0.0)).all()
