"""Training problems for the compiled mlp epoch and the obvious reference it must match: per minibatch autograd
cross-entropy, clip_grad_value_(0.1) and torch.optim.Adam. test_kernel.py draws problems with hypothesis; run as a
script, this file trains EDGES with the library given (the suite runs it on a build with AddressSanitizer and
UBSan, in a process that preloads the sanitizer's runtime):

    python tests/kernel_cases.py LIBRARY            # every edge case against the references (training, forward
                                                    # pass); prints "ok N"
    python tests/kernel_cases.py LIBRARY --overrun  # then tells the kernel one row more than its arrays hold"""
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import kernels  # noqa: E402
from training import ADAM_BETAS, ADAM_EPS, GRAD_CLAMP, batch_bounds  # noqa: E402
from model import MLP  # noqa: E402
from sanitized import run_edge_cases  # noqa: E402

LR = 1e-3
ATOL = 1e-5


@dataclass(frozen=True)
class Problem:
    """n rows of d features (Gaussian times `scale`; with zeros > 0, that fraction of them 0 and, unless `signed`,
    the rest made positive, as in images), C classes, hidden width H, minibatches of B, trained for `epochs` epochs
    from weights drawn with `seed`.

    Signed sparse features are the kernel's hard case: it computes x as its feature's minimum plus a sparse rest, and
    where the products x ∂h of a weight's gradient are all 0 (x = 0, or a ReLU's ∂h = 0), PyTorch's sum is exactly 0
    while minimum · Σ ∂h + Σ rest · ∂h would be rounding noise, which Adam's normalisation turns into a step of
    about lr."""
    n: int
    d: int
    H: int
    C: int
    B: int
    zeros: float = 0.0
    scale: float = 1.0
    signed: bool = False
    epochs: int = 2
    seed: int = 0


# n = 1, n < batch, d = 1, a last batch of one, one class, ..., signed features 0 in whole batches
EDGES = [Problem(1, 5, 16, 3, 8), Problem(7, 4, 32, 5, 64), Problem(30, 1, 16, 4, 8),
         Problem(17, 6, 48, 10, 8, zeros=0.7), Problem(33, 9, 80, 26, 16, zeros=0.5, scale=5.0),
         Problem(5, 3, 16, 1, 2), Problem(9, 2, 16, 2, 1, scale=3.0), Problem(2, 1, 16, 2, 1),
         Problem(40, 20, 144, 17, 39, zeros=0.9), Problem(40, 20, 16, 5, 4, zeros=0.9, signed=True),
         Problem(24, 7, 32, 3, 6, zeros=0.5, scale=4.0, signed=True)]


def data(p):
    """(X, y, orders) of problem p: features, labels and one shuffle per epoch."""
    g = torch.Generator().manual_seed(p.seed)
    X = torch.randn(p.n, p.d, generator=g) * p.scale
    if p.zeros:
        X = X if p.signed else X.abs()
        X[torch.rand(p.n, p.d, generator=g) < p.zeros] = 0
    y = torch.randint(p.C, (p.n,), generator=g)
    return X, y, [torch.randperm(p.n, generator=g) for _ in range(p.epochs)]


def model(p):
    """A fresh MLP of problem p's shape, its weights drawn from p.seed."""
    torch.manual_seed(p.seed)
    return MLP(p.d, p.C, p.H)


def reference(p):
    """The weights after training problem p the obvious way."""
    X, y, orders = data(p)
    net = model(p)
    adam = torch.optim.Adam(net.parameters(), lr=LR, betas=ADAM_BETAS, eps=ADAM_EPS)
    for order in orders:
        for a, b in batch_bounds(p.n, p.B):
            adam.zero_grad()
            F.cross_entropy(net(X[order[a:b]])[0], y[order[a:b]]).backward()
            torch.nn.utils.clip_grad_value_(net.parameters(), GRAD_CLAMP)
            adam.step()
    return [t.detach() for t in net.parameters()]


def compiled(kernel, p):
    """The weights after training problem p with `kernel`, and its epochs' accuracies."""
    X, y, orders = data(p)
    net = model(p)
    run = kernels.MlpEpoch(kernel, net, X, y, p.B, LR, GRAD_CLAMP, ADAM_BETAS, ADAM_EPS)
    accuracies = [run(order) for order in orders]
    return [t.detach() for t in net.parameters()], accuracies


def check(kernel, p):
    """AssertionError unless `kernel` trains problem p to the reference's weights (within ATOL)."""
    ours, accuracies = compiled(kernel, p)
    for mine, theirs in zip(ours, reference(p)):
        assert torch.allclose(mine, theirs, rtol=0, atol=ATOL), (p, (mine - theirs).abs().max())
    assert all(0 <= a <= 1 for a in accuracies), accuracies


def check_forward(kernel, p):
    """AssertionError unless `kernel`'s forward pass (kernels.MlpForward) gives PyTorch's outputs (within ATOL) on
    problem p's inputs, with its middle and last rows set to the features' minima (rows with no sparse entries,
    the last ones where sparse_fill writes without overrunning)."""
    X = data(p)[0]
    X[p.n // 2:p.n // 2 + 1] = X[-2:] = X.amin(0)
    net = model(p)
    with torch.no_grad():
        for ours, theirs in zip(kernels.MlpForward(kernel, X)(net), net(X)):
            assert torch.allclose(ours, theirs, rtol=0, atol=ATOL), (p, (ours - theirs).abs().max())


def overrun(kernel):
    """Passes the kernel an argument structure that claims one row more than its arrays hold (an out-of-bounds
    read of `order` that a sanitized build reports)."""
    p = EDGES[1]
    X, y, orders = data(p)
    run = kernels.MlpEpoch(kernel, model(p), X, y, p.B, LR, GRAD_CLAMP, ADAM_BETAS, ADAM_EPS)
    run.packed.n = p.n + 1
    kernel.epoch(run.packed)


def check_all(kernel, p):
    """check and check_forward for problem p: its training and its forward pass."""
    check(kernel, p)
    check_forward(kernel, p)


if __name__ == "__main__":
    run_edge_cases(kernels.load, EDGES, check_all, overrun, *sys.argv[1:])
