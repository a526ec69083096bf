from .strategy import ScoreStrategy


def smallest_margin(probs):
    """score = −(p₍₁₎ − p₍₂₎): the smallest gap between the two most probable classes scores highest."""
    top2 = probs.topk(2, dim=1).values
    return top2[:, 1] - top2[:, 0]


class MarginSampling(ScoreStrategy):
    """`marg`: smallest margin between the top two probabilities."""

    name = "marg"
    score = staticmethod(smallest_margin)


class MarginSamplingDropout(MarginSampling):
    """`marg_dropout`: smallest margin of the mean MC-dropout probabilities."""

    name = "marg_dropout"
    dropout = True
