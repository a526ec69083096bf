"""Selection algorithms, one module each; STRATEGIES maps every `--alg` name (aliases included) to its class."""
from .active_learning_by_learning import ActiveLearningByLearning
from .adversarial_bim import AdversarialBIM
from .adversarial_deepfool import AdversarialDeepFool
from .badge_sampling import BadgeSampling
from .bait_sampling import BaitSampling
from .bald import BALDDropout
from .cluster_margin import ClusterMargin
from .batchbald import BatchBALD
from .core_set import CoreSet
from .entropy_sampling import EntropySampling, EntropySamplingDropout
from .kdpp_sampling import BaselineSampling
from .kmeans_sampling import KMeansSampling
from .least_confidence import LeastConfidence, LeastConfidenceDropout
from .margin_sampling import MarginSampling, MarginSamplingDropout
from .mc_uncertainty import MeanSTD, VariationRatio
from .power_sampling import PowerBALD, PowerMargin
from .probcover import ProbCover
from .random_sampling import RandomSampling
from .strategy import Strategy
from .typiclust import TypiClust

_CLASSES = [RandomSampling, LeastConfidence, MarginSampling, EntropySampling, LeastConfidenceDropout,
            MarginSamplingDropout, EntropySamplingDropout, BALDDropout, BadgeSampling, BaselineSampling, CoreSet,
            KMeansSampling, ActiveLearningByLearning, AdversarialBIM, AdversarialDeepFool, BaitSampling,
            VariationRatio, MeanSTD, PowerBALD, PowerMargin, BatchBALD, TypiClust, ProbCover,
            ClusterMargin]
ALIASES = {"kdpp": "baseline", "kcenter": "coreset"}
STRATEGIES = {cls.name: cls for cls in _CLASSES}
STRATEGIES.update({alias: STRATEGIES[name] for alias, name in ALIASES.items()})

__all__ = ["STRATEGIES", "ALIASES", "Strategy"]
