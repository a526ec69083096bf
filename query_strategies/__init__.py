"""Selection algorithms, a module per algorithm or family; STRATEGIES maps every `--alg` name (aliases included) to
its class, each class listed in CLASSES under its own `name`.

A strategy's module (and what it imports: torch, scikit-learn's clustering, ...) is imported only when its class
is first looked up, so listing the names costs nothing and a run imports only the strategy it uses."""
from collections.abc import Mapping
from importlib import import_module

# --alg name: (module in this package, class)
CLASSES = {
    "rand": ("random_sampling", "RandomSampling"),
    "conf": ("least_confidence", "LeastConfidence"),
    "marg": ("margin_sampling", "MarginSampling"),
    "entropy": ("entropy_sampling", "EntropySampling"),
    "conf_dropout": ("least_confidence", "LeastConfidenceDropout"),
    "marg_dropout": ("margin_sampling", "MarginSamplingDropout"),
    "entropy_dropout": ("entropy_sampling", "EntropySamplingDropout"),
    "bald": ("bald", "BALDDropout"),
    "badge": ("badge_sampling", "BadgeSampling"),
    "baseline": ("kdpp_sampling", "BaselineSampling"),
    "coreset": ("core_set", "CoreSet"),
    "kmeans": ("kmeans_sampling", "KMeansSampling"),
    "albl": ("active_learning_by_learning", "ActiveLearningByLearning"),
    "bim": ("adversarial_bim", "AdversarialBIM"),
    "deepfool": ("adversarial_deepfool", "AdversarialDeepFool"),
    "bait": ("bait_sampling", "BaitSampling"),
    "varratio": ("mc_uncertainty", "VariationRatio"),
    "meanstd": ("mc_uncertainty", "MeanSTD"),
    "powerbald": ("power_sampling", "PowerBALD"),
    "powermargin": ("power_sampling", "PowerMargin"),
    "batchbald": ("batchbald", "BatchBALD"),
    "typiclust": ("typiclust", "TypiClust"),
    "probcover": ("probcover", "ProbCover"),
    "cluster_margin": ("cluster_margin", "ClusterMargin"),
    "ldm": ("ldm", "LDMSampling"),
    "noise_stability": ("noise_stability", "NoiseStability"),
    "alfamix": ("alfamix", "AlfaMix"),
    "vessal": ("vessal", "VeSSAL"),
    "epig": ("epig", "EPIG"),
    "dropquery": ("dropquery", "DropQuery"),
    "clue": ("clue", "CLUE"),
    "falcun": ("falcun", "Falcun"),
    "coreset_pca": ("coreset_pca", "CoreSetPCA"),
    "galaxy": ("galaxy", "Galaxy"),
    "fass": ("fass", "FASS"),
    "flqmi": ("similar", "FLQMI"),
    "logdetmi": ("similar", "LogDetMI"),
    "glister": ("glister", "Glister"),
    "lpl": ("learning_loss", "LearningLoss"),
    "ceal": ("ceal", "CEAL"),
    "vaal": ("vaal", "VAAL"),
    "waal": ("waal", "WAAL"),
    "uherding": ("uherding", "UncertaintyHerding"),
}
ALIASES = {"kdpp": "baseline", "kcenter": "coreset", "learning_loss": "lpl"}


class StrategyTable(Mapping):
    """name -> strategy class over CLASSES and ALIASES; a lookup imports the class's module (once: Python keeps
    it in sys.modules)."""

    def __getitem__(self, name):
        """The class of `name`; TypeError when its `name` attribute (the key of its parameters, strategy_params) is
        not its CLASSES key."""
        key = ALIASES.get(name, name)
        module, cls_name = CLASSES[key]
        cls = getattr(import_module(f"{__name__}.{module}"), cls_name)
        if cls.name != key:
            raise TypeError(f"{__name__}.{module}.{cls_name}.name is {cls.name!r}: set it to {key!r}, its key in "
                            f"CLASSES (the --alg name its parameters are declared under)")
        return cls

    def __iter__(self):
        return iter([*CLASSES, *ALIASES])

    def __len__(self):
        return len(CLASSES) + len(ALIASES)

    def __contains__(self, name):
        return name in CLASSES or name in ALIASES


STRATEGIES = StrategyTable()

__all__ = ["STRATEGIES", "ALIASES"]
