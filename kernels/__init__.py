"""The compiled training epoch and forward pass of the mlp on CPU (mlp_epoch.c): built once per source, compiler
and CPU with the system's C compiler into the cache folder and loaded with ctypes. Where no compiler works,
`library()` is None (and `state().reason` says why) and the learner trains and infers with PyTorch (the same
semantics; only float rounding differs).

The C side defines each function's argument structure (MlpTraining, MlpInference) and describes it
(mlp_training_fields, mlp_inference_fields); this module builds their ctypes structures from those descriptions
and checks every array against them before a pointer is passed. The training epoch allocates its own scratch
space."""
import ctypes
import functools
import hashlib
import json
import os
import platform
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("mlp_epoch.c")


def target_flags(system=sys.platform, machine=platform.machine()):
    """The compiler's target flag for this machine: -march=native, except on Apple silicon, whose clang (Xcode 14
    and older) refuses it and whose default target already has the vector unit (NEON) the kernels use."""
    return () if system == "darwin" and machine == "arm64" else ("-march=native",)


FLAGS = ("-O3", *target_flags(), "-fno-math-errno", "-shared", "-fPIC")
VECTOR = 16  # the kernel's vector width in floats: the hidden width must be a multiple of it
COMPILE_SECONDS = 120
SCALARS = {"i64": ctypes.c_int64, "f64": ctypes.c_double}
ARRAYS = {"i64_ptr": torch.int64, "i32_ptr": torch.int32, "f32_ptr": torch.float32}
EMPTY = (ctypes.c_int64 * 1)()  # what an array with no elements points to (a tensor's own pointer is then null)


class Unavailable(Exception):
    """Why the compiled epoch cannot be built or loaded here (one line)."""


def compiler():
    """The C compiler's command: $CC (split like a shell word list), else cc."""
    try:
        cc = shlex.split(os.environ.get("CC", "cc"))
    except ValueError as e:
        raise Unavailable(f"$CC cannot be read as a command ({e})") from None
    if not cc:
        raise Unavailable("$CC is empty")
    return cc


def trusted(path):
    """Whether a cached file may be used: a file of this user's that nobody else can write."""
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


def read_json(path):
    """The dict in the JSON file `path` when it is `trusted`, else {} (also when missing or unreadable)."""
    try:
        return json.loads(path.read_text()) if trusted(path) else {}
    except (OSError, ValueError):
        return {}


def without_apple_tools(real, system=sys.platform):
    """Whether the compiler binary `real` is one of macOS's /usr/bin shims while the Command Line Tools are missing
    (`xcode-select -p` fails): running it would open their installer's dialog, in every process."""
    if system != "darwin" or not real.startswith("/usr/bin/"):
        return False
    try:
        return subprocess.run(["xcode-select", "-p"], capture_output=True, timeout=30).returncode != 0
    except (OSError, subprocess.SubprocessError):
        return True


def compiler_version(cc, cache):
    """The first line of `cc --version`. It is asked once per compiler binary: cache/compilers.json keeps it under
    the command and the binary's resolved path, size and modification time, so a start costs no subprocess and a
    changed compiler is asked again."""
    found = shutil.which(cc[0])
    if found is None:
        raise Unavailable(f"no C compiler {cc[0]!r} was found (set $CC to one)")
    real = os.path.realpath(found)
    st = os.stat(real)
    key = json.dumps([cc, real, st.st_size, st.st_mtime_ns])
    book = cache / "compilers.json"
    known = read_json(book)
    if key not in known:
        if without_apple_tools(real):
            raise Unavailable(f"{shlex.join(cc)} needs the Command Line Tools, which are not installed "
                              f"(xcode-select --install)")
        try:
            done = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as e:
            raise Unavailable(f"{shlex.join(cc)} --version failed ({e})") from None
        if done.returncode != 0:
            raise Unavailable(f"{shlex.join(cc)} --version exited with status {done.returncode}")
        known[key] = (done.stdout.splitlines() or [""])[0].strip()
        write_atomic(book, json.dumps(known, indent=1))
    return known[key]


