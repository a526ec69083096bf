"""What finding the already-built compiled mlp epoch costs at a run's start: kernels.build with the compiler's version
line remembered (cache/compilers.json, as every start after the first) against the same call with it forgotten,
which asks `$CC --version` in a subprocess as every start did before. Interleaved, median of --rounds each.

    python bench/kernel_start.py [--rounds 20]

Where no C compiler works (e.g. CC=false) it stops with one line saying so."""
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import flags  # noqa: E402

flags.starting(__name__)

import kernels  # noqa: E402
from strategy_params import positive  # noqa: E402


def timed(cache, forget):
    """Seconds of one kernels.build(cache) on a built library, with the remembered version line removed first when
    `forget`."""
    if forget:
        (cache / "compilers.json").unlink()
    start = time.perf_counter()
    kernels.build(cache)
    return time.perf_counter() - start


def interleaved(rounds):
    """{forget: [seconds of each round]} for both kinds of call, in a fresh cache where the library is built first;
    kernels.Unavailable when it cannot be built."""
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        kernels.build(cache)
        times = {False: [], True: []}
        for _ in range(rounds):
            for forget in times:
                times[forget].append(timed(cache, forget))
    return times


def main():
    """Prints both medians in ms and their ratio."""
    p = flags.parser(__doc__)
    p.add_argument("--rounds", type=positive(int), default=20, help="timed calls of each kind, interleaved")
    args = p.parse_args()
    try:
        times = interleaved(args.rounds)
    except kernels.Unavailable as e:
        flags.stop_without_kernel(e)
    remembered, asked = (statistics.median(times[f]) * 1e3 for f in (False, True))
    print(flags.conditions())
    print(f"version remembered: {remembered:.2f} ms; compiler asked: {asked:.2f} ms; ratio {asked / remembered:.1f}x")


if __name__ == "__main__":
    flags.command(main)
