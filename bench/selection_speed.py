"""Time one selection algorithm on synthetic inputs; the last line printed is JSON.

    python bench/selection_speed.py --alg badge --n 20000 --d 128 --classes 10 --k 1000
    python bench/selection_speed.py --alg coreset --n 50000 --d 512 --k 1000 --labeled 1000
    python bench/selection_speed.py --alg batchbald --n 20000 --d 1 --classes 10 --k 20 --draws 10
    python bench/selection_speed.py --alg vessal --n 60000 --d 128 --classes 10 --k 100
    python bench/selection_speed.py --alg epig --n 60000 --d 1 --classes 10 --k 100 --draws 100

Embeddings e = max(0, N(0, 1)) of shape n×d, probabilities softmax(3·N(0, 1)) of shape n×C, float32; the first
--labeled rows are labelled. badge, kdpp and kmeans choose among the unlabelled rows, coreset, coreset_pca (50
principal components) and bait get the whole pool with the labelled mask. batchbald, powerbald and meanstd get
--draws MC-dropout-like probabilities (draws × n × C: softmax of the logits plus N(0, 1) noise per draw); typiclust
and probcover (δ = --delta, or by purity with --delta 0) get the pool with the mask; cluster_margin gets
probabilities and one HAC clustering of the unlabelled rows, timed with it (its first query). ldm, alfamix and
vessal get the unlabelled rows and a last layer W ~ N(0, 1/d) (C×d, no bias) whose softmax(eWᵀ) replaces the
probabilities (ldm's reference set: --ref random rows; alfamix's labelled points: the first --labeled rows, labelled
by their prediction); noise_stability gets the probabilities and --draws noisy copies (softmax of the logits plus
N(0, 0.01²) noise). epig gets --draws passes of the pool and 100 random pool rows as its targets; dropquery the
unlabelled embeddings and a random C × d last layer, its dropout passes (predictor.head_dropout_logits, on the CPU)
timed with it; clue and fass the unlabelled probabilities and embeddings;
uherding those and the labelled rows' embeddings, σ their adaptive radius (adaptive_sigma, timed with it);
falcun the unlabelled probabilities; galaxy the pool's probabilities with noisy argmax labels; flqmi and logdetmi
the unlabelled rows' gradient rows, the labelled rows' as the query set (--labeled > 0); glister the pool
with the labelled rows labelled by their prediction. Only the selection is
timed (the compiled steps of kernels/ are built, or found built, and loaded before the clock starts: a fresh cache
timed the compiler); peak_rss_mb is the process's peak resident memory
(ru_maxrss, so it includes the inputs and the Python/torch runtime, given alone as rss_before_mb); cpu_seconds is
the process's CPU time during the selection (all threads), a steadier figure on a shared machine.

ldm, vessal, noise_stability and alfamix (CPU) print their arithmetic floor the same way: the flops of their
dominant products (ldm: every hypothesis's logits on the pool and the reference set, 2(n + ref)·d·C each, over the
hypotheses drawn; vessal: g_tᵀA⁻¹g_t and the covariance sum, 2·2n(C·d)², plus 3(C·d)² per pick;
noise_stability: one pass of k-center distances per pick, 2·n·draws·C·k; alfamix: the flip tests, 2·n·C·(d·C + 4d)
per cap, without its k-means) over this core's rate on a float64 product of that shape.

bait (CPU) also prints its floor: the flops of the greedy (`bait_flops`: set-up, forward and backward steps)
over this core's rate on the greedy step's matrix product (measured right after the selection, one thread, per CPU
second), and time / floor; bait_step says which greedy step ran ("compiled", or "PyTorch" where kernels/bait_step.c
cannot be built, e.g. with CC=false); picks_sha1 identifies the batch, so that two runs can be checked for the same
picks."""
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the project's modules, from the repository root

from bench import flags  # noqa: E402

flags.starting(__name__)