def write_atomic(path, text):
    """Writes `text` to `path` through a temporary file in its folder (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as f:
        f.write(text)
    os.replace(f.name, path)


def build(cache, flags=FLAGS, source=SOURCE):
    """Path of the library compiled from `source` with `flags` in `cache`, compiling it when missing (or not
    `trusted`); raises Unavailable saying why when there is no working compiler or the compilation fails."""
    cc = compiler()
    try:
        version = compiler_version(cc, cache)
        text = source.read_text(encoding="utf-8")
        key = hashlib.sha256("\0".join([text, " ".join(cc), version, " ".join(flags), cpu_identity()]).encode())
        lib = cache / f"{source.stem}-{key.hexdigest()[:16]}.so"
        if lib.exists() and trusted(lib):
            return lib
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            out = Path(tmp) / lib.name
            done = subprocess.run([*cc, *flags, "-o", str(out), str(source), "-lm"], capture_output=True, text=True,
                                  timeout=COMPILE_SECONDS)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no message"])[-1]
                raise Unavailable(f"{shlex.join(cc)} could not compile kernels/{source.name}: {last}")
            os.replace(out, lib)  # atomic: a concurrent build of the same key writes the same file
    except subprocess.TimeoutExpired:
        raise Unavailable(f"compiling kernels/{source.name} took more than {COMPILE_SECONDS} s") from None
    except OSError as e:
        raise Unavailable(f"the kernel could not be built in {cache} ({e})") from None
    return lib


def parse_fields(text):
    """[(type, name, shape)] from mlp_training_fields()'s "type name shape;" items; shape is None for a scalar, else
    a tuple of extents, each a list of the fields and numbers it sums."""
    fields = []
    for item in filter(None, text.split(";")):
        kind, name, *shape = item.split(maxsplit=2)
        if kind not in SCALARS and kind not in ARRAYS:
            raise Unavailable(f"kernels/mlp_epoch.c declares a field {name} of unknown type {kind}")
        dims = tuple([t.strip() for t in extent.split("+")] for extent in shape[0].split(",")) if shape else None
        fields.append((kind, name, dims))
    return fields


@dataclass(frozen=True)
class Signature:
    """One kernel function's argument structure: the function's name, its fields (parse_fields) and ctypes form."""
    name: str
    fields: list
    structure: type

    def pack(self, **values):
        """The argument structure holding `values` (a number per scalar field, a tensor per array field), after
        checking that they are exactly its fields, that the sizes (every scalar count but nnz) are positive and the
        hidden width (where there is one) whole vectors, and that each tensor is a contiguous CPU tensor of its
        field's dtype and shape; ValueError otherwise."""
        names = [name for _, name, _ in self.fields]
        if sorted(values) != sorted(names):
            raise ValueError(f"{self.name} takes the fields {names}, not {sorted(values)}")
        sizes = {name: values[name] for kind, name, _ in self.fields if kind == "i64"}
        if any(v < 1 for k, v in sizes.items() if k != "nnz"):
            raise ValueError(f"{self.name} needs positive sizes, not {sizes}")
        if sizes.get("H", VECTOR) % VECTOR:
            raise ValueError(f"{self.name} needs a hidden width that is a multiple of {VECTOR}, not {sizes['H']}")
        packed = self.structure()
        for kind, name, dims in self.fields:
            value = values[name]
            if dims is not None:
                check_array(f"{self.name}'s {name}", value, ARRAYS[kind], tuple(extent(d, sizes) for d in dims))
                value = value.data_ptr() or ctypes.addressof(EMPTY)
            setattr(packed, name, value)
        return packed


