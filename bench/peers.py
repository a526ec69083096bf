"""Each selection against the fastest installed peer implementation of the same definition, on identical inputs,
at one and at two threads; prints a table of times and ratios (peer time / ours).

    python bench/peers.py                       # every case, 1 and 2 threads, best of 3 interleaved runs
    python bench/peers.py --cases probcover --threads 1 --repeats 1
    python bench/peers.py --cases typiclust,epig --threads 1,2

Peers (test-only dependencies; a case whose peer is not installed is skipped): baal's BALD, PowerBALD and
Variance heuristics (numpy, predictions laid out n × C × T, its native layout, prepared outside the timing) and its
EPIG, scikit-activeml's TypiClust, ProbCover, DropQuery, Clue and Falcun, batchbald-redux's get_batchbald_batch
and baal's BatchBALD. baal
has no mean-of-standard-deviations score; its Variance (the class mean of the variances over the passes) is the
nearest, with the same cost structure. Inputs as bench/selection_speed.py: MC probabilities softmax(3·N(0, 1)
logits + N(0, 1) per pass), embeddings max(0, N(0, 1)) in float64 (TypiClust's in float32, as a network yields
them). Each repeat runs ours then the peer, so both
see the same load; the table gives each side's fastest repeat, and the load average before and after."""
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the project's modules, from the repository root

from bench import flags  # noqa: E402

flags.starting(__name__)

import importlib.util  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

os.environ.setdefault("TQDM_DISABLE", "1")  # the peers' progress bars

import numpy as np  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from predictor import head_dropout_logits  # noqa: E402
from strategy_params import DROP_PASSES, DROP_RATE, positive  # noqa: E402
from query_strategies.bald import bald_scores  # noqa: E402
from query_strategies.batchbald import batchbald_select  # noqa: E402
from query_strategies.clue import clue_select  # noqa: E402
from query_strategies.dropquery import dropquery_select  # noqa: E402
from query_strategies.epig import epig_select  # noqa: E402
from query_strategies.falcun import falcun_select  # noqa: E402
from query_strategies.mc_uncertainty import mean_std  # noqa: E402
from query_strategies.power_sampling import power_select  # noqa: E402
from query_strategies.probcover import normalised, probcover_select, pseudo_label_delta  # noqa: E402
from query_strategies.selection import seed_from, top_k  # noqa: E402
from query_strategies.typiclust import K_NN, MINIBATCH_ABOVE, typiclust_select  # noqa: E402


def mc_inputs(n, C, T, seed=0):
    """(ours: T × n × C float32 tensor, baal's: n × C × T float32 array) of the same probabilities."""
    g = torch.Generator().manual_seed(seed)
    p = torch.softmax(3 * torch.randn(n, C, generator=g) + torch.randn(T, n, C, generator=g), dim=-1)
    return p, np.ascontiguousarray(p.permute(1, 2, 0).numpy())


def embeddings(n, d, labeled, seed=0, dtype=torch.float64):
    """(n × d embeddings in `dtype`, labelled mask with the first `labeled` rows, skactiveml's y for that mask)."""
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed)).clamp_min_(0).to(dtype).numpy()
    mask = np.arange(n) < labeled
    from skactiveml.utils import MISSING_LABEL
    y = np.full(n, MISSING_LABEL)
    y[mask] = 0
    return x, mask, y


def baal_cases(n=50000, C=10, T=10, k=1000):
    """BALD, PowerBALD and MeanSTD against baal's numpy heuristics."""
    from baal.active.heuristics import BALD, Variance
    from baal.active.heuristics.aliases import PowerBALD
    p, pb = mc_inputs(n, C, T)
    gen = torch.Generator()
    size = f"n={n} C={C} T={T} k={k}"
    return [("bald", size, "baal `BALD`", lambda: top_k(bald_scores(p), k), lambda: BALD().get_ranks(pb)[0][:k]),
            ("powerbald", size, "baal `PowerBALD`", lambda: power_select(bald_scores(p), k, gen, beta=1.0),
             lambda: PowerBALD(k).get_ranks(pb)[0]),
            ("meanstd", size, "baal `Variance`", lambda: top_k(mean_std(p), k),
             lambda: Variance().get_ranks(pb)[0][:k])]


