"""Learning loss (Yoo & Kweon, CVPR 2019), `lpl`: a loss-prediction module trained beside the classifier (a
training.Extension) predicts each point's cross-entropy from its embedding; the points with the highest predicted
losses are labelled. docs/FIDELITY.md says how its training relates to the paper's."""
import torch
import torch.nn.functional as F

from model import reset_weights
from training import Extension

from .selection import top_k
from .strategy import Strategy

HIDDEN = 128  # the paper's loss-prediction module: FC layers of 128 units on each feature


def pairwise_ranking_loss(predicted, target, margin):
    """The paper's loss over a minibatch split into pairs (i, B−1−i), i < ⌊B/2⌋: the mean over pairs of
    max(0, −s·(l̂_i − l̂_j) + ξ), s = +1 where l_i > l_j, else −1; 0 for a minibatch of one point (no pair)."""
    half = len(predicted) // 2
    gap = (predicted - predicted.flip(0))[:half]
    sign = torch.where((target - target.flip(0))[:half] > 0, 1.0, -1.0)
    return torch.clamp(margin - sign * gap, min=0).sum() / max(half, 1)


def learning_loss_select(predicted_losses, k, generator):
    """Picks of the k points with the highest predicted losses (ties by position; `generator` unused: no draws)."""
    return top_k(predicted_losses, k)


class LossPrediction(Extension):
    """The loss-prediction module: FC(d→128), ReLU, FC(128→1) on the classifier's embedding, trained with
    λ·pairwise_ranking_loss(predicted, true cross-entropy (not differentiated), ξ) added to each minibatch's
    cross-entropy; its gradient also reaches the classifier through the embedding, as in the paper."""
    name = "loss_prediction"
    adds_loss = True
    weight_flags = ("--lplWeight",)

    def __init__(self, weight, margin):
        self.weight, self.margin, self.net = weight, margin, None

    def reset(self, generator, device, n_features):
        self.net = torch.nn.Sequential(torch.nn.Linear(n_features, HIDDEN), torch.nn.ReLU(),
                                       torch.nn.Linear(HIDDEN, 1)).to(device)
        reset_weights(self.net, generator)

    def parameters(self):
        return list(self.net.parameters())

    def train(self):
        self.net.train()

    def eval(self):
        self.net.eval()

    def loss(self, model, x, y, logits, emb):
        """λ · the ranking loss of the module's predictions against this minibatch's per-point cross-entropy."""
        true = F.cross_entropy(logits, y, reduction="none").detach()
        return self.weight * pairwise_ranking_loss(self.net(emb).squeeze(1), true, self.margin)

    @torch.no_grad()
    def predict(self, emb):
        """The predicted loss of each embedding row."""
        return self.net.eval()(emb).squeeze(1)

    def state_dict(self):
        return self.net.state_dict()

    def load_state_dict(self, state):
        self.net.load_state_dict(state)


class LearningLoss(Strategy):
    """`lpl`: the unlabelled points whose predicted loss (LossPrediction on their embeddings) is highest."""
    name = "lpl"

    def __init__(self, learner, labeled, generator, **params):
        super().__init__(learner, labeled, generator, **params)
        self.module = LossPrediction(self.lpl_weight, self.lpl_margin)
        self.extensions = (self.module,)

    def select(self, n):
        idx = self.unlabeled()
        return learning_loss_select(self.learner.embedding_scores(idx, self.module.predict)[1], n, self.gen).among(idx)


