"""The compiled parts of scikit-learn's MiniBatchKMeans (kmeans_step.c): built like the mlp epoch (kernels.build:
once per source, compiler and CPU, into the project cache), with -ffp-contract=off so that the centres' running
sums round as scikit-learn's, and loaded with ctypes. Where no compiler works, `library()` is None (`state()` says
why) and query_strategies/minibatch_kmeans.py runs scikit-learn's MiniBatchKMeans itself.

`KmeansStep`'s methods check every array's dtype, layout and size before a pointer is passed."""
import ctypes
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import FLAGS, built_state, open_library

SOURCE = Path(__file__).with_name("kmeans_step.c")
NEAR_TIE = -1  # kmeans_step.c's answer when a decision is within rounding error of going the other way
P, I64 = ctypes.c_void_p, ctypes.c_int64


class Kpp(ctypes.Structure):
    """kpp_step's argument structure (kmeans_step.c's field order)."""
    _fields_ = [("m", I64), ("d", I64), ("t", I64), ("u_t", I64), ("x", P), ("sq", P), ("prod", P), ("slack", P),
                ("cand", P), ("closest", P), ("work", P), ("pot", P), ("u", P), ("next", P),
                ("err_sum", ctypes.c_double)]


class Nearest(ctypes.Structure):
    """nearest's argument structure."""
    _fields_ = [("b", I64), ("k", I64), ("d", I64), ("x", P), ("sq", P), ("rows", P), ("prod", P), ("centres", P),
                ("csq", P), ("csq32", P), ("labels", P)]


class Update(ctypes.Structure):
    """update's argument structure."""
    _fields_ = [("b", I64), ("k", I64), ("d", I64), ("x", P), ("rows", P), ("labels", P), ("centres", P),
                ("counts", P), ("order", P), ("ratio", ctypes.c_double), ("out", P)]


def address(name, a, dtype, size):
    """The data pointer of `a`, after checking that it is a C-contiguous `dtype` array of `size` elements."""
    if not (isinstance(a, np.ndarray) and a.dtype == dtype and a.flags.c_contiguous and a.size == size):
        raise ValueError(f"kmeans_step's {name} must be a contiguous {np.dtype(dtype)} array of {size} elements")
    return a.ctypes.data


def check_range(name, a, n):
    """ValueError unless every entry of the integer array `a` lies in [0, n)."""
    if len(a) and not 0 <= a.min() <= a.max() < n:
        raise ValueError(f"kmeans_step's {name} must lie in [0, {n})")


@dataclass(frozen=True)
class KmeansStep:
    """The loaded library."""
    lib: ctypes.CDLL

    def kpp(self, x, sq, prod, slack, cand, closest, pot, u, err_sum):
        """One k-means++ round on the rows x (m × d, squared norms sq) for the candidates `cand` (t row indices,
        prod = x[cand]·xᵀ in float32, slack: each row's screen bound): updates closest (D²) and pot (1 value) to the
        kept candidate's; returns (its position in cand, the next round's candidates drawn from the uniforms u, or
        None without u), or None on a near tie."""
        (m, d), t, u_t = x.shape, len(cand), 0 if u is None else len(u)
        nxt, work = np.empty(u_t, dtype=np.int64), np.empty(max(t, 1) * m)
        args = Kpp(m, d, t, u_t, address("x", x, np.float64, m * d), address("sq", sq, np.float64, m),
                   address("prod", prod, np.float32, t * m), address("slack", slack, np.float64, m),
                   address("cand", cand, np.int64, t),
                   address("closest", closest, np.float64, m), work.ctypes.data, address("pot", pot, np.float64, 1),
                   None if u is None else address("u", u, np.float64, u_t), nxt.ctypes.data, err_sum)
        best = self.lib.kpp_step(ctypes.byref(args))
        return None if best == NEAR_TIE else (best, None if u is None else nxt)

    def nearest(self, x, sq, rows, prod, centres, labels):
        """labels[i] ← the nearest of the k `centres` to x[rows[i]] (prod: b × k float32 products of the rows and
        centres); False on a near tie."""
        (n, d), (b, k) = x.shape, prod.shape
        check_range("rows", rows, n)
        csq, csq32 = np.empty(k), np.empty(k, dtype=np.float32)  # held here while the kernel writes to them
        args = Nearest(b, k, d, address("x", x, np.float64, n * d), address("sq", sq, np.float64, n),
                       address("rows", rows, np.int64, b), address("prod", prod, np.float32, b * k),
                       address("centres", centres, np.float64, k * d), csq.ctypes.data,
                       csq32.ctypes.data, address("labels", labels, np.int64, b))
        return self.lib.nearest(ctypes.byref(args)) != NEAR_TIE

    def draw_rows(self, cdf, u):
        """cdf.searchsorted(u, side="right") for the non-decreasing cdf (float64) and u (float64 in [0, 1))."""
        rows = np.empty(len(u), dtype=np.int64)
        self.lib.draw_rows(address("cdf", cdf, np.float64, len(cdf)), len(cdf), address("u", u, np.float64, len(u)),
                           len(u), rows.ctypes.data)
        return rows

    def gather(self, x, sq, rows, xb, xb32, sqb):
        """xb ← x[rows], xb32 ← the same in float32, sqb ← sq[rows]."""
        (n, d), b = x.shape, len(rows)
        check_range("rows", rows, n)
        self.lib.gather(address("x", x, np.float64, n * d), address("sq", sq, np.float64, n),
                        address("rows", rows, np.int64, b), b, d, address("xb", xb, np.float64, b * d),
                        address("xb32", xb32, np.float32, b * d), address("sqb", sqb, np.float64, b))

    def update(self, x, rows, labels, centres, counts, ratio):
        """The batch's (inertia, its rounding bound); then the running means of the centres and their counts, in
        place (scikit-learn's minibatch update); last how many counts are below `ratio` × the largest, and how many
        are 0."""
        (n, d), (k, b) = x.shape, (len(centres), len(rows))
        check_range("labels", labels, k)
        out, order = np.empty(4), np.empty(b, dtype=np.int64)
        args = Update(b, k, d, address("x", x, np.float64, n * d), address("rows", rows, np.int64, b),
                      address("labels", labels, np.int64, b), address("centres", centres, np.float64, k * d),
                      address("counts", counts, np.float64, k), order.ctypes.data, ratio, out.ctypes.data)
        self.lib.update(ctypes.byref(args))
        return out


def load(path):
    """The KmeansStep in the library at `path`, its argument structures checked against the library's; Unavailable
    when it cannot be loaded."""
    lib = open_library(path, "k-means step", (("kpp", Kpp), ("nearest", Nearest), ("update", Update)))
    lib.kpp_step.restype, lib.kpp_step.argtypes = ctypes.c_int64, [ctypes.POINTER(Kpp)]
    lib.nearest.restype, lib.nearest.argtypes = ctypes.c_int64, [ctypes.POINTER(Nearest)]
    lib.update.restype, lib.update.argtypes = None, [ctypes.POINTER(Update)]
    lib.draw_rows.restype, lib.draw_rows.argtypes = None, [P, I64, P, I64, P]
    lib.gather.restype, lib.gather.argtypes = None, [P, P, P, I64, I64, P, P, P]
    return KmeansStep(lib)


@functools.cache
def state():
    """(KmeansStep, None) built (or found built) in the project cache and loaded, or (None, why not)."""
    return built_state(load, (*FLAGS, "-ffp-contract=off"), SOURCE)


def library():
    """The loaded KmeansStep, or None where it cannot be built here (state() says why)."""
    return state()[0]
