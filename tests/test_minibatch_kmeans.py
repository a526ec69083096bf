"""scikit-learn's MiniBatchKMeans labels through the compiled step (query_strategies/minibatch_kmeans.py,
kernels/kmeans_step.c): the same labels as scikit-learn on varied inputs, taken by the compiled path itself (no
fallback), the decisions screened against their rounding bounds (a perturbed float32 screen is overruled, a near tie
is reported), and scikit-learn's own run where the kernel cannot decide or cannot be built."""
import numpy as np
import pytest
import torch
from sklearn.cluster import MiniBatchKMeans
from sklearn.datasets import make_blobs

import kmeans_kernel_cases
from cli import ROOT
from kernels import kmeans as kmeans_kernel
from query_strategies import minibatch_kmeans
from query_strategies.minibatch_kmeans import NearTie, Smoothed, compiled_labels, minibatch_kmeans_labels
from query_strategies.typiclust import kmeans_labels, thread_pools
from sanitized import assert_clean_then_overrun, built_or_skip, sanitized_build


@pytest.fixture
def kern():
    """The compiled k-means step, built into the session's cache; skips where it cannot be."""
    return built_or_skip(kmeans_kernel.state, "k-means step")


def relu_gaussian(n, d, seed, dtype=torch.float64):
    """max(0, N(0, 1)) embeddings in `dtype`, returned in float64 (bench/peers.py's TypiClust input)."""
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)).clamp_min_(0).to(dtype).double().numpy()


def sklearn_labels(x, k, seed):
    """scikit-learn's own labels, on one thread as typiclust runs it."""
    with thread_pools().limit(limits=1):
        return MiniBatchKMeans(n_clusters=k, random_state=seed).fit_predict(x)


