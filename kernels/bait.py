"""BAIT's compiled greedy step (bait_step.c): built like the mlp epoch (kernels.build: once per source, compiler
and CPU, into the project cache) and loaded with ctypes. Where no compiler works, `library()` is None (`state()`
says why) and query_strategies/bait_sampling.py runs its PyTorch step, which picks the same points.

`BaitStep.run` checks every tensor's dtype, shape, layout and the chunk's bounds before a pointer is passed."""
import ctypes
import functools
from dataclasses import dataclass
from pathlib import Path

import torch

from . import FLAGS, built_state, open_library

SOURCE = Path(__file__).with_name("bait_step.c")


class Step(ctypes.Structure):
    """bait_step.c's argument structure (its field order)."""
    _fields_ = [("T", ctypes.c_void_p), ("t_stride", ctypes.c_int64), ("t_double", ctypes.c_int64),
                ("root", ctypes.c_void_p),
                ("probs", ctypes.c_void_p), ("n_stride", ctypes.c_int64), ("X", ctypes.c_void_p),
                ("Y", ctypes.c_void_p), ("xy_stride", ctypes.c_int64), ("score", ctypes.c_void_p),
                ("C", ctypes.c_int64), ("m", ctypes.c_int64), ("sign", ctypes.c_double),
                ("shift", ctypes.c_double)]


def pointer(t, start):
    """Address of element `start` of t's last axis (row 0)."""
    return t.data_ptr() + start * t.element_size()


def check(name, t, dtype, shape):
    """ValueError unless `t` is a contiguous CPU tensor of `dtype` and `shape`."""
    if not (t.device.type == "cpu" and t.dtype == dtype and tuple(t.shape) == shape and t.is_contiguous()):
        raise ValueError(f"bait_step's {name} must be a contiguous CPU {dtype} tensor of shape {shape}, not "
                         f"{t.dtype} {tuple(t.shape)} on {t.device}")


@dataclass(frozen=True)
class BaitStep:
    """The loaded library."""
    lib: ctypes.CDLL

    def run(self, X, Y, root_t, probs_t, start, stop, sign, shift, T=None, score=None):
        """For candidates start .. stop of X, Y (C × C × n float64) and root_t, probs_t (C × n float64): with T
        (2C² × (stop − start) float32 or float64, the change's products), X and Y updated in place (bait_step.c); with
        `score` (n float64), score[start:stop] = tr(Y(shift·I + X)⁻¹) of the new values (shift = ±1)."""
        C, _, n = X.shape
        m = stop - start
        if not 0 <= start <= stop <= n:
            raise ValueError(f"bait_step's chunk {start}..{stop} is not within 0..{n}")
        if score is not None and shift not in (1.0, -1.0):
            raise ValueError(f"bait_step's shift must be 1 or -1 (its scores factor I + shift·X), not {shift}")
        for name, t, dtype, shape in (("X", X, torch.float64, (C, C, n)), ("Y", Y, torch.float64, (C, C, n)),
                                      ("root_t", root_t, torch.float64, (C, n)),
                                      ("probs_t", probs_t, torch.float64, (C, n))):
            check(name, t, dtype, shape)
        if T is not None:
            check("T", T, torch.float64 if T.dtype == torch.float64 else torch.float32, (2 * C * C, m))
        if score is not None:
            check("score", score, torch.float64, (n,))
        step = Step(T=None if T is None else T.data_ptr(), t_stride=m,
                    t_double=T is not None and T.dtype == torch.float64, root=pointer(root_t, start),
                    probs=pointer(probs_t, start), n_stride=n, X=pointer(X, start), Y=pointer(Y, start),
                    xy_stride=n, score=None if score is None else pointer(score, start), C=C, m=m, sign=sign,
                    shift=shift)
        if m and self.lib.bait_step(ctypes.byref(step)) == -2:
            raise MemoryError("the compiled bait step could not allocate its scratch space")


def load(path):
    """The BaitStep in the library at `path`, its argument structure checked against the library's; Unavailable
    when it cannot be loaded."""
    lib = open_library(path, "bait step", (("bait_step", Step),))
    lib.bait_step.restype, lib.bait_step.argtypes = ctypes.c_int64, [ctypes.POINTER(Step)]
    return BaitStep(lib)


@functools.cache
def state():
    """(BaitStep, None) built (or found built) in the project cache and loaded, or (None, why not)."""
    return built_state(load, FLAGS, SOURCE)


def library():
    """The loaded BaitStep, or None where it cannot be built here (state() says why)."""
    return state()[0]