@dataclass(frozen=True)
class Kernel:
    """The loaded library with the argument structures of its training epoch, its forward pass and its sparse form
    of the inputs."""
    lib: ctypes.CDLL
    training: Signature
    inference: Signature
    sparse: Signature

    def pack(self, **values):
        """mlp_epoch's argument structure holding `values` (Signature.pack)."""
        return self.training.pack(**values)

    def epoch(self, packed):
        """Runs mlp_epoch on a structure from `pack`: the number of rows predicted right, or −1 when a logit was not
        finite; MemoryError when the kernel could not allocate its scratch space."""
        right = self.lib.mlp_epoch(ctypes.byref(packed))
        if right == -2:
            raise MemoryError("the compiled mlp epoch could not allocate its scratch space")
        return right

    def forward(self, **values):
        """Runs mlp_forward on `values` (checked by Signature.pack): writes their logits and emb."""
        self.lib.mlp_forward(ctypes.byref(self.inference.pack(**values)))

    def sparse_rows(self, X):
        """X (n × d, float32, contiguous) as base + s: base holds each feature's minimum (in images the background,
        so that s is sparse), s is returned as CSR (indptr int64, indices int32, values float32), its entries row
        after row, features ascending. ValueError when X does not fit (Signature.pack)."""
        n, d = X.shape
        base, indptr = torch.empty(d), torch.empty(n + 1, dtype=torch.int64)
        indices, values = torch.empty(0, dtype=torch.int32), torch.empty(0)
        sizes = dict(n=n, d=d, inputs=X, base=base, indptr=indptr)
        nnz = self.lib.sparse_count(ctypes.byref(self.sparse.pack(nnz=0, indices=indices, values=values, **sizes)))
        indices, values = torch.empty(nnz, dtype=torch.int32), torch.empty(nnz)
        self.lib.sparse_fill(ctypes.byref(self.sparse.pack(nnz=nnz, indices=indices, values=values, **sizes)))
        return base, indptr, indices, values


def extent(terms, sizes):
    """The sum of `terms`, each the name of a size in `sizes` or a number."""
    return sum(sizes[t] if t in sizes else int(t) for t in terms)


def check_array(name, t, dtype, shape):
    """ValueError unless `t` (the argument `name`) is a contiguous CPU tensor of `dtype` and `shape`."""
    if not (isinstance(t, torch.Tensor) and t.device.type == "cpu" and t.dtype == dtype and tuple(t.shape) == shape
            and t.is_contiguous()):
        got = f"{t.dtype} {tuple(t.shape)} on {t.device}" if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"{name} must be a contiguous CPU {dtype} tensor of shape {shape}, not {got}"
                         + ("" if not isinstance(t, torch.Tensor) or t.is_contiguous() else " (not contiguous)"))


def signature(lib, description, function, *more):
    """The Signature of `function` (and the `more` functions taking the same structure) in `lib`, its structure
    built from `description` (the name of the library's function that describes its fields; a sibling "..._size"
    gives the structure's size) and checked against it; Unavailable when they disagree."""
    describe, size = getattr(lib, f"{description}_fields"), getattr(lib, f"{description}_size")
    describe.restype, size.restype = ctypes.c_char_p, ctypes.c_int64
    fields = parse_fields(describe().decode())
    structure = type(description, (ctypes.Structure,),
                     {"_fields_": [(name, SCALARS.get(kind, ctypes.c_void_p)) for kind, name, _ in fields]})
    if ctypes.sizeof(structure) != size():
        raise Unavailable(f"kernels/mlp_epoch.c's argument structure of {function} does not match its description")
    for name in (function, *more):
        getattr(lib, name).argtypes = [ctypes.POINTER(structure)]
    return Signature(function, fields, structure)


def open_library(path, what, structures):
    """The ctypes library at `path`, each (name, Structure) of `structures` checked against the library's own
    `<name>_size()`; Unavailable (naming `what`) when it cannot be loaded or a structure differs."""
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as e:
        raise Unavailable(f"the compiled {what} could not be loaded ({e})") from None
    for name, structure in structures:
        size = getattr(lib, f"{name}_size")
        size.restype = ctypes.c_int64
        if ctypes.sizeof(structure) != size():
            raise Unavailable(f"the compiled {what}'s {name} structure does not match its Python description")
    return lib


