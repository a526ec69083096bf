"""Selection algorithms, one module each; STRATEGIES maps every `--alg` name (aliases included) to its class."""
from .bald import BALDDropout
from .entropy_sampling import EntropySampling, EntropySamplingDropout
from .least_confidence import LeastConfidence, LeastConfidenceDropout
from .margin_sampling import MarginSampling, MarginSamplingDropout
from .random_sampling import RandomSampling
from .strategy import Strategy

_CLASSES = [RandomSampling, LeastConfidence, MarginSampling, EntropySampling, LeastConfidenceDropout,
            MarginSamplingDropout, EntropySamplingDropout, BALDDropout]
ALIASES = {}
STRATEGIES = {cls.name: cls for cls in _CLASSES}
STRATEGIES.update({alias: STRATEGIES[name] for alias, name in ALIASES.items()})

__all__ = ["STRATEGIES", "ALIASES", "Strategy"]
