"""`badge`: k-means++ seeding in the gradient-embedding space (Ash et al. 2020).

The gradient embedding of point i is g_i = a_i ⊗ e_i with a_i = onehot(ŷ_i) − p_i. It is never built:
‖g_i − g_j‖² = s_i + s_j − 2(a_i·a_j)(e_i·e_j) with s_i = ‖a_i‖²‖e_i‖².

kmeanspp over the points (selection.py) seeds with the exact law without forming g."""
from .selection import FactoredPoints, check_budget, gradient_factor, kmeanspp, one_thread
from .strategy import Strategy


@one_thread()
def badge_select(probs, emb, k, generator):
    """k rows by k-means++ seeding on gradient embeddings g = (onehot(ŷ) − p) ⊗ e, starting from the largest ‖g‖;
    each scored by its D² when drawn (the first by its ‖g‖²)."""
    check_budget(k, len(emb))
    points = FactoredPoints(gradient_factor(probs), emb)
    return kmeanspp(points, k, generator, int(points.s.argmax()))


class BadgeSampling(Strategy):
    """`badge`: diverse, uncertain points by k-means++ seeding on the last-layer gradient embeddings."""

    takes_gradients = True
    name = "badge"

    def select(self, n):
        idx = self.unlabeled()
        probs, emb = self.learner.probs_embeddings(idx)
        return badge_select(probs, emb, n, self.gen).among(idx)
