"""`varratio` and `meanstd`, two uncertainty scores of DeepAL+ (Zhan et al. 2022), both over the same 10 MC-dropout
passes as `bald`. DeepAL+'s `MeanSTD` takes MC-dropout passes too; its `VarRatio` takes the deterministic
prediction (so it is `conf`), where ours takes the equation of Gal, Islam & Ghahramani (2017), 1 − max_c p(c | x)
with p the mean of the MC-dropout passes. Their published code counts votes instead, 1 − f_mode/T (f_mode: the
passes whose argmax is the most frequent class), which can rank points the other way round."""
import torch

from .least_confidence import LeastConfidenceDropout
from .selection import BLOCK, one_thread, top_k
from .strategy import Strategy


def variation_ratio(probs):
    """1 − max_c p̄_c, with p̄ the mean MC-dropout probabilities (Freeman's variation ratio of the averaged
    prediction). It ranks points exactly as `conf_dropout`'s −max_c p̄_c does."""
    return 1 - probs.max(dim=1).values


@one_thread()
def mean_std(mc_probs):
    """(1/C) Σ_c σ_c with σ_c = sqrt(mean_t (p_tc − p̄_c)²), the population standard deviation over the T passes
    of probabilities of shape (T, n, C) (Kampffmeyer et al. 2016). σ is taken in float64 by two passes over
    blocks of BLOCK points (each a contiguous sweep over the n·C axis, not a reduction over the strided T axis),
    then rounded to the input's dtype, as torch's std (float64 accumulation) does; the class mean is in that dtype."""
    sigma = []
    for block in mc_probs.split(BLOCK, dim=1):
        block = block.double()
        sigma.append((block - block.mean(0)).square_().mean(0).sqrt_().to(mc_probs.dtype))
    return torch.cat(sigma).mean(dim=1)


class VariationRatio(LeastConfidenceDropout):
    """`varratio`: highest 1 − max of the mean MC-dropout probabilities."""

    name = "varratio"
    score = staticmethod(variation_ratio)


class MeanSTD(Strategy):
    """`meanstd`: highest mean over classes of the standard deviation of the MC-dropout probabilities."""

    name = "meanstd"

    def select(self, n):
        idx = self.unlabeled()
        return top_k(mean_std(self.learner.mc_probs(idx)), n).among(idx)
