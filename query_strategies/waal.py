"""WAAL, Wasserstein adversarial active learning (Shui et al. 2020), `waal`: a critic on the classifier's
embedding trains beside it (a training.Extension) to estimate the Wasserstein distance between the unlabelled and
the labelled points, while the network's features learn to shrink it; a query takes the unlabelled points that are
uncertain and that the critic finds least like the labelled ones. docs/FIDELITY.md says how its training relates to
the paper's and to the authors' code."""
import torch
from torch import nn
from torch.func import functional_call

from model import Dropout, reset_weights
from training import UnlabelledDraws, device_generator

from .selection import Picks, top_k
from .strategy import Strategy

HIDDEN = 50  # the authors' critic: FC 50, ReLU, dropout 0.5, FC 1, sigmoid
TINY = torch.finfo(torch.float32).tiny  # probabilities are clamped here before their logarithm


def wasserstein_estimate(critic_unlabelled, critic_labelled, gamma):
    """mean D(z_U) − γ · mean D(z_L): the critic's estimate of the distance from the labelled to the unlabelled
    features, γ = |L|/|U| (the authors' weighing of the labelled term)."""
    return critic_unlabelled.mean() - gamma * critic_labelled.mean()


def gradient_penalty(critic, z_unlabelled, z_labelled, mix):
    """mean over the rows r of [z_U + mix·(z_L − z_U); z_U; z_L] of (‖∇_r D(r)‖₂ − 1)², differentiable in the
    critic's parameters; `mix`: one interpolation weight in [0, 1) per row pair."""
    between = z_unlabelled + mix[:, None] * (z_labelled - z_unlabelled)
    rows = torch.cat([between, z_unlabelled, z_labelled]).detach().requires_grad_()
    grad = torch.autograd.grad(critic(rows).sum(), rows, create_graph=True)[0]
    return (grad.norm(dim=1) - 1).pow(2).mean()


def waal_uncertainty(probs):
    """½‖log p‖₂ + ½‖log p‖₁ per row (p clamped at float32's smallest normal): the authors' bound on the loss
    under the unknown label, smallest where p is uniform, so low means uncertain."""
    log_p = torch.as_tensor(probs).double().clamp_min(TINY).log()
    return 0.5 * log_p.norm(dim=1) + 0.5 * log_p.abs().sum(1)


def waal_select(probs, critic_scores, k, generator, selection):
    """Picks of the k rows of lowest waal_uncertainty(p) − selection · D(z) (ties by position), each scored by that
    value; `generator` unused: no draws."""
    total = waal_uncertainty(torch.as_tensor(probs).cpu()) - selection * torch.as_tensor(critic_scores).double().cpu()
    lowest = top_k(-total, k)
    return Picks(lowest.index, -lowest.score)


class Critic(UnlabelledDraws):
    """The critic D: FC(n_features → 50), ReLU, dropout 0.5 (from the run's generator), FC(50 → 1), sigmoid, on the
    classifier's embedding z. Each minibatch of labelled points (L) is paired with as many unlabelled points (U,
    drawn uniformly from the run's generator), whose features come from the same network; its loss is, summed:
    α · wasserstein_estimate with the critic's parameters held fixed (the features' term: its gradient reaches the
    network), and −α · wasserstein_estimate + α·λ·gradient_penalty on the features held fixed (the critic's term,
    ascending the estimate under a penalty that keeps it near 1-Lipschitz)."""
    name = "waal_critic"
    adds_loss = True
    weight_flags = ("--waalAlpha", "--waalPenalty")

    def __init__(self, unlabelled, alpha, penalty):
        """`unlabelled`: a function giving the pool indices not yet labelled."""
        super().__init__(unlabelled)
        self.alpha, self.penalty = alpha, penalty
        self.net = None
        self.gamma = 0.0

    def reset(self, generator, device, n_features):
        self.net = nn.Sequential(nn.Linear(n_features, HIDDEN), nn.ReLU(), Dropout(0.5), nn.Linear(HIDDEN, 1),
                                 nn.Sigmoid()).to(device)
        reset_weights(self.net, generator)
        self.net[2].generator = device_generator(generator, device)
        self.gen = generator

    def parameters(self):
        return list(self.net.parameters())

    def generators(self):
        return [self.net[2].generator]

    def train(self):
        """Training mode; the unlabelled points of this training and γ = |L|/|U| (read once per epoch)."""
        self.net.train()
        super().train()
        self.gamma = (len(self.X) - len(self.rows)) / max(len(self.rows), 1)

    def eval(self):
        self.net.eval()

    def loss(self, model, x, y, logits, emb):
        """α·(W(held critic) − W(critic on held features) + λ·GP), W = wasserstein_estimate over this labelled
        minibatch's embeddings and those of as many drawn unlabelled points."""
        drawn = self.unlabelled_batch(len(x))
        if drawn is None:  # nothing unlabelled to tell apart: no adversarial term
            return self.no_loss()
        z_u, z_l = model(drawn)[1], emb
        features = wasserstein_estimate(self.held(z_u), self.held(z_l), self.gamma)
        z_u, z_l = z_u.detach(), z_l.detach()
        ascent = wasserstein_estimate(self.net(z_u), self.net(z_l), self.gamma)
        mix = torch.rand(len(x), generator=self.gen, dtype=z_u.dtype).to(z_u.device)
        return self.alpha * (features - ascent + self.penalty * gradient_penalty(self.net, z_u, z_l, mix))

    def held(self, z):
        """D(z) with the critic's parameters held fixed (differentiable in z only)."""
        return functional_call(self.net, {k: v.detach() for k, v in self.net.named_parameters()}, (z,))

    @torch.no_grad()
    def score(self, emb):
        """D(z) of each embedding row (eval mode: no dropout)."""
        self.eval()
        return self.net(emb).squeeze(1)

    def state_dict(self):
        return self.net.state_dict()

    def load_state_dict(self, state):
        self.net.load_state_dict(state)


class WAAL(Strategy):
    """`waal`: the unlabelled points of lowest ½‖log p‖₂ + ½‖log p‖₁ − selection · D(z), the critic D trained
    beside the classifier (Critic)."""
    name = "waal"

    def __init__(self, learner, labeled, generator, **params):
        super().__init__(learner, labeled, generator, **params)
        self.module = Critic(self.unlabeled, self.waal_alpha, self.waal_penalty)
        self.extensions = (self.module,)

    def select(self, n):
        idx = self.unlabeled()
        probs, critic = self.learner.embedding_scores(idx, self.module.score)
        return waal_select(probs, critic, n, self.gen, self.waal_selection).among(idx)