def built_state(load_library, flags, source):
    """(the library of `source` built with `flags` into the project cache and loaded by `load_library`, None), or
    (None, why not)."""
    from dataset import cache_dir
    try:
        return load_library(build(cache_dir() / "kernels", flags, source)), None
    except (Unavailable, OSError) as e:
        return None, str(e)


def load(path):
    """The Kernel in the library at `path`, its argument structures built from the library's own descriptions and
    checked against their sizes; Unavailable when it cannot be loaded."""
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as e:
        raise Unavailable(f"the compiled kernel could not be loaded ({e})") from None
    training, inference = signature(lib, "mlp_training", "mlp_epoch"), signature(lib, "mlp_inference", "mlp_forward")
    sparse = signature(lib, "sparse_rows", "sparse_count", "sparse_fill")
    lib.mlp_epoch.restype, lib.sparse_count.restype = ctypes.c_int64, ctypes.c_int64
    lib.mlp_forward.restype = lib.sparse_fill.restype = None
    return Kernel(lib, training, inference, sparse)


@dataclass(frozen=True)
class Built:
    """The kernel as built here: the Kernel and the trainer's identity for config.json, or the reason why not."""
    kernel: Kernel = None
    identity: dict = None
    reason: str = None


@functools.cache
def state():
    """The kernel built (or found built) in the project cache and loaded, with its identity: the library's hash,
    the compiler's version line and a hash of the CPU's flags; or why it is unavailable here."""
    from dataset import cache_dir
    cache = cache_dir() / "kernels"
    try:
        path = build(cache)
        kernel = load(path)
        identity = {"path": "compiled", "library_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                    "compiler": compiler_version(compiler(), cache),
                    "cpu_flags_sha256": hashlib.sha256(cpu_identity().encode()).hexdigest()}
    except (Unavailable, OSError) as e:
        return Built(reason=str(e))
    return Built(kernel, identity)


def library():
    """The loaded Kernel, or None where it cannot be built here (state().reason says why)."""
    return state().kernel


def pays_off(X, batch, rows=10_000):
    """Whether the kernel is expected to beat the PyTorch path on inputs like X (n × ...) in minibatches of `batch`:
    per step the kernel costs about 16 ns per sample and entry that differs from its feature's minimum, PyTorch
    about 9.5 ns per sample and entry plus 150 µs, so the kernel is used when a row has on average at most
    0.6·d + 9000/batch such entries (measured on a 2-core x86-64 CPU: bench/kernel_crossover.py, BENCHMARKS.md).
    Judged on the first `rows` rows."""
    X = X[:rows].flatten(1)
    off = (X != X.amin(0)).sum(1, dtype=torch.float64).mean()
    return bool(off <= 0.6 * X.shape[1] + 9000 / batch)


