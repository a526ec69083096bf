"""VAAL, variational adversarial active learning (Sinha et al. 2019), `vaal`: a VAE on the inputs and a
discriminator on its latent codes train beside the classifier (a training.Extension), the discriminator telling
labelled from unlabelled points and the VAE learning to fool it; the unlabelled points the discriminator finds
least likely labelled are queried. docs/FIDELITY.md says how its training relates to the paper's."""
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from model import reset_weights
from training import UnlabelledDraws

from .selection import top_k
from .strategy import Strategy

LATENT, HIDDEN = 32, 512  # the paper's latent size (CIFAR-10) and discriminator width


def vae_loss(x, reconstruction, mu, logvar, beta):
    """Σ_features (x − x̂)² + β · KL(N(μ, σ²) ‖ N(0, I)), KL = −½ Σ (1 + log σ² − μ² − σ²), each averaged over
    points."""
    squared = (x - reconstruction).pow(2).flatten(1).sum(1).mean()
    return squared + beta * (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean())


def vaal_select(labelled_probability, k, generator):
    """Picks of the k points with the lowest discriminator probability of being labelled, scored 1 − D(μ)
    (ties by position; `generator` unused: no draws)."""
    return top_k(1 - torch.as_tensor(labelled_probability).double(), k)


class AdversarialVAE(UnlabelledDraws):
    """The VAE (encoder: FC 512, ReLU, FC to μ and log σ² in 32 dimensions; decoder: FC 512, ReLU, FC back to the
    input) and the discriminator (FC 512, ReLU, FC 512, ReLU, FC 1, sigmoid on the latent code). Each minibatch of
    labelled points (L) is paired with as many unlabelled points (U, drawn uniformly from the run's generator);
    its loss is, summed: the VAE's on L and U (vae_loss) + λ · the binary cross-entropy of the discriminator, its
    parameters held fixed, calling z(L) and z(U) labelled (the VAE's adversarial term); + the discriminator's
    binary cross-entropy calling z(L) labelled and z(U) unlabelled, the codes held fixed."""
    name = "vaal"
    adds_loss = True
    weight_flags = ("--vaalBeta", "--vaalAdversary")

    def __init__(self, unlabelled, beta, adversary_weight):
        """`unlabelled`: a function giving the pool indices not yet labelled."""
        super().__init__(unlabelled)
        self.beta, self.weight = beta, adversary_weight
        self.vae = self.disc = None

    def reset(self, generator, device, n_features):
        d = self.X[0].numel()
        self.vae = nn.ModuleDict({"encode": nn.Sequential(nn.Flatten(), nn.Linear(d, HIDDEN), nn.ReLU(),
                                                          nn.Linear(HIDDEN, 2 * LATENT)),
                                  "decode": nn.Sequential(nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, d))})
        self.disc = nn.Sequential(nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                                  nn.Linear(HIDDEN, 1))
        self.vae, self.disc, self.gen = self.vae.to(device), self.disc.to(device), generator
        reset_weights(self.vae, generator)
        reset_weights(self.disc, generator)

    def parameters(self):
        return list(self.vae.parameters()) + list(self.disc.parameters())

    def train(self):
        """Training mode; the unlabelled points of this training (read once per epoch)."""
        self.vae.train()
        self.disc.train()
        super().train()

    def eval(self):
        self.vae.eval()
        self.disc.eval()

    def encode(self, x):
        """(μ, log σ²) of inputs x."""
        return self.vae["encode"](x).chunk(2, dim=1)

    def loss(self, model, x, y, logits, emb):
        drawn = self.unlabelled_batch(len(x))
        if drawn is None:  # nothing unlabelled to tell apart (the whole pool labelled): no VAAL term
            return self.no_loss()
        both = torch.cat([x, drawn])
        mu, logvar = self.encode(both)
        noise = torch.randn(mu.shape, generator=self.gen, dtype=mu.dtype).to(mu.device)
        z = mu + noise * (0.5 * logvar).exp()
        reconstruction = self.vae["decode"](z).view_as(both)
        is_labelled = torch.cat([torch.ones(len(x)), torch.zeros(len(x))]).to(mu.device)
        fixed = {k: v.detach() for k, v in self.disc.named_parameters()}
        fooled = F.binary_cross_entropy_with_logits(functional_call(self.disc, fixed, (z,)).squeeze(1),
                                                    torch.ones_like(is_labelled))
        told = F.binary_cross_entropy_with_logits(self.disc(z.detach()).squeeze(1), is_labelled)
        return vae_loss(both, reconstruction, mu, logvar, self.beta) + self.weight * fooled + told

    @torch.no_grad()
    def labelled_probability(self, x):
        """D(μ(x)): the discriminator's probability that each input is labelled."""
        self.eval()
        return torch.sigmoid(self.disc(self.encode(x)[0]).squeeze(1))

    def state_dict(self):
        return {"vae": self.vae.state_dict(), "disc": self.disc.state_dict()}

    def load_state_dict(self, state):
        self.vae.load_state_dict(state["vae"])
        self.disc.load_state_dict(state["disc"])


class VAAL(Strategy):
    """`vaal`: the unlabelled points with the lowest discriminator probability of being labelled."""
    name = "vaal"

    def __init__(self, learner, labeled, generator, **params):
        super().__init__(learner, labeled, generator, **params)
        self.module = AdversarialVAE(self.unlabeled, self.vaal_beta, self.vaal_adversary)
        self.extensions = (self.module,)

    def select(self, n):
        idx = self.unlabeled()
        return vaal_select(self.learner.input_scores(idx, self.module.labelled_probability), n, self.gen).among(idx)