def batchbald_cases(n=1000, C=10, T=10, k=5):
    """BatchBALD against batchbald-redux (10⁴ sampled configurations, as its example) and baal's BatchBALD."""
    from baal.active.heuristics import BatchBALD
    from batchbald_redux.batchbald import get_batchbald_batch
    p, pb = mc_inputs(n, C, T)
    log_p = p.log().permute(1, 0, 2).contiguous()
    size = f"n={n} C={C} T={T} k={k}"
    ours = lambda: batchbald_select(p, k, torch.Generator().manual_seed(0))  # noqa: E731
    return [("batchbald", size, "batchbald-redux (10⁴ samples)", ours,
             lambda: get_batchbald_batch(log_p, k, num_samples=10000, dtype=torch.double).indices),
            ("batchbald", size, "baal `BatchBALD`", ours, lambda: BatchBALD(k).get_ranks(pb)[0][:k])]


def typiclust_cases(sizes=(5000, 20000), d=128, k=100, labeled=0):
    """TypiClust against scikit-activeml's, with the same clustering algorithm and K_NN neighbours, both given the
    float32 embeddings a network yields (the strategy's real input): ours takes the tensor and clusters it in
    float64, as the strategy does; scikit-activeml keeps float32, so its MiniBatchKMeans runs its batches in
    float32 (its k-means++ distances in float64 blocks)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from skactiveml.pool import TypiClust
    algo = KMeans if labeled + k <= MINIBATCH_ABOVE else MiniBatchKMeans
    cases = []
    for n in sizes:
        x, mask, y = embeddings(n, d, labeled, dtype=torch.float32)
        ours = lambda x=torch.from_numpy(x), m=mask: typiclust_select(  # noqa: E731
            x, m, k, torch.Generator().manual_seed(0))
        peer = lambda x=x, y=y: TypiClust(  # noqa: E731 (the k-means seed that ours draws)
            random_state=seed_from(torch.Generator().manual_seed(0)), cluster_algo=algo, k=K_NN).query(
            x, y, batch_size=k)
        cases.append(("typiclust", f"n={n} d={d} k={k} L={labeled}", "scikit-activeml `TypiClust`", ours, peer))
    return cases


def ours_probcover(x, mask, k, classes):
    """ProbCover as the strategy runs it: unit rows, KMeans pseudo-labels, the purity δ, the greedy picks."""
    u = normalised(torch.as_tensor(x))
    delta = pseudo_label_delta(u, classes, 0)
    return probcover_select(u, mask, k, torch.Generator().manual_seed(0), delta=delta)


def probcover_cases(sizes=(5000, 10000), d=128, k=100, labeled=100, classes=10):
    """ProbCover (purity δ under KMeans pseudo-labels) against scikit-activeml's (its δ grid 0.2, 0.4, …)."""
    from sklearn.cluster import KMeans
    from skactiveml.pool import ProbCover
    cases = []
    for n in sizes:
        x, mask, y = embeddings(n, d, labeled)
        u = normalised(torch.as_tensor(x)).numpy()
        peer = lambda u=u, y=y: ProbCover(  # noqa: E731 (a new object: it would keep its distances between calls)
            n_classes=classes, random_state=0, cluster_algo=KMeans).query(u, y, batch_size=k)
        ours = lambda x=x, m=mask: ours_probcover(x, m, k, classes)  # noqa: E731
        cases.append(("probcover", f"n={n} d={d} k={k} L={labeled}", "scikit-activeml `ProbCover`", ours, peer))
    return cases


def epig_cases(n=5000, C=10, K=100, M=100, k=100):
    """EPIG against baal's (its matrix-product form, numpy in and out), the same pool and target passes."""
    from baal.active.heuristics import EPIG
    p, pb = mc_inputs(n, C, K)
    t, tb = mc_inputs(M, C, K, seed=1)
    return [("epig", f"n={n} C={C} K={K} M={M} k={k}", "baal `EPIG`", lambda: epig_select(p, t, k, torch.Generator()),
             lambda: EPIG().get_ranks(pb, tb)[0][:k])]


def fitted_classifier(x, y, classes):
    """scikit-activeml's wrapper of a logistic regression without intercept, fitted on the labelled rows."""
    from sklearn.linear_model import LogisticRegression
    from skactiveml.classifier import SklearnClassifier
    return SklearnClassifier(LogisticRegression(fit_intercept=False), classes=list(range(classes)),
                             random_state=0).fit(x, y)


