"""Each algorithm's fixed place and colour in every table and figure of the analysis (scripts/agg_results.py)."""
import zlib

import matplotlib

ALG_COLOURS = {
    "rand": "#7f7f7f", "conf": "#1f77b4", "marg": "#ff7f0e", "entropy": "#2ca02c",
    "conf_dropout": "#aec7e8", "marg_dropout": "#ffbb78", "entropy_dropout": "#98df8a", "bald": "#9467bd",
    "kmeans": "#8c564b", "coreset": "#e377c2", "baseline": "#bcbd22", "albl": "#17becf", "bim": "#c49c94",
    "deepfool": "#f7b6d2", "badge": "#d62728", "bait": "#000000",
}
EXTRA_COLOURS = matplotlib.colormaps["tab20b"].colors


def colour(alg):
    """The algorithm's fixed colour; a name outside ALG_COLOURS gets one chosen by a hash of the name."""
    return ALG_COLOURS.get(alg, EXTRA_COLOURS[zlib.crc32(alg.encode()) % len(EXTRA_COLOURS)])


def alg_order(algs):
    """ALG_COLOURS' order first, then any other names alphabetically: every figure lists algorithms alike."""
    known = [a for a in ALG_COLOURS if a in set(algs)]
    return known + sorted(set(algs) - set(known))
