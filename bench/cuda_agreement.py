"""CPU-vs-CUDA agreement of the deterministic selections: the same synthetic inputs on both devices, the same picks.

    python bench/cuda_agreement.py [--n 5000] [--d 64] [--classes 10] [--k 100]

The first 100 pool points count as labelled. Prints one line per algorithm (`same` or how many picks differ)
and exits 1 when any differs. Needs CUDA."""
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the project's modules, from the repository root

from bench import flags  # noqa: E402

flags.starting(__name__)

import torch  # noqa: E402

from strategy_params import at_least, positive  # noqa: E402
from query_strategies.bait_sampling import bait_select  # noqa: E402
from query_strategies.core_set import coreset_select  # noqa: E402
from query_strategies.entropy_sampling import entropy  # noqa: E402
from query_strategies.least_confidence import least_confidence  # noqa: E402
from query_strategies.margin_sampling import smallest_margin  # noqa: E402
from query_strategies.selection import top_k  # noqa: E402

SELECTIONS = {
    "entropy": lambda p, e, m, k: top_k(entropy(p), k),
    "marg": lambda p, e, m, k: top_k(smallest_margin(p), k),
    "conf": lambda p, e, m, k: top_k(least_confidence(p), k),
    "coreset": lambda p, e, m, k: coreset_select(e, m, k, torch.Generator()),
    "bait": lambda p, e, m, k: bait_select(p, e, m, min(k, 20), torch.Generator(), lam=1.0),
}
LABELLED = 100


def main():
    """Print `same` or the differing picks per selection; exit 1 when any differs."""
    ap = flags.parser(__doc__)
    ap.add_argument("--n", type=at_least(LABELLED + 1), default=5000, help="pool points")
    ap.add_argument("--d", type=positive(int), default=64, help="embedding dimension")
    ap.add_argument("--classes", type=at_least(2), default=10, help="classes of the probabilities")
    ap.add_argument("--k", type=positive(int), default=100, help="points each algorithm selects (bait: at most 20)")
    args = ap.parse_args()
    if args.k > args.n - LABELLED:
        ap.error(f"--k {args.k} is more than the {args.n - LABELLED} unlabelled points (--n minus {LABELLED})")
    if not torch.cuda.is_available():
        ap.error("no CUDA device is available; it compares CPU and CUDA picks, so run it on a machine with a GPU")
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(args.n, args.d, generator=g).clamp_min_(0)
    probs = torch.softmax(3 * torch.randn(args.n, args.classes, generator=g), 1)
    mask = torch.zeros(args.n, dtype=torch.bool)
    mask[:LABELLED] = True
    differ = 0
    for name, select in SELECTIONS.items():
        cpu = select(probs, emb, mask, args.k).index
        gpu = select(probs.to("cuda"), emb.to("cuda"), mask.to("cuda"), args.k).index
        n_diff = len(set(cpu.tolist()) ^ set(gpu.tolist())) // 2
        differ += n_diff > 0
        print(f"{name:8s} {'same' if n_diff == 0 else f'{n_diff} of {len(cpu)} picks differ'}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    flags.command(main)