class MlpEpoch:
    """Trains `model` (model.MLP, on the CPU) on (X, y) one epoch per call with the compiled kernel: minibatches of
    `batch` in the order given, clamped Adam with learning rate `lr`; its weights are updated in place. ValueError
    when an input does not fit the kernel (Kernel.pack)."""
    ADAM_STATE = ("m1", "v1", "mb", "vb", "m2", "v2", "step")  # the Adam moments and step count among its values

    def __init__(self, kernel, model, X, y, batch, lr, clamp, betas, eps):
        self.kernel, self.model = kernel, model
        X = X.flatten(1).contiguous()
        n, d = X.shape
        base, indptr, indices, values = kernel.sparse_rows(X)
        w1t = model.lm1.weight.detach().t().contiguous()
        b1, w2 = model.lm1.bias.detach(), model.head.weight.detach()
        m1, v1, mb, vb, m2, v2 = (torch.zeros_like(t) for t in (w1t, w1t, b1, b1, w2, w2))
        self.w1t, self.order, self.predicted = w1t, torch.arange(n), torch.empty(n, dtype=torch.int64)
        labels = y.to(torch.int64).contiguous()
        self.values = dict(n=n, d=d, H=model.lm1.out_features, C=model.head.out_features, B=batch, nnz=len(values),
                           indptr=indptr, indices=indices, values=values, base=base, labels=labels, order=self.order,
                           predicted=self.predicted, W1t=w1t, b1=b1, W2=w2, m1=m1, v1=v1, mb=mb, vb=vb, m2=m2, v2=v2,
                           step=torch.zeros(1, dtype=torch.int64), lr=lr, beta1=betas[0], beta2=betas[1], eps=eps,
                           clamp=clamp)
        self.packed = kernel.pack(**self.values)

    def __call__(self, order):
        """One epoch over the rows in `order` (int64, each in [0, n)); the fraction of rows predicted right before
        their step, or None when a logit was not finite."""
        n = self.values["n"]
        if order.shape != (n,) or order.dtype != torch.int64 or int(order.min()) < 0 or int(order.max()) >= n:
            raise ValueError(f"mlp_epoch's order must hold {n} int64 rows in [0, {n})")
        self.order.copy_(order)
        right = self.kernel.epoch(self.packed)
        with torch.no_grad():
            self.model.lm1.weight.copy_(self.w1t.t())
        return None if right < 0 else right / n

    def state_dict(self):
        """The Adam moments and step count (what a training snapshot saves)."""
        return {k: self.values[k] for k in self.ADAM_STATE}

    @torch.no_grad()
    def load_state_dict(self, state):
        """The Adam moments and step count as state_dict saved them, and the first layer's weights taken again
        from the model (after its load_state_dict); all copied in place, where the kernel reads them."""
        for k in self.ADAM_STATE:
            self.values[k].copy_(state[k])
        self.w1t.copy_(self.model.lm1.weight.t())


class MlpForward:
    """The outputs of model.MLP networks (on the CPU) on the rows of X through the compiled kernel's sparse first
    layer: X's CSR form (Kernel.sparse_rows) is built once, here; each row is computed alone, so that its outputs
    do not depend on the rows asked with it. ValueError when an input does not fit the kernel (Signature.pack)."""

    def __init__(self, kernel, X):
        self.kernel = kernel
        X = X.flatten(1).contiguous()
        self.n, self.d = X.shape
        self.base, self.indptr, self.indices, self.values = kernel.sparse_rows(X)

    def __call__(self, model, rows=None):
        """(logits m × C, embeddings m × H) of `model` on X's rows `rows` (int64 tensor, each in [0, n); default
        all): h = relu(s·W1ᵀ + (W1·base + b1)), logits = W2·h, the bracket computed once per call."""
        rows = torch.arange(self.n) if rows is None else rows
        if rows.dtype != torch.int64 or rows.dim() != 1 or not bool(((rows >= 0) & (rows < self.n)).all()):
            raise ValueError(f"mlp_forward's rows must be int64 rows in [0, {self.n})")
        w1, b1, w2 = (t.detach() for t in (model.lm1.weight, model.lm1.bias, model.head.weight))
        H, C = w1.shape[0], w2.shape[0]
        check_array("mlp_forward's W1", w1, torch.float32, (H, self.d))  # before W1·base + b1 is computed from them
        check_array("mlp_forward's b1", b1, torch.float32, (H,))
        logits, emb = torch.empty(len(rows), C), torch.empty(len(rows), H)
        if len(rows):
            self.kernel.forward(n=self.n, d=self.d, H=H, C=C, m=len(rows), nnz=len(self.values), indptr=self.indptr,
                                indices=self.indices, values=self.values, rows=rows.contiguous(),
                                W1t=w1.t().contiguous(), c=torch.addmv(b1, w1, self.base), W2=w2.contiguous(),
                                logits=logits, emb=emb)
        return logits, emb