import hashlib  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from predictor import head_dropout_logits  # noqa: E402
from strategy_params import DROP_PASSES, DROP_RATE, at_least, non_negative, positive  # noqa: E402
from query_strategies.badge_sampling import badge_select  # noqa: E402
from query_strategies.bald import bald_scores  # noqa: E402
from query_strategies.batchbald import batchbald_select  # noqa: E402
from query_strategies.clue import clue_select  # noqa: E402
from query_strategies.cluster_margin import cluster_margin_select, hac_clusters  # noqa: E402
from query_strategies.core_set import coreset_select  # noqa: E402
from query_strategies.coreset_pca import coreset_pca_select  # noqa: E402
from query_strategies.dropquery import dropquery_select  # noqa: E402
from query_strategies.epig import draw_targets, epig_select  # noqa: E402
from query_strategies.falcun import falcun_select  # noqa: E402
from query_strategies.fass import fass_select  # noqa: E402
from query_strategies.galaxy import galaxy_select  # noqa: E402
from query_strategies.glister import glister_select  # noqa: E402
from query_strategies.kdpp_sampling import kdpp_select  # noqa: E402
from query_strategies.kmeans_sampling import kmeans_select  # noqa: E402
from query_strategies.mc_uncertainty import mean_std  # noqa: E402
from query_strategies.power_sampling import power_select  # noqa: E402
from query_strategies.probcover import normalised, probcover_select, pseudo_label_delta  # noqa: E402
from query_strategies.selection import top_k  # noqa: E402
from query_strategies.similar import flqmi_select, logdetmi_select, unit_gradients  # noqa: E402
from query_strategies.typiclust import typiclust_select  # noqa: E402
from query_strategies.uherding import adaptive_sigma, uherding_select  # noqa: E402
from query_strategies import ldm as ldm_module  # noqa: E402
from query_strategies.alfamix import alfamix_select  # noqa: E402
from query_strategies.noise_stability import noise_stability_select  # noqa: E402
from query_strategies.vessal import vessal_select  # noqa: E402

ALGS = ("badge", "bait", "coreset", "kdpp", "kmeans", "batchbald", "powerbald", "meanstd", "typiclust", "probcover",
        "cluster_margin", "ldm", "noise_stability", "alfamix", "vessal", "epig", "dropquery", "clue", "falcun",
        "coreset_pca", "galaxy", "fass", "flqmi", "logdetmi", "glister", "uherding")
NOVEL = ("ldm", "noise_stability", "alfamix", "vessal")


def peak_rss_mb():
    """The process's peak resident memory so far, in MB (ru_maxrss: kilobytes on Linux, bytes on macOS)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 ** 2 if sys.platform == "darwin" else 1024)


def synthetic(n, d, classes, labeled, device, seed, draws=0):
    """(probs, emb, mask, gen); probs has shape (draws, n, C) when draws > 0."""
    gen = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, d, generator=gen).clamp_min_(0)
    logits = 3 * torch.randn(n, classes, generator=gen)
    if draws:
        logits = logits + torch.randn(draws, n, classes, generator=gen)
    probs = torch.softmax(logits, dim=-1)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[:labeled] = True
    return probs.to(device), emb.to(device), mask.to(device), gen


def load_compiled_steps():
    """Build (or find built) and load the selections' compiled steps (kmeans', bait's), which a selection would
    otherwise build inside the timed call, a compiler's seconds, in a fresh project cache."""
    from kernels import bait, kmeans

    bait.state()
    kmeans.state()


