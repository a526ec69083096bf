"""The compiled training epoch of the mlp on CPU (mlp_epoch.c): built once per source, compiler and CPU with the
system's C compiler into the cache folder and loaded with ctypes. Where no compiler works, `library()` is None and
the learner trains with PyTorch (the same semantics; only float rounding differs)."""
import ctypes
import functools
import hashlib
import os
import platform
import shlex
import stat
import subprocess
import tempfile
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("mlp_epoch.c")
FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-shared", "-fPIC")
VECTOR = 16  # the kernel's vector width in floats: the hidden width must be a multiple of it
COMPILE_SECONDS = 120

_I64, _PTR, _F64 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_double
ARGTYPES = [_I64] * 5 + [_PTR] * 16 + [_F64] * 5 + [_PTR] * 3


def compiler():
    """The C compiler's command: $CC (split like a shell word list), else cc."""
    return shlex.split(os.environ.get("CC", "cc"))


def trusted(path):
    """Whether a cached library may be loaded: a file of this user's that nobody else can write."""
    st = path.stat()
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def cpu_identity():
    """What the machine code depends on: the architecture and, on Linux, the CPU's feature flags."""
    flags = ""
    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")),
                     "")
    except OSError:
        pass
    return platform.machine() + flags


def build(cache):
    """Path of the compiled library in `cache`, compiling it when missing (or not `trusted`); None when the compiler
    fails or is absent."""
    try:
        cc = compiler()
        version = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    key = hashlib.sha256("\0".join([SOURCE.read_text(), " ".join(cc), version, " ".join(FLAGS),
                                    cpu_identity()]).encode())
    lib = cache / f"mlp_epoch-{key.hexdigest()[:16]}.so"
    try:
        if lib.exists() and trusted(lib):
            return lib
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            out = Path(tmp) / lib.name
            done = subprocess.run([*cc, *FLAGS, "-o", str(out), str(SOURCE), "-lm"], capture_output=True,
                                  timeout=COMPILE_SECONDS)
            if done.returncode != 0:
                return None
            os.replace(out, lib)  # atomic: a concurrent build of the same key writes the same file
    except (OSError, subprocess.SubprocessError):
        return None
    return lib


@functools.cache
def library():
    """The loaded kernel, or None where it cannot be built here."""
    from dataset import cache_dir
    path = build(cache_dir() / "kernels")
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(str(path))
    except OSError:
        return None
    lib.mlp_epoch.restype, lib.mlp_epoch.argtypes = _I64, ARGTYPES
    return lib


def pays_off(X, batch, rows=10_000):
    """Whether the kernel is expected to beat the PyTorch path on inputs like X (n × ...) in minibatches of `batch`:
    per step the kernel costs about 16 ns per sample and entry that differs from its feature's minimum, PyTorch
    about 9.5 ns per sample and entry plus 150 µs, so the kernel is used when a row has on average at most
    0.6·d + 9000/batch such entries (measured on a 2-core x86-64 CPU: bench/kernel_crossover.py, BENCHMARKS.md).
    Judged on the first `rows` rows."""
    X = X[:rows].flatten(1)
    off = (X != X.amin(0)).sum(1, dtype=torch.float64).mean()
    return bool(off <= 0.6 * X.shape[1] + 9000 / batch)


def sparse_rows(X):
    """X (n × d, float32) as base + s: base holds each feature's minimum (in images the background, so that s is
    sparse), s is returned as CSR (indptr int64, indices int32, values float32)."""
    base = X.amin(0)
    s = X - base
    rows, cols = (s != 0).nonzero(as_tuple=True)
    indptr = torch.zeros(len(X) + 1, dtype=torch.int64)
    torch.cumsum(torch.bincount(rows, minlength=len(X)), 0, out=indptr[1:])
    return base, indptr, cols.to(torch.int32), s[rows, cols].contiguous()


class MlpEpoch:
    """Trains `model` (model.MLP, on the CPU) on (X, y) one epoch per call with the compiled kernel: minibatches of
    `batch` in the order given, clamped Adam with learning rate `lr`; its weights are updated in place."""

    def __init__(self, lib, model, X, y, batch, lr, clamp, betas, eps):
        self.lib, self.model = lib, model
        X = X.flatten(1).contiguous()
        self.n, self.d = X.shape
        self.H, self.C = model.lm1.out_features, model.head.out_features
        self.batch, self.y = batch, y.to(torch.int64).contiguous()
        self.csr = sparse_rows(X)
        self.w1t = model.lm1.weight.detach().t().contiguous()
        self.b1, self.w2 = model.lm1.bias.detach(), model.head.weight.detach()
        self.moments = [torch.zeros_like(t) for t in (self.w1t, self.w1t, self.b1, self.b1, self.w2, self.w2)]
        self.step = torch.zeros(1, dtype=torch.int64)
        self.predicted = torch.empty(self.n, dtype=torch.int64)
        # scratch space as mlp_epoch lays it out; a batch has at most batch + 1 rows (a last batch of one joins it)
        cap, H, C, d = batch + 1, self.H, self.C, self.d
        Cp = -(-C // VECTOR) * VECTOR
        most = max(H, cap, Cp)
        self.work = torch.empty(2 * cap * H + 3 * H + C * H + Cp + C * cap + H * Cp + most + cap * d)
        self.iwork = torch.empty(most + d + 1 + cap * d, dtype=torch.int32)
        self.scalars = (lr, betas[0], betas[1], eps, clamp)

    def __call__(self, order):
        """One epoch over the rows in `order` (int64); the fraction of rows predicted right before their step, or
        None when a logit was not finite."""
        order = order.contiguous()
        ptr = torch.Tensor.data_ptr
        right = self.lib.mlp_epoch(
            self.n, self.d, self.H, self.C, self.batch, *map(ptr, self.csr[1:]), ptr(self.csr[0]), ptr(order),
            ptr(self.y), ptr(self.w1t), ptr(self.b1), ptr(self.w2), *map(ptr, self.moments), ptr(self.step),
            *self.scalars, ptr(self.predicted), ptr(self.work), ptr(self.iwork))
        with torch.no_grad():
            self.model.lm1.weight.copy_(self.w1t.t())
        return None if right < 0 else right / self.n
