"""Each strategy's own parameters, declared once, in a module that imports nothing heavy.

A strategy's parameters are its entry in DECLARED (--alg name -> Params). From that entry alone:
- run.py's parser gets one flag per parameter (`add_flags`; help prefixed with the strategies that take it),
  before torch is imported, so --help stays fast;
- the strategy's constructor gets each value from its flag (`arguments`) and sets it as an attribute
  (Strategy.__init__), its declared default when the strategy is built directly;
- config.json records every flag's value (run.py records all its flags);
- the parameters that change results (`result_flags`) must match on --resume (resume.check_same_run) and are
  compared by the sweep's planning and the analysis (results.result_settings).

The declarations live here rather than in the strategy modules because those import torch and run.py parses its
flags first; a strategy module reads its own declaration back with `parameters(name)`."""
import argparse
import math
from dataclasses import dataclass

from query_strategies import ALIASES


@dataclass(frozen=True)
class Param:
    """One strategy parameter: `name` (the constructor keyword and the strategy's attribute), `flag` (run.py's
    flag without its dashes, and config.json's key), `type` (text -> value, argparse.ArgumentTypeError when
    invalid), `default`, `help` and whether it changes results (part of the run's identity)."""
    name: str
    flag: str
    type: object
    default: object
    help: str
    changes_results: bool = True


