"""The benchmarks' flags: a parser whose errors are one line (errors.Parser), whole numbers with a lower bound,
another checkout of this project for --compare, and the check that --device cuda has a GPU to run on."""
import argparse
from pathlib import Path

from errors import Parser

CHECKOUT_FILES = ("run.py", "learner.py")


def parser(doc):
    """A one-line-error parser described by the first paragraph of a benchmark's docstring (its usage
    examples follow it)."""
    return Parser(description=doc.split("\n\n")[0].replace("\n", " "))


def at_least(low):
    """argparse type: a whole number ≥ low."""
    def whole(text):
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
        if n < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {n}")
        return n
    return whole


positive = at_least(1)
count = at_least(0)


def checkout(text):
    """argparse type: the root of another checkout of this project (a folder holding run.py and learner.py)."""
    root = Path(text).expanduser().resolve()
    missing = [f for f in CHECKOUT_FILES if not (root / f).is_file()]
    if missing:
        raise argparse.ArgumentTypeError(f"{text} is not a checkout of this project (no {' or '.join(missing)} "
                                         f"there); give the root folder of the other checkout")
    return root


def check_device(p, device):
    """Stop with one line when `device` is cuda and torch sees no CUDA device."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda asked for, but no CUDA device is available; use --device cpu")
