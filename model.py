"""Networks of PROTOCOL §4. Every forward returns (logits, embedding); the embedding is the input of `head`,
the last linear layer. Dropout draws from a generator the learner hands in, so runs are reproducible."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from resnet import ResNet18


class Dropout(nn.Module):
    """Inverted dropout drawing its mask from `self.generator`; channelwise=True drops whole feature maps. A mask
    set in `self.keep` (MC passes whose masks were drawn beforehand) is applied instead, in any mode."""

    def __init__(self, p=0.5, channelwise=False):
        super().__init__()
        self.p, self.channelwise, self.generator, self.keep = p, channelwise, None, None

    def forward(self, x):
        if self.keep is not None:
            return x * self.keep / (1 - self.p)
        if not self.training or self.p == 0:
            return x
        return dropout(x, self.p, self.generator, self.channelwise)


def child_generator(generator, device="cpu"):
    """A new generator on `device` seeded by one 62-bit draw from `generator`."""
    return torch.Generator(device).manual_seed(int(torch.randint(2**62, (1,), generator=generator)))


def keep_mask(shape, p, generator, device, channelwise=False):
    """The Bernoulli(1 − p) keep mask dropout draws for an input of `shape`: one draw per element, or per
    (sample, channel) when channelwise."""
    if channelwise:
        shape = tuple(shape[:2]) + (1,) * (len(shape) - 2)
    return torch.rand(shape, generator=generator, device=device) >= p


def dropout(x, p, generator, channelwise=False):
    """x · Bernoulli(1 − p) / (1 − p); one draw per (sample, channel) when channelwise."""
    return x * keep_mask(x.shape, p, generator, x.device, channelwise) / (1 - p)


class MLP(nn.Module):
    """Linear(d → nEmb), ReLU → embedding; Linear(nEmb → C, no bias)."""

    def __init__(self, dim, n_classes, n_emb=128):
        super().__init__()
        self.lm1 = nn.Linear(dim, n_emb)
        self.head = nn.Linear(n_emb, n_classes, bias=False)
        self.emb_dim = n_emb

    def forward(self, x):
        emb = F.relu(self.lm1(x.flatten(1)))
        return self.head(emb), emb

    @torch.no_grad()
    def loss_gradients(self, x, onehot, out):
        """Gradients of the mean cross-entropy over the batch, in closed form, written into `out` (aligned with
        parameters()); returns the logits z. With h = relu(x W1ᵀ + b1), z = h W2ᵀ, G = (softmax(z) − onehot)/B:
        ∂W2 = Gᵀh, ∂H = (G W2)⊙[h > 0], ∂W1 = ∂Hᵀx, ∂b1 = Σ_rows ∂H."""
        w1, b1, w2 = self.lm1.weight, self.lm1.bias, self.head.weight
        h = torch.addmm(b1, x, w1.t()).relu_()
        z = h.mm(w2.t())
        g = torch.softmax(z, 1).sub_(onehot).div_(len(x))
        torch.mm(g.t(), h, out=out[2])
        dh = torch.ops.aten.threshold_backward(g.mm(w2), h, 0)
        torch.mm(dh.t(), x, out=out[0])
        torch.sum(dh, 0, out=out[1])
        return z


class Linear(nn.Module):
    """Linear(d → C); the embedding is the flattened input."""

    def __init__(self, dim, n_classes):
        super().__init__()
        self.head = nn.Linear(dim, n_classes)
        self.emb_dim = dim

    def forward(self, x):
        emb = x.flatten(1)
        return self.head(emb), emb

    @torch.no_grad()
    def loss_gradients(self, x, onehot, out):
        """Closed-form gradients of the mean cross-entropy (see MLP.loss_gradients): with z = x Wᵀ + b and
        G = (softmax(z) − onehot)/B, ∂W = Gᵀx, ∂b = Σ_rows G; written into `out`, returns z."""
        z = torch.addmm(self.head.bias, x, self.head.weight.t())
        g = torch.softmax(z, 1).sub_(onehot).div_(len(x))
        torch.mm(g.t(), x, out=out[0])
        torch.sum(g, 0, out=out[1])
        return z


class MnistCNN(nn.Module):
    """conv5 10ch, pool, conv5 20ch + 2-D dropout, pool, FC 320→50 (embedding), dropout, FC 50→C. Like every
    network with dropout layers, forward = tail(trunk(x)): trunk holds the layers before the first dropout, which
    MC passes compute once."""

    def __init__(self, in_channels, n_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 10, 5)
        self.conv2 = nn.Conv2d(10, 20, 5)
        self.conv2_drop = Dropout(0.5, channelwise=True)
        self.fc1 = nn.LazyLinear(50)
        self.drop = Dropout(0.5)
        self.head = nn.Linear(50, n_classes)
        self.emb_dim = 50

    def trunk(self, x):
        """conv1, pool, ReLU, conv2: the layers before the first dropout."""
        return self.conv2(F.relu(F.max_pool2d(self.conv1(x), 2)))

    def tail(self, h):
        """(logits, embedding) from trunk's output: 2-D dropout, pool, ReLU, FC, ReLU, dropout, head."""
        x = F.relu(F.max_pool2d(self.conv2_drop(h), 2))
        emb = F.relu(self.fc1(x.flatten(1)))
        return self.head(self.drop(emb)), emb

    def forward(self, x):
        return self.tail(self.trunk(x))