def selector(args):
    """A function of (probs, emb, mask, gen) running the chosen algorithm on the inputs it takes (its Picks)."""
    unl = slice(args.labeled, None)
    if args.alg == "badge":
        return lambda p, e, m, g: badge_select(p[unl], e[unl], args.k, g)
    if args.alg == "kdpp":
        return lambda p, e, m, g: kdpp_select(p[unl], e[unl], args.k, g)
    if args.alg == "kmeans":
        return lambda p, e, m, g: kmeans_select(e[unl], args.k, g)
    if args.alg == "coreset":
        return lambda p, e, m, g: coreset_select(e, m, args.k, g)
    if args.alg == "coreset_pca":
        return lambda p, e, m, g: coreset_pca_select(e, m, args.k, g)
    if args.alg == "galaxy":
        return galaxy_selector(args)
    if args.alg == "glister":
        return lambda p, e, m, g: glister_select(p, e, torch.where(m.cpu(), p.cpu().argmax(1), -1).numpy(), args.k, g)
    if args.alg in ("flqmi", "logdetmi"):
        return smi_selector(args)
    if args.alg in MC_ALGS:
        return mc_selector(args)
    if args.alg == "typiclust":
        return lambda p, e, m, g: typiclust_select(e, m.cpu().numpy(), args.k, g)
    if args.alg == "probcover":
        return lambda p, e, m, g: probcover_run(normalised(e), m.cpu().numpy(), args, g)
    if args.alg == "cluster_margin":
        return lambda p, e, m, g: cluster_margin_select(p[unl], hac_clusters(e[unl], args.k, g), args.k, g,
                                                        k_m=10 * args.k)
    if args.alg in NOVEL:
        return novel_selector(args)
    if args.alg in PEER_ALGS:
        return peer_selector(args)
    from query_strategies.bait_sampling import bait_select
    return lambda p, e, m, g: bait_select(p, e, m, args.k, g, lam=args.lam)


def last_layer(d, classes, device, seed):
    """W ~ N(0, 1/d) of shape C×d and b = 0, from their own generator."""
    gen = torch.Generator().manual_seed(seed + 1)
    return (torch.randn(classes, d, generator=gen) / d ** 0.5).to(device), torch.zeros(classes, device=device)


def novel_selector(args):
    """ldm, noise_stability, alfamix and vessal on the unlabelled rows (module docstring)."""
    unl = slice(args.labeled, None)
    W, b = last_layer(args.d, args.classes, args.device, args.seed)
    if args.alg == "ldm":
        return lambda p, e, m, g: ldm_module.ldm_select(e[unl], e[torch.randperm(len(e), generator=g)[:args.ref]],
                                                        W, b, args.k, g)
    if args.alg == "noise_stability":
        return lambda p, e, m, g: noise_stability_select(p[unl], noisy_copies(p[unl], args, g), args.k, g)
    if args.alg == "alfamix":
        def alfamix(p, e, m, g):
            lab, q = e[:args.labeled], torch.softmax(e[unl] @ W.T, 1)
            return alfamix_select(q, e[unl], lab, (lab @ W.T).argmax(1), W, b, args.k, g)
        return alfamix
    return lambda p, e, m, g: vessal_select(torch.softmax(e[unl] @ W.T, 1), e[unl], args.k, g)


def noisy_copies(probs, args, gen):
    """--draws outputs softmax(log p + N(0, 0.01²)), standing in for the network's noisy copies."""
    noise = 0.01 * torch.randn(args.draws, *probs.shape, generator=gen).to(probs.device)
    return torch.softmax(probs.log() + noise, -1)


def float64_rate(m, k, n, repeats=10):
    """GFLOP/s of one thread (per CPU second) on an (m × k)·(k × n) float64 product: the best of `repeats`."""
    from query_strategies.selection import one_thread
    a, b = torch.randn(m, k, dtype=torch.float64), torch.randn(k, n, dtype=torch.float64)
    best = float("inf")
    with one_thread():
        for _ in range(repeats):
            start = time.process_time()
            torch.mm(a, b)
            best = min(best, time.process_time() - start)
    return 2 * m * k * n / best / 1e9