def skactiveml_batch_cases(n=10000, d=128, k=100, labeled=100, classes=10):
    """DropQuery, CLUE and FALCUN against scikit-activeml's, on the same embeddings and the probabilities of the
    same linear last layer (a logistic regression on the labelled rows, random labels); the peers' own predictions
    of that classifier are part of their time (a few milliseconds)."""
    from skactiveml.pool import Clue, DropQuery, Falcun
    x, mask, y = embeddings(n, d, labeled)
    y[mask] = np.arange(labeled) % classes
    clf = fitted_classifier(x, y, classes)
    unl = torch.as_tensor(x[~mask])
    probs = torch.as_tensor(clf.predict_proba(x[~mask]))
    weight = torch.as_tensor(clf.estimator_.coef_)
    size = f"n={n} d={d} C={classes} k={k} L={labeled}"
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731

    def dropquery(g):
        """Ours with its dropout passes (float32, as the predictor's)."""
        passes = head_dropout_logits(weight.float(), None, unl.float(), DROP_RATE.default, DROP_PASSES.default, g)
        return dropquery_select(unl, *passes, k, g)
    return [("dropquery", size, "scikit-activeml `DropQuery`", lambda: dropquery(gen()),
             lambda: DropQuery(n_dropout_samples=3, cluster_algo_dict={"random_state": 0}, random_state=0).query(
                 x, y, clf, fit_clf=False, batch_size=k)),
            ("clue", size, "scikit-activeml `Clue`", lambda: clue_select(probs, unl, k, gen()),
             lambda: Clue(cluster_algo_dict={"n_init": 10, "random_state": 0}, random_state=0).query(
                 x, y, clf, fit_estimator=False, batch_size=k)),
            ("falcun", size, "scikit-activeml `Falcun`", lambda: falcun_select(probs, k, gen()),
             lambda: Falcun(random_state=0).query(x, y, clf, fit_clf=False, batch_size=k))]


CASES = {  # the cases, the peers' modules, and the most repeats worth their time (the BatchBALD peers take minutes)
    "baal": (baal_cases, ["baal"], None), "batchbald": (batchbald_cases, ["baal", "batchbald_redux"], 1),
    "typiclust": (typiclust_cases, ["skactiveml"], None), "probcover": (probcover_cases, ["skactiveml"], None),
    "epig": (epig_cases, ["baal"], None), "skactiveml_batch": (skactiveml_batch_cases, ["skactiveml"], None)}


def timed(fn, threads):
    """Seconds of one call of fn with torch, BLAS and OpenMP limited to `threads`."""
    torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start


def compare(name, size, peer_name, ours, peer, threads, repeats):
    """One table row: the fastest of `repeats` interleaved runs of each side, peer / ours, and the peer's name."""
    mine, theirs = [], []
    for _ in range(repeats):
        mine.append(timed(ours, threads))
        theirs.append(timed(peer, threads))
    a, b = min(mine), min(theirs)
    print(f"| {name} | {size} | {threads} | {a:.3f} | {b:.3f} | {b / a:.1f}× | {peer_name} |", flush=True)


def main(argv=None):
    """Print a row per case and thread count; a case whose peer is not installed is one skipped row."""
    ap = flags.parser(__doc__)
    ap.add_argument("--cases", type=flags.subset(sorted(CASES), "case"), default=",".join(sorted(CASES)),
                    help="comma-separated cases to run, of: " + ", ".join(sorted(CASES)))
    ap.add_argument("--threads", type=flags.values(flags.threads), default=[1, 2],
                    help="comma-separated thread counts, each in turn, checked as run.py's --threads is: a warning "
                         "above the cores (default: 1,2)")
    ap.add_argument("--repeats", type=positive(int), default=3,
                    help="interleaved runs of each side (the BatchBALD peers: one)")
    args = ap.parse_args(argv)
    print(flags.conditions())
    print("| selection | inputs | threads | ours (s) | peer (s) | peer / ours | peer |\n|---|---|---|---|---|---|---|")
    for key in args.cases:
        make, modules, most = CASES[key]
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if missing:
            print(f"| {key} | skipped: {', '.join(missing)} not installed | | | | | |")
            continue
        for name, size, peer_name, ours, peer in make():
            for threads in args.threads:
                compare(name, size, peer_name, ours, peer, threads, min(args.repeats, most or args.repeats))
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    flags.command(main)