def checked_number(kind, accept, wanted):
    """An argparse type: a finite number of `kind` for which accept(value) holds (else a one-line error saying
    it must be `wanted`, e.g. 'a positive int')."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}")
        if not (math.isfinite(value) and accept(value)):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
        return value
    return parse


def positive(kind):
    """An argparse type: a number of `kind` above 0 (else a one-line error naming the value)."""
    return checked_number(kind, lambda value: value > 0, f"a positive {kind.__name__}")


def non_negative(kind):
    """An argparse type: a number of `kind` ≥ 0 (else a one-line error naming the value)."""
    return checked_number(kind, lambda value: value >= 0, f"0 or a positive {kind.__name__}")


def positive_up_to(kind, high, why=""):
    """An argparse type: a number of `kind` above 0 and at most `high` (else a one-line error naming the value and,
    after it, `why`: what a larger value would do)."""
    bound = f"{high:,}" if kind is int else f"{high:g}"
    return checked_number(kind, lambda value: 0 < value <= high, f"a positive {kind.__name__} of at most {bound}{why}")


def float_from_to(low, high, why):
    """An argparse type: a float in [low, high] (else a one-line error naming the value and, after the range, `why`:
    what a value beyond it would do)."""
    return checked_number(float, lambda value: low <= value <= high, f"a float from {low:g} to {high:g}{why}")


COUNT_CAP = 10_000  # passes, draws and hypotheses in a row: far above any published setting, and finite in time
FLOAT_CAP = 1e100  # a weight or scale whose square, or product with a score, stays within float64's range


def at_least(low):
    """An argparse type: a whole number ≥ low (else a one-line error naming the value)."""
    return checked_number(int, lambda value: value >= low, f"an int of at least {low}")


BETA = Param("beta", "beta", positive_up_to(float, FLOAT_CAP), 1.0, "draw points with probability ∝ score^beta")
N_CONFIGS = Param("n_configs", "nConfigs", positive_up_to(int, 1_000_000, " (they are enumerated in memory)"), 1000,
                  "label configurations summed exactly up to this many, sampled beyond")
DELTA = Param("delta", "delta", positive_up_to(float, 2, " (unit vectors are at most 2 apart)"), None,
              "ball radius on L2-normalised embeddings, at most 2; without the flag, the largest whose balls are "
              "95%% pure under k-means pseudo-labels")
KM_FACTOR = Param("km_factor", "kmFactor", checked_number(float, lambda value: value >= 1, "a float of at least 1"),
                  10.0, "the kmFactor·nQuery lowest-margin points are spread over clusters (at least 1: the batch "
                  "comes from them)")

LDM_REF = Param("ldm_ref", "ldmRef", positive(int), 2000,
                "random pool points on which a perturbed last layer's disagreement with the network is measured "
                "(the authors' nSample)")
LDM_STOP = Param("ldm_stop", "ldmStop", positive_up_to(int, COUNT_CAP), 10,
                 "perturbations in a row that lower no candidate's LDM before the noise level grows (the authors' "
                 "stop_cond)")
LDM_POOL = Param("ldm_pool", "ldmPool", non_negative(int), 2000,
                 "candidates per query, a random subset of the unlabelled points (at least nQuery; 0 = all of them; "
                 "the authors' nPool)")
NOISE_SCALE = Param("noise_scale", "noiseScale",
                    positive_up_to(float, 1, " (noise beyond the weights' own norm leaves nothing of the network)"),
                    0.001, "norm of each layer's weight noise relative to the weights' norm, at most 1")
NOISE_DRAWS = Param("noise_draws", "noiseDraws", positive_up_to(int, COUNT_CAP), 50, "noisy copies of the network")
ALPHA_CAP = Param("alpha_cap", "alphaCap",
                  checked_number(float, lambda value: 0.001 <= value < 1, "a float in [0.001, 1): each step of the cap "
                                 "is a pass over the pool"), 0.2,
                  "step by which the cap on the interpolation ratio grows (below 1) until more than nQuery points "
                  "flip; in [0.001, 1)")
COV_INV_SCALING = Param("cov_inv_scaling", "covInvScaling", positive_up_to(float, FLOAT_CAP), 100.0,
                        "the inverse covariance starts as this times the identity (1/λ)")


def fraction(text):
    """An argparse type: a number strictly between 0 and 1 (else a one-line error naming the value)."""
    value = positive(float)(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be below 1, got {text}")
    return value


N_TARGETS = Param("n_targets", "nTargets", positive(int), 100,
                  "random pool points whose labels the information gain is about (the whole pool when it has fewer)")
N_DRAWS = Param("n_draws", "nDraws",
                checked_number(int, lambda value: 2 <= value <= COUNT_CAP,
                               f"an int from 2 (one pass is one network, under which every point's information "
                               f"gain is 0) to {COUNT_CAP:,}"),
                100, "MC-dropout passes, each one network for every point; at least 2")
DROP_RATE = Param("drop_rate", "dropRate", fraction, 0.75, "dropout rate on the embedding, in (0, 1)")
DROP_PASSES = Param("drop_passes", "dropPasses", positive_up_to(int, COUNT_CAP), 3,
                    "dropout passes; a point is a candidate when more than half change its class")
TEMPERATURE = Param("temperature", "temperature", positive(float), 1.0,
                    "softmax temperature of the entropy that weighs each point in k-means")
GAMMA = Param("gamma", "gamma", positive(float), 10.0,
              "points are drawn with probability ∝ (diversity + uncertainty)^gamma")
PCA_DIM = Param("pca_dim", "pcaDim", positive(int), 50,
                "embeddings wider than this are reduced to this many principal components")
TOP_N = Param("top_n", "topN", positive(int), 5,
              "the topN·nQuery points of highest entropy are the candidates of the submodular selection (all the "
              "unlabelled points when they are fewer)")
SMI_ETA = Param("smi_eta", "smiEta", positive(float), 1.0,
                "weight of query relevance against diversity in the submodular mutual information")
SMI_LAMBDA = Param("smi_lambda", "smiLambda",
                   float_from_to(1e-6, 1e4, " (the kernel's entries are in [0, 1]: with a smaller ridge the "
                                 "log-determinants of a rank-deficient kernel are rounding, with a larger one the "
                                 "gains drown in it, and the picks go by row)"),
                   1.0, "ridge λ added to the log-determinant kernels, from 1e-6 to 1e4")
QUERY_CLASSES = Param("query_classes", "queryClasses", positive(int), 1,
                      "the query set: labelled points of this many classes with the fewest labels (all the classes "
                      "labelled when they are fewer)")
GLISTER_LR = Param("glister_lr", "glisterLr", positive_up_to(float, FLOAT_CAP), 1e-4,
                   "step size of the one-step Taylor approximation (default 1e-4, --lr's default; it does not "
                   "follow --lr)")
LPL_WEIGHT = Param("lpl_weight", "lplWeight", positive(float), 1.0,
                   "λ: weight of the loss-prediction module's ranking loss beside the cross-entropy")
LPL_MARGIN = Param("lpl_margin", "lplMargin", positive(float), 1.0, "ξ: margin of the pairwise ranking loss")
CEAL_DELTA = Param("ceal_delta", "cealDelta", positive(float), 0.005,
                   "δ₀: unlabelled points with predictive entropy below δ₀ − cealDecay·t (query round t) are "
                   "pseudo-labelled")
CEAL_DECAY = Param("ceal_decay", "cealDecay", positive(float), 0.00033, "dr: the threshold's decrease per query round")
VAAL_BETA = Param("vaal_beta", "vaalBeta", positive(float), 1.0, "β: weight of the VAE's KL term")
VAAL_ADVERSARY = Param("vaal_adversary", "vaalAdversary", positive(float), 1.0,
                       "λ: weight of the VAE's adversarial term (fooling the discriminator)")
WAAL_ALPHA = Param("waal_alpha", "waalAlpha", positive(float), 0.002,
                   "α: weight of the critic's Wasserstein estimate in the features' and the critic's losses")
WAAL_PENALTY = Param("waal_penalty", "waalPenalty", positive(float), 2.0,
                     "weight (times α) of the critic's gradient penalty (‖∇D‖ − 1)²")
WAAL_SELECTION = Param("waal_selection", "waalSelection", positive(float), 10.0,
                       "weight of the critic's score D(z) against the uncertainty in the query")
AUTO = "auto"


def auto_or_positive(text):
    """An argparse type: the word auto (in any case), or a positive float (else a one-line error naming the value)."""
    if text.strip().lower() == AUTO:
        return AUTO
    return checked_number(float, lambda value: value > 0, "auto or a positive float")(text)


# The kernel widths whose picks float64 resolves on unit-norm embeddings (distances in [0, 2]) of up to thousands of
# entries: below, the rounding of a distance near 0 (≈ dε) is no longer small against σ², above, every kernel value
# is 1 to within the rounding of the gains; either way the picks would go by row
SIGMA_FLOOR, SIGMA_CEILING = 1e-4, 1e4


def auto_or_kernel_width(text):
    """auto_or_positive for a kernel width σ in [SIGMA_FLOOR, SIGMA_CEILING]."""
    value = auto_or_positive(text)
    if value != AUTO and not SIGMA_FLOOR <= value <= SIGMA_CEILING:
        raise argparse.ArgumentTypeError(
            f"must be auto or a float from {SIGMA_FLOOR:g} to {SIGMA_CEILING:g} (the embeddings have unit norm, at "
            f"most 2 apart: a narrower or wider kernel leaves the picks to float64's rounding, in row order), got "
            f"{text}")
    return value


KERNEL_SIGMA = Param("kernel_sigma", "kernelSigma", auto_or_kernel_width, AUTO,
                     "σ of the Gaussian kernel exp(−‖x̂ − x̂'‖²/(2σ²)) on unit-norm embeddings; auto = the smallest "
                     "distance between two labelled points over √2 (Bae et al.'s adaptive radius); from 1e-4 to 1e4")
UHERDING_TEMPERATURE = Param("uherding_temperature", "uherdingTemperature", auto_or_positive, AUTO,
                             "temperature T of softmax(logits/T), whose margin weighs each point; auto = "
                             "the T in 1, 1.1, ..., 19.9 of least calibration error (ECE) on 30%% of the labelled "
                             "points for a network trained on the rest")

# --alg name -> the parameters of its strategy (a strategy without parameters has no entry)
DECLARED = {
    "powerbald": (BETA,),
    "powermargin": (BETA,),
    "batchbald": (N_CONFIGS,),
    "probcover": (DELTA,),
    "cluster_margin": (KM_FACTOR,),
    "ldm": (LDM_REF, LDM_STOP, LDM_POOL),
    "noise_stability": (NOISE_SCALE, NOISE_DRAWS),
    "alfamix": (ALPHA_CAP,),
    "vessal": (COV_INV_SCALING,),
    "epig": (N_TARGETS, N_DRAWS),
    "dropquery": (DROP_RATE, DROP_PASSES),
    "clue": (TEMPERATURE,),
    "falcun": (GAMMA,),
    "coreset_pca": (PCA_DIM,),
    "fass": (TOP_N,),
    "flqmi": (SMI_ETA, QUERY_CLASSES),
    "logdetmi": (SMI_ETA, SMI_LAMBDA, QUERY_CLASSES),
    "glister": (GLISTER_LR,),
    "lpl": (LPL_WEIGHT, LPL_MARGIN),
    "ceal": (CEAL_DELTA, CEAL_DECAY),
    "vaal": (VAAL_BETA, VAAL_ADVERSARY),
    "waal": (WAAL_ALPHA, WAAL_PENALTY, WAAL_SELECTION),
    "uherding": (KERNEL_SIGMA, UHERDING_TEMPERATURE),
}


def parameters(alg):
    """The Params that the strategy `alg` (an alias too) declares; () for none or an unknown name."""
    return DECLARED.get(ALIASES.get(alg, alg), ())


def every_parameter():
    """{flag: Param} over all strategies, in declaration order; ValueError when two declarations share a flag
    but differ (one flag has one meaning)."""
    found = {}
    for params in DECLARED.values():
        for p in params:
            if found.setdefault(p.flag, p) != p:
                raise ValueError(f"--{p.flag} is declared twice, differently: {found[p.flag]} and {p}")
    return found


def takers(param):
    """The strategies that declare `param`, in declaration order."""
    return [alg for alg, params in DECLARED.items() if param in params]


def add_flags(parser):
    """One flag per declared parameter: its type and default, the help naming the strategies that take it."""
    for flag, p in every_parameter().items():
        parser.add_argument(f"--{flag}", type=p.type, default=p.default, help=f"{', '.join(takers(p))}: {p.help}")


def ignored_flags(alg, flags, given=()):
    """[(flag, the strategies that take it)] for each strategy flag in `flags` (a dict of run.py's flags) given on
    the command line (named in `given`, whatever its value) or set to other than its default that the strategy
    `alg` does not take."""
    own = {p.flag for p in parameters(alg)}
    return [(flag, takers(p)) for flag, p in every_parameter().items()
            if flag not in own and flag in flags and (flag in given or flags[flag] != p.default)]


def given_flags(argv):
    """The flags written in the command line `argv` (`--beta 2` or `--beta=2`), without their dashes."""
    return {token[2:].split("=", 1)[0] for token in argv if token.startswith("--")}


def arguments(alg, flags):
    """The strategy `alg`'s constructor keywords, {name: value of its flag in `flags`} (a dict of run.py's flags)."""
    return {p.name: flags[p.flag] for p in parameters(alg)}


def result_flags(alg):
    """The flags of the strategy `alg`'s parameters that change its results."""
    return [p.flag for p in parameters(alg) if p.changes_results]


def every_result_flag():
    """The flags of every strategy's parameters that change results, in declaration order."""
    return [flag for flag, p in every_parameter().items() if p.changes_results]