CASES = {  # name: (rows, clusters, seed)
    "relu-gaussian float32, n = 5,000": lambda: (relu_gaussian(5000, 128, 0, torch.float32), 100, 11),
    "relu-gaussian float64, n = 2,500 (not a multiple of 1,024, under 3·1,024)": lambda: (relu_gaussian(2500, 64, 1),
                                                                                           100, 12),
    "gaussian blobs": lambda: (make_blobs(3000, 16, centers=20, random_state=2)[0], 60, 13),
    "duplicated rows": lambda: (np.repeat(relu_gaussian(500, 32, 3), 4, axis=0), 80, 14),
    "n = 700, under one batch": lambda: (relu_gaussian(700, 32, 4), 60, 15),
    "1,100 clusters": lambda: (relu_gaussian(3500, 32, 5), 1100, 7),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_labels_are_scikit_learns(kern, case):
    x, k, seed = CASES[case]()
    with thread_pools().limit(limits=1):
        ours = compiled_labels(kern, x, k, seed)
    assert np.array_equal(ours, sklearn_labels(x, k, seed))


def test_reassignment_is_scikit_learns(kern, monkeypatch):
    """Far outliers become k-means++ centres that few batch rows reach: their centres are reassigned (the spy sees
    it) and the labels are still scikit-learn's."""
    x = relu_gaussian(3000, 32, 6)
    x[:30] += 40 * np.eye(32)[np.arange(30) % 32]
    moved = []
    reassign = minibatch_kmeans.reassign
    monkeypatch.setattr(minibatch_kmeans, "reassign", lambda *a: moved.append(1) or reassign(*a))
    assert np.array_equal(compiled_labels(kern, x, 100, 3), sklearn_labels(x, 100, 3))
    assert moved


def test_exact_tie_falls_back_to_scikit_learn(kern):
    """Symmetric rows (±eᵢ, each 40 times) give candidates at other coordinates the same potential: the compiled
    path reports the tie, and minibatch_kmeans_labels returns scikit-learn's own labels."""
    x = np.repeat(np.vstack([np.eye(8), -np.eye(8)]), 40, axis=0)
    with pytest.raises(NearTie):
        compiled_labels(kern, x, 60, 0)
    assert np.array_equal(minibatch_kmeans_labels(x, 60, 0), sklearn_labels(x, 60, 0))


def screen_problem(gap):
    """One row x and two centres whose values ‖c‖² − 2x·c differ by `gap` (centre 0 the nearer), in float64."""
    rng = np.random.default_rng(0)
    x = rng.random((1, 16))
    c = np.vstack([x[0] + 0.5 * rng.standard_normal(16), np.zeros(16)])
    v0 = c[0] @ c[0] - 2 * x[0] @ c[0]
    c[1] = x[0] * (1 + np.sqrt(max(x[0] @ x[0] + v0 + gap, 0) / (x[0] @ x[0])))  # ‖x − c₁‖² = ‖x‖² + v0 + gap
    return x, c


def nearest_of(kern, x, c, prod):
    """(decided, label) of kern.nearest on one row with the float32 products `prod`."""
    labels = np.full(1, -5, dtype=np.int64)
    decided = kern.nearest(x, np.einsum("ij,ij->i", x, x), np.zeros(1, dtype=np.int64),
                           np.asarray(prod, dtype=np.float32).reshape(1, -1), c, labels)
    return decided, int(labels[0])


def test_screen_is_overruled_by_float64(kern):
    """A float32 screen whose error (within its bound) puts the farther centre first: the kernel ranks the row again
    in float64 and gives the nearer one; without that recheck the label would be 1."""
    x, c = screen_problem(1e-6)
    exact = (c @ x[0]).astype(np.float32)
    wrong = exact.copy()
    wrong[0] -= 2e-5  # centre 0's value ‖c‖² − 2x·c raised by 4e-5, under the screen's bound 2·22·ε₃₂·(‖x‖ + R)²
    csq = np.einsum("ij,ij->i", c, c).astype(np.float32)
    assert np.argmin(csq - 2 * wrong) == 1  # the screen alone would pick centre 1
    assert nearest_of(kern, x, c, wrong) == (True, 0)
    assert nearest_of(kern, x, c, exact) == (True, 0)


def test_near_tie_in_the_labels_is_reported(kern):
    """Two distinct centres within float64 rounding of each other: no label is given."""
    x, c = screen_problem(1e-15)
    assert not nearest_of(kern, x, c, c @ x[0])[0]


def test_equal_centres_take_the_first(kern):
    """Equal centres have equal values whatever the order of the sums: the lowest index is scikit-learn's label."""
    x, c = screen_problem(1.0)
    c = np.vstack([c[1], c[0], c[0]])
    assert nearest_of(kern, x, c, c @ x[0]) == (True, 1)


def test_smoothed_inertia_tie_is_reported():
    """The early stop's comparison within both values' bounds is a near tie."""
    smoothed = Smoothed(5000, 1024)
    smoothed.stop(2.0, 1e-12)
    with pytest.raises(NearTie):
        smoothed.stop(2.0, 1e-12)


def test_float32_rows_and_no_kernel_run_scikit_learn(monkeypatch):
    """float32 rows, or no C compiler ($CC=false): scikit-learn's own run; typiclust's kmeans_labels clusters a float32
    tensor's float64 upcast exactly as scikit-learn does."""
    x32 = relu_gaussian(1500, 16, 8).astype(np.float32)
    assert np.array_equal(minibatch_kmeans_labels(x32, 70, 1), sklearn_labels(x32, 70, 1))
    assert np.array_equal(kmeans_labels(x32.astype(np.float64), 70, 1), sklearn_labels(x32.astype(np.float64), 70, 1))
    monkeypatch.setenv("CC", "false")
    kmeans_kernel.state.cache_clear()
    try:
        assert kmeans_kernel.library() is None
        assert np.array_equal(minibatch_kmeans_labels(x32.astype(np.float64), 70, 1),
                              sklearn_labels(x32.astype(np.float64), 70, 1))
    finally:
        kmeans_kernel.state.cache_clear()


def test_arrays_are_checked_at_the_boundary(kern):
    """A wrong dtype or an index out of range is refused before a pointer is passed."""
    x, c = screen_problem(1.0)
    with pytest.raises(ValueError, match="prod must be a contiguous float32"):
        kern.nearest(x, np.ones(1), np.zeros(1, dtype=np.int64), np.zeros((1, 2)), c, np.zeros(1, dtype=np.int64))
    with pytest.raises(ValueError, match="rows must lie in"):
        kern.nearest(x, np.ones(1), np.ones(1, dtype=np.int64), np.zeros((1, 2), dtype=np.float32), c,
                     np.zeros(1, dtype=np.int64))


def test_the_edge_cases_run_clean_under_address_and_undefined_behaviour_sanitizers(kern, tmp_path):
    """Every edge case gives scikit-learn's labels (or a reported near tie) with no sanitizer report, built at -O1
    (kmeans_kernel_cases.py); then an overrun forced past kernels/kmeans.py's checks is reported (the sanitizer is
    live)."""
    lib, env = sanitized_build(tmp_path, kmeans_kernel.SOURCE, "-O1", "-ffp-contract=off")
    assert_clean_then_overrun(ROOT / "tests" / "kmeans_kernel_cases.py", lib, env, len(kmeans_kernel_cases.EDGES))