def novel_floor(args, cpu_seconds, hypotheses):
    """The dominant flops of ldm, vessal, noise_stability or alfamix (module docstring), the core's float64 rate on
    a product of their shape, the floor flops / rate and cpu_seconds / floor."""
    n, d, C, k = args.n - args.labeled, args.d, args.classes, args.k
    D = C * d
    if args.alg == "ldm":
        flops, rate = 2 * (n + args.ref) * d * C * hypotheses, float64_rate(4096, d, 10 * C)
    elif args.alg == "vessal":
        flops, rate = 4 * n * D * D + 3 * k * D * D, float64_rate(1024, D, D)
    elif args.alg == "noise_stability":
        flops, rate = 2 * n * args.draws * C * k, float64_rate(4096, args.draws * C, 1)
    else:
        caps = round(1 / 0.2)
        flops, rate = 2 * n * C * (d * C + 4 * d) * caps, float64_rate(4096, d, C)
    floor = flops / (rate * 1e9)
    print(f"floor: {flops / 1e9:.2f} Gflop at {rate:.1f} GFLOP/s = {floor:.2f} s; time / floor = "
          f"{cpu_seconds / floor:.2f}" + (f" ({hypotheses} hypotheses)" if args.alg == "ldm" else ""))
    extra = dict(hypotheses=hypotheses) if args.alg == "ldm" else {}
    return dict(flops=round(flops), float64_gflops=round(rate, 2), floor_seconds=round(floor, 3),
                time_over_floor=round(cpu_seconds / floor, 3), **extra)


def count_hypotheses():
    """Wrap ldm's Hypotheses.flips to count the hypotheses evaluated on the pool; returns the counter (a list)."""
    count, flips = [0], ldm_module.Hypotheses.flips

    def counted(self, noise_w, noise_b, sigma):
        if self is counted.pool:
            count[0] += len(noise_w)
        return flips(self, noise_w, noise_b, sigma)

    counted.pool = None
    original_init = ldm_module.Hypotheses.__init__

    def init(self, emb, W, b):
        original_init(self, emb, W, b)
        if counted.pool is None:
            counted.pool = self
    ldm_module.Hypotheses.__init__, ldm_module.Hypotheses.flips = init, counted
    return count


def bait_flops(n, labeled, d, C, k):
    """Floating-point operations of BAIT's greedy (every candidate updated at every step; bait_sampling.py's
    arithmetic): set-up (the two Fisher sums over pairs of classes, M⁻¹, M⁻¹FM⁻¹, the two per-candidate quadratic
    forms), then per greedy step and candidate the product with the 2C² rows of the update (2·2C²·d), Ãᵢ applied
    (8C²), the C×C products GGᵀ and JGᵀ (4C³) and the bound statistics (6C²), plus the (C·d)-wide update of M⁻¹;
    the backward steps work on 2k down to k candidates and solve one C×C system each (2C³)."""
    m, pairs, D = n - labeled, C * (C + 1) // 2, C * d
    setup = 2 * pairs * d * d * (n + labeled) + 5 * D**3 + 2 * 2 * pairs * d * d * m
    per_candidate = 2 * 2 * C * C * d + 8 * C * C + 4 * C**3 + 6 * C * C
    per_step = 8 * C * D * D
    steps = min(2 * k, m)
    forward = steps * (m * per_candidate + per_step)
    backward = sum(c * (per_candidate + 2 * C**3) + per_step for c in range(k + 1, steps + 1))
    return dict(setup=setup, forward=forward, backward=backward)


