from .strategy import ScoreStrategy


def least_confidence(probs):
    """score = −max_c p_c: the least confident prediction scores highest."""
    return -probs.max(dim=1).values


class LeastConfidence(ScoreStrategy):
    """`conf`: lowest max probability."""

    name = "conf"
    score = staticmethod(least_confidence)


class LeastConfidenceDropout(LeastConfidence):
    """`conf_dropout`: lowest max of the mean MC-dropout probabilities."""

    name = "conf_dropout"
    dropout = True