class SvhnCNN(nn.Module):
    """Three conv3 32ch (pool after the last two), FC 1152→400→50 (embedding), dropout, FC 50→C; forward =
    tail(trunk(x)) as in MnistCNN."""

    def __init__(self, in_channels, n_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3)
        self.conv2 = nn.Conv2d(32, 32, 3)
        self.conv3 = nn.Conv2d(32, 32, 3)
        self.conv3_drop = Dropout(0.5, channelwise=True)
        self.fc1 = nn.LazyLinear(400)
        self.fc2 = nn.Linear(400, 50)
        self.drop = Dropout(0.5)
        self.head = nn.Linear(50, n_classes)
        self.emb_dim = 50

    def trunk(self, x):
        """conv1, ReLU, conv2, pool, ReLU, conv3: the layers before the first dropout."""
        x = F.relu(self.conv1(x))
        return self.conv3(F.relu(F.max_pool2d(self.conv2(x), 2)))

    def tail(self, h):
        """(logits, embedding) from trunk's output: 2-D dropout, pool, ReLU, two FC + ReLU, dropout, head."""
        x = F.relu(F.max_pool2d(self.conv3_drop(h), 2))
        x = F.relu(self.fc1(x.flatten(1)))
        emb = F.relu(self.fc2(x))
        return self.head(self.drop(emb)), emb

    def forward(self, x):
        return self.tail(self.trunk(x))


class CifarCNN(nn.Module):
    """conv5 32, conv5 32 + pool, conv5 64 + pool, FC 1024→50 (embedding), dropout, FC 50→C; forward =
    tail(trunk(x)) as in MnistCNN."""

    def __init__(self, in_channels, n_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 5)
        self.conv2 = nn.Conv2d(32, 32, 5)
        self.conv3 = nn.Conv2d(32, 64, 5)
        self.fc1 = nn.LazyLinear(50)
        self.drop = Dropout(0.5)
        self.head = nn.Linear(50, n_classes)
        self.emb_dim = 50

    def trunk(self, x):
        """The embedding: everything before the only dropout."""
        x = F.relu(self.conv1(x))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = F.relu(F.max_pool2d(self.conv3(x), 2))
        return F.relu(self.fc1(x.flatten(1)))

    def tail(self, emb):
        """(logits, embedding): dropout, head."""
        return self.head(self.drop(emb)), emb

    def forward(self, x):
        return self.tail(self.trunk(x))


VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG(nn.Module):
    """VGG16: conv3×3 + BatchNorm + ReLU blocks, max pools, global average pool, embedding 512, Linear(512 → C).
    Pools are skipped once the feature map is 1×1, so 28×28 inputs work."""

    def __init__(self, in_channels, n_classes, config=VGG16):
        super().__init__()
        layers, c = [], in_channels
        for v in config:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, n_classes)
        self.emb_dim = c

    def forward(self, x):
        emb = self.features(x).mean((2, 3))  # average pool to 1×1; on CUDA its backward is deterministic
        return self.head(emb), emb


CNNS = {"MNIST": MnistCNN, "FashionMNIST": MnistCNN, "SVHN": SvhnCNN, "CIFAR10": CifarCNN}


def build_model(name, input_shape, n_classes, n_emb=128, data_name=None):
    """The network `name` for inputs of shape `input_shape` (without the batch dimension)."""
    dim = math.prod(input_shape)
    if name == "mlp":
        return MLP(dim, n_classes, n_emb)
    if name == "lin":
        return Linear(dim, n_classes)
    if name == "resnet":
        return ResNet18(input_shape[0], n_classes)
    if name == "vgg":
        return VGG(input_shape[0], n_classes)
    if name == "cnn":
        return CNNS[data_name](input_shape[0], n_classes)
    raise ValueError(f"unknown model {name!r}")


@torch.no_grad()
def reset_weights(model, generator):
    """Fresh weights for every layer, drawn from the CPU `generator` with PyTorch's default schemes:
    W ~ U(±sqrt(1/fan_in)) (kaiming_uniform with a = √5) and b ~ U(±1/sqrt(fan_in)); BatchNorm to γ = 1, β = 0
    and fresh running statistics. Each tensor is drawn on the CPU and copied to the model's device (a CUDA tensor
    cannot draw from a CPU generator), so a network starts from the same weights on every device."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            m.weight.copy_(nn.init.kaiming_uniform_(on_cpu(m.weight), a=math.sqrt(5), generator=generator))
            if m.bias is not None:
                bound = 1 / math.sqrt(m.weight[0].numel())
                m.bias.copy_(nn.init.uniform_(on_cpu(m.bias), -bound, bound, generator=generator))
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_parameters()


def on_cpu(tensor):
    """An uninitialised CPU tensor of `tensor`'s shape and dtype."""
    return torch.empty(tensor.shape, dtype=tensor.dtype)


def set_dropout_generator(model, generator):
    for m in model.modules():
        if isinstance(m, Dropout):
            m.generator = generator


def has_dropout(model):
    return any(isinstance(m, Dropout) for m in model.modules())
