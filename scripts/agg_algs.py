"""Each algorithm's fixed place and look in every table and figure of the analysis (scripts/agg_results.py), and
the names figures give data sets.

A look is a colour, a marker and a line style (`style(alg)`, keyword arguments for matplotlib's plot). The k-th
algorithm of ORDER after rand takes COLOURS[k % 9], MARKERS[k % 8] and LINESTYLES[k % 5]: 9, 8 and 5 are pairwise
coprime, so no two of the first 360 share all three, and any two of the first 40 differ in at least two of them (a
shared colour repeats every 9 places, a shared marker every 8, a shared line style every 5, two of them together
every 40, 45 or 72). ORDER holds every strategy, a new one appended at its end: the 41st to 45th after rand (vessal,
waal, ...) share a marker and a line style with the one 40 places before (conf, marg, ...), in another colour (the
46th would also share a colour and a line style with the 1st). The colours are Paul Tol's "muted" scheme,
distinguishable with the common colour-vision deficiencies; rand, the reference, is black, solid and unmarked."""
import zlib

# Paul Tol's colour-blind safe "muted" qualitative scheme (https://personal.sron.nl/~pault/).
COLOURS = ("#332288", "#CC6677", "#117733", "#DDCC77", "#88CCEE", "#882255", "#44AA99", "#999933", "#AA4499")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)))
RAND_STYLE = {"color": "#000000", "marker": "", "linestyle": "-"}
# The original's strategies, then the later ones alphabetically (the order tables had before looks were fixed),
# then those added since, alphabetically.
ORDER = ("rand", "conf", "marg", "entropy", "conf_dropout", "marg_dropout", "entropy_dropout", "bald", "kmeans",
         "coreset", "baseline", "albl", "bim", "deepfool", "badge", "bait", "batchbald", "cluster_margin", "meanstd",
         "powerbald", "powermargin", "probcover", "typiclust", "varratio",
         "alfamix", "ceal", "clue", "coreset_pca", "dropquery", "epig", "falcun", "fass", "flqmi", "galaxy", "glister",
         "ldm", "logdetmi", "lpl", "noise_stability", "uherding", "vaal", "vessal", "waal")
UNKNOWN_PLACES = 300  # an algorithm outside ORDER (a user's own) takes a place after it chosen by a hash of its name
# OpenML ids -> the names people know the data sets by.
OPENML_NAMES = {6: "letter", 32: "pendigits", 44: "spambase", 155: "pokerhand", 182: "satimage", 184: "kropt",
                300: "isolet", 554: "mnist_784", 1590: "adult", 40996: "Fashion-MNIST"}
DATA_NAMES = {"CIFAR10": "CIFAR-10", "FashionMNIST": "Fashion-MNIST"}


def place(alg):
    """The algorithm's index: its position in ORDER, else len(ORDER) + a hash of the name mod UNKNOWN_PLACES."""
    if alg in ORDER:
        return ORDER.index(alg)
    return len(ORDER) + zlib.crc32(alg.encode()) % UNKNOWN_PLACES


def style(alg):
    """The algorithm's look as matplotlib keyword arguments: {'color', 'marker', 'linestyle'} (see the module
    docstring); the same in every figure."""
    return dict(RAND_STYLE) if alg == "rand" else style_at(place(alg) - 1)


def style_at(k):
    """The k-th look after rand's: COLOURS[k % 9], MARKERS[k % 8], LINESTYLES[k % 5]."""
    return {"color": COLOURS[k % len(COLOURS)], "marker": MARKERS[k % len(MARKERS)],
            "linestyle": LINESTYLES[k % len(LINESTYLES)]}


def colour(alg):
    """The algorithm's colour (style's)."""
    return style(alg)["color"]


def alg_order(algs):
    """ORDER first, then any other names alphabetically: every figure lists algorithms alike."""
    known = [a for a in ORDER if a in set(algs)]
    return known + sorted(set(algs) - set(known))


def data_title(label):
    """A data label (results.data_label) as people know the data set: `letter (OpenML 6)`, `OpenML 1234`,
    `CIFAR-10`; any other label as it is."""
    if label.startswith("openml") and label[6:].isdigit():
        did = int(label[6:])
        return f"{OPENML_NAMES[did]} (OpenML {did})" if did in OPENML_NAMES else f"OpenML {did}"
    return DATA_NAMES.get(label, label)
