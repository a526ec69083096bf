from .entropy_sampling import entropy
from .selection import one_thread, top_k
from .strategy import Strategy


@one_thread()
def bald_scores(mc_probs):
    """Mutual information H(mean_t p_t) − mean_t H(p_t) over MC-dropout probabilities of shape (T, n, C), on one
    thread (each reduction splits over the n·C outputs, so the values are those of any thread count)."""
    return entropy(mc_probs.mean(0)) - entropy(mc_probs).mean(0)


class BALDDropout(Strategy):
    """`bald`: highest mutual information between prediction and weights, from 10 MC-dropout passes."""

    name = "bald"

    def select(self, n):
        idx = self.unlabeled()
        return top_k(bald_scores(self.learner.mc_probs(idx)), n).among(idx)