def product_rate(C, d, repeats=20):
    """GFLOP/s of one thread (per CPU second) on the greedy step's matrix product, (2C² × d)·(d × 2621) in float32:
    the best of `repeats` timings, so the floor it gives is what this core can do at best under the load."""
    from query_strategies.selection import one_thread
    a, b = torch.randn(2 * C * C, d), torch.randn(d, 2**19 // (2 * C * C))
    best = float("inf")
    with one_thread():
        for _ in range(repeats):
            start = time.process_time()
            for _ in range(10):
                torch.mm(a, b)
            best = min(best, (time.process_time() - start) / 10)
    return 2 * a.shape[0] * d * b.shape[1] / best / 1e9


MC_ALGS = ("batchbald", "powerbald", "meanstd", "epig")
PEER_ALGS = ("dropquery", "clue", "falcun", "fass", "uherding")


def peer_selector(args):
    """dropquery (a random last layer C × d), clue, falcun, fass and uherding on the unlabelled rows."""
    unl = slice(args.labeled, None)
    if args.alg == "dropquery":
        return lambda p, e, m, g: dropquery_select(e[unl], *head_dropout_logits(
            torch.randn(args.classes, args.d, generator=g), None, e[unl].cpu(), DROP_RATE.default, DROP_PASSES.default,
            g), args.k, g)
    if args.alg == "clue":
        return lambda p, e, m, g: clue_select(p[unl], e[unl], args.k, g)
    if args.alg == "fass":
        return lambda p, e, m, g: fass_select(p[unl], e[unl], args.k, g)
    if args.alg == "uherding":
        return lambda p, e, m, g: uherding_select(p[unl], e[unl], e[:args.labeled], args.k, g,
                                                  adaptive_sigma(e[:args.labeled]))
    return lambda p, e, m, g: falcun_select(p[unl], args.k, g)


def galaxy_selector(args):
    """GALAXY on the pool's probabilities, the labels of the labelled rows and of each pick being the argmax of
    the probabilities plus N(0, 1) noise."""
    def select(p, e, m, g):
        labels = (p.cpu() + torch.randn(p.shape, generator=g)).argmax(1).numpy()
        known = labels.copy()
        known[~m.cpu().numpy()] = -1
        return galaxy_select(p, known, args.k, g, lambda i: labels[i])
    return select


def smi_selector(args):
    """FLQMI or LogDetMI between the unlabelled rows and the labelled rows as the query set, on unit gradient rows
    with predicted labels."""
    select = flqmi_select if args.alg == "flqmi" else logdetmi_select

    def run(p, e, m, g):
        rows = unit_gradients(p, e, p.argmax(1))
        return select(rows[~m.cpu()], rows[m.cpu()], args.k, g)
    return run


def mc_selector(args):
    """The selectors that take MC-dropout probabilities (draws × n × C) of the unlabelled rows."""
    unl = slice(args.labeled, None)
    if args.alg == "batchbald":
        return lambda p, e, m, g: batchbald_select(p[:, unl], args.k, g, n_configs=args.configs)
    if args.alg == "epig":
        return lambda p, e, m, g: epig_select(p[:, unl], p[:, draw_targets(args.n, 100, g)], args.k, g)
    if args.alg == "powerbald":
        return lambda p, e, m, g: power_select(bald_scores(p[:, unl]), args.k, g, beta=1.0)
    return lambda p, e, m, g: top_k(mean_std(p[:, unl]), args.k)


def probcover_run(x, labeled, args, generator):
    """ProbCover on the unit rows x with δ = --delta, or (--delta 0) the purity rule's δ under KMeans pseudo-labels
    with --classes clusters, found on the same rows (so that the purity pass's pairs give the graph)."""
    delta = pseudo_label_delta(x, args.classes, args.seed) if args.delta <= 0 else args.delta
    return probcover_select(x, labeled, args.k, generator, delta=delta)


def bait_floor(args, cpu_seconds):
    """The greedy's flops, the core's product rate (measured now) and the floor they give: flops / rate,
    the time of the greedy if every operation ran at the product's rate; cpu_seconds / floor; the step that ran."""
    from query_strategies.bait_sampling import bait_step_path
    flops = bait_flops(args.n, args.labeled, args.d, args.classes, args.k)
    rate = product_rate(args.classes, args.d)
    floor = sum(flops.values()) / (rate * 1e9)
    print(f"floor: {sum(flops.values()) / 1e12:.2f} Tflop (set-up {flops['setup'] / 1e12:.2f}, forward "
          f"{flops['forward'] / 1e12:.2f}, backward {flops['backward'] / 1e12:.2f}) at {rate:.1f} GFLOP/s = "
          f"{floor:.1f} s; time / floor = {cpu_seconds / floor:.2f}")
    return dict(flops={key: round(value) for key, value in flops.items()}, product_gflops=round(rate, 2),
                floor_seconds=round(floor, 2), time_over_floor=round(cpu_seconds / floor, 3),
                bait_step=bait_step_path())


def main(argv=None):
    """Time the selection the flags describe; print its line and the JSON record."""
    ap = flags.parser(__doc__)
    ap.add_argument("--alg", required=True, choices=ALGS, metavar="ALG", help="the selection: " + ", ".join(ALGS))
    ap.add_argument("--n", type=positive(int), required=True, help="pool size")
    ap.add_argument("--d", type=positive(int), required=True, help="embedding dimension")
    ap.add_argument("--classes", type=at_least(2), default=10, help="classes C of the probabilities")
    ap.add_argument("--k", type=positive(int), required=True, help="points to select")
    ap.add_argument("--labeled", type=non_negative(int), default=0, help="the first L rows are labelled")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the inputs and selection live")
    ap.add_argument("--seed", type=non_negative(int), default=0, help="seed of the synthetic inputs and the selection")
    ap.add_argument("--lam", type=positive(float), default=1.0, help="BAIT's λ")
    ap.add_argument("--draws", type=positive(int), default=10,
                    help="MC-dropout draws for batchbald, powerbald, meanstd, epig; noisy copies for "
                         "noise_stability")
    ap.add_argument("--configs", type=positive(int), default=1000, help="BatchBALD's label configurations")
    ap.add_argument("--delta", type=non_negative(float), default=0.0, help="ProbCover's δ (0 = the purity rule)")
    ap.add_argument("--ref", type=positive(int), default=None,
                    help="ldm's reference set, random rows of the pool: at most --n (default 2000, or --n when fewer)")
    args = ap.parse_args(argv)
    if args.ref is None:
        args.ref = min(2000, args.n)
    if args.labeled >= args.n:
        ap.error(f"--labeled {args.labeled} leaves no unlabelled row of --n {args.n}")
    if args.k > args.n - args.labeled:
        ap.error(f"--k {args.k} is more than the {args.n - args.labeled} unlabelled rows (--n minus --labeled)")
    if args.alg == "ldm" and args.ref > args.n:
        ap.error(f"--ref {args.ref} is more than the {args.n} rows of the pool (--n) that ldm's reference set is "
                 f"drawn from; give --ref at most {args.n}")
    if args.alg in ("flqmi", "logdetmi") and args.labeled == 0:
        ap.error(f"--alg {args.alg} needs labelled rows as its query set: give --labeled")
    flags.check_device(ap, args.device)

    draws = args.draws if args.alg in MC_ALGS else 0
    hypotheses = count_hypotheses() if args.alg == "ldm" else [0]
    probs, emb, mask, gen = synthetic(args.n, args.d, args.classes, args.labeled, args.device, args.seed, draws)
    select = selector(args)
    load_compiled_steps()
    rss_before = peak_rss_mb()
    if args.device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start, cpu_start = time.perf_counter(), time.process_time()
    picks = select(probs, emb, mask, gen)
    if args.device == "cuda":
        torch.cuda.synchronize()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    picks = picks.index
    if len(picks) != args.k or len(set(picks.tolist())) != args.k:
        raise SystemExit(f"{flags.prog()}: error: {args.alg} returned {len(picks)} picks, "
                         f"{len(set(picks.tolist()))} distinct, not {args.k}")
    result = dict(alg=args.alg, n=args.n, d=args.d, classes=args.classes, k=args.k, labeled=args.labeled,
                  device=args.device, seed=args.seed, seconds=round(seconds, 4), cpu_seconds=round(cpu_seconds, 4),
                  peak_rss_mb=round(peak_rss_mb(), 1), rss_before_mb=round(rss_before, 1),
                  threads=torch.get_num_threads(), conditions=flags.conditions())
    if args.device == "cuda":
        result["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    if args.alg == "bait" and args.device == "cpu":
        result.update(bait_floor(args, cpu_seconds))
        result["picks_sha1"] = hashlib.sha1(str(sorted(picks.tolist())).encode()).hexdigest()[:12]
    if args.alg in NOVEL and args.device == "cpu":
        result.update(novel_floor(args, cpu_seconds, hypotheses[0]))
    print(f"{args.alg:8s} n={args.n} d={args.d} C={args.classes} k={args.k} L={args.labeled} {args.device}: "
          f"{seconds:.3f} s ({cpu_seconds:.3f} s CPU), peak RSS {result['peak_rss_mb']:.0f} MB")
    print(json.dumps(result))


if __name__ == "__main__":
    flags.command(main)
