"""Inputs for the compiled MiniBatchKMeans step (kernels/kmeans_step.c): test_minibatch_kmeans.py runs this file as
a script on a build with AddressSanitizer and UBSan, in a process that preloads the sanitizer's runtime:

    python tests/kmeans_kernel_cases.py LIBRARY            # every edge case: scikit-learn's labels; prints "ok N"
    python tests/kmeans_kernel_cases.py LIBRARY --overrun  # then tells the kernel one batch row more than it holds"""
import ctypes
import sys
from pathlib import Path

import numpy as np
from sklearn.cluster import MiniBatchKMeans

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernels import kmeans as kmeans_kernel  # noqa: E402
from query_strategies.minibatch_kmeans import NearTie, compiled_labels  # noqa: E402
from sanitized import run_edge_cases  # noqa: E402

EDGES = [(700, 32, 60, 0), (1100, 13, 51, 1), (2100, 130, 70, 2), (400, 3, 120, 3), (300, 8, 300, 4)]
# (rows, features, clusters, seed): under one batch; a batch and a remainder with features not a multiple of the
# vector widths; 130 features (these three decided by the kernel); rounded 3-feature rows (duplicates) and one
# cluster per row (both end in a reported near tie)


def rows(n, d, seed):
    """max(0, N(0, 1)) rows, rounded to one decimal in 3 features (many duplicates)."""
    x = np.maximum(np.random.default_rng(seed).standard_normal((n, d)), 0)
    return np.round(x, 1) if d == 3 else x


def check(kern, case):
    """AssertionError unless the compiled path gives scikit-learn's labels for `case` (or reports a near tie)."""
    n, d, k, seed = case
    x = rows(n, d, seed)
    try:
        ours = compiled_labels(kern, x, k, seed)
    except NearTie:
        return
    assert np.array_equal(ours, MiniBatchKMeans(n_clusters=k, random_state=seed).fit_predict(x)), case


def overrun(kern):
    """Calls `nearest` with an argument structure that claims one row more than rows and prod hold (an
    out-of-bounds read that a sanitized build reports)."""
    x, centres = rows(8, 16, 0), rows(3, 16, 1)
    sq, index = np.einsum("ij,ij->i", x, x), np.arange(8)
    prod, csq, csq32 = (x @ centres.T).astype(np.float32), np.empty(3), np.empty(3, dtype=np.float32)
    labels = np.empty(9, dtype=np.int64)
    args = kmeans_kernel.Nearest(9, 3, 16, x.ctypes.data, sq.ctypes.data, index.ctypes.data, prod.ctypes.data,
                                 centres.ctypes.data, csq.ctypes.data, csq32.ctypes.data, labels.ctypes.data)
    kern.lib.nearest(ctypes.byref(args))


if __name__ == "__main__":
    run_edge_cases(kmeans_kernel.load, EDGES, check, overrun, *sys.argv[1:])
