"""Forward shapes, embedding sizes and weight resets of every network."""
import pytest
import torch

from model import MLP, VGG, Dropout, Linear, build_model, has_dropout, reset_weights
from resnet import ResNet18

CASES = [  # model, data name, input shape, embedding size
    ("mlp", "digits", (64,), 128),
    ("lin", "digits", (64,), 64),
    ("mlp", "MNIST", (1, 28, 28), 128),
    ("lin", "MNIST", (1, 28, 28), 784),
    ("cnn", "MNIST", (1, 28, 28), 50),
    ("cnn", "FashionMNIST", (1, 28, 28), 50),
    ("cnn", "SVHN", (3, 32, 32), 50),
    ("cnn", "CIFAR10", (3, 32, 32), 50),
    ("resnet", "CIFAR10", (3, 32, 32), 128),
    ("resnet", "MNIST", (1, 28, 28), 128),
    ("vgg", "CIFAR10", (3, 32, 32), 512),
    ("vgg", "MNIST", (1, 28, 28), 512),
]


@pytest.mark.parametrize("name,data,shape,emb", CASES)
def test_forward_returns_logits_and_embedding(name, data, shape, emb):
    net = build_model(name, shape, 10, 128, data).eval()
    x = torch.randn(3, *shape)
    logits, e = net(x)
    assert logits.shape == (3, 10)
    assert e.shape == (3, emb) and net.emb_dim == emb
    assert torch.allclose(net.head(e), logits, atol=1e-5)  # the embedding is the input of the last layer


def test_mlp_layout_follows_spec():
    net = MLP(20, 4, n_emb=7)
    assert net.lm1.weight.shape == (7, 20) and net.head.weight.shape == (4, 7) and net.head.bias is None
    x = torch.randn(5, 20)
    assert torch.equal(net(x)[1], torch.relu(net.lm1(x)))


def test_linear_embedding_is_the_flattened_input():
    net = Linear(12, 3)
    x = torch.randn(2, 3, 2, 2)
    assert torch.equal(net(x)[1], x.flatten(1))


def test_narrow_resnet18_widths():
    net = ResNet18(3, 10)
    widths = [m.out_channels for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert widths[0] == 16 and sorted(set(widths)) == [16, 32, 64, 128]
    assert len(net.layers) == 8  # BasicBlocks [2, 2, 2, 2]


@pytest.mark.parametrize("net, body", [(ResNet18(1, 10), lambda n, x: n.layers(torch.relu(n.bn1(n.conv1(x))))),
                                       (VGG(1, 10), lambda n, x: n.features(x))])
def test_the_embedding_is_the_adaptive_average_pool_bit_for_bit(net, body):
    """The mean over the last map's height and width (deterministic backward on CUDA) gives the same bits on the
    CPU as adaptive_avg_pool2d to 1×1 (the original's pooling), forward and backward."""
    torch.manual_seed(0)
    x = torch.randn(8, 1, 28, 28)
    net.train()
    state = torch.get_rng_state()
    logits, emb = net(x)
    (logits.square().sum() + emb.sum()).backward()
    ours = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    torch.set_rng_state(state)
    pooled = torch.nn.functional.adaptive_avg_pool2d(body(net, x), 1).flatten(1)
    (net.head(pooled).square().sum() + pooled.sum()).backward()
    assert torch.equal(emb, pooled) and all(torch.equal(a, p.grad) for a, p in zip(ours, net.parameters()))


def test_vgg16_has_13_convolutions_with_batchnorm():
    net = VGG(3, 10)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(convs) == 13 and len(bns) == 13


def test_reset_weights_is_seeded_and_resets_batchnorm():
    net = build_model("resnet", (3, 32, 32), 10)
    net.train()(torch.randn(4, 3, 32, 32))  # move BatchNorm running statistics
    bn = net.bn1
    assert not torch.allclose(bn.running_mean, torch.zeros_like(bn.running_mean))
    reset_weights(net, torch.Generator().manual_seed(1))
    a = [p.clone() for p in net.parameters()]
    assert torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean)) and bn.num_batches_tracked == 0
    reset_weights(net, torch.Generator().manual_seed(1))
    assert all(torch.equal(p, q) for p, q in zip(a, net.parameters()))
    reset_weights(net, torch.Generator().manual_seed(2))
    assert not torch.equal(a[0], next(net.parameters()))


@pytest.mark.parametrize("name, shape", [("mlp", (64,)), ("cnn", (1, 28, 28)), ("resnet", (3, 32, 32))])
def test_reset_weights_draws_each_tensor_as_torch_draws_it_in_place(name, shape):
    """Drawn on the CPU and copied in (a CUDA tensor cannot draw from a CPU generator): the same weights as
    PyTorch's in-place initialisation of CPU tensors from the same generator, so CPU runs keep their numbers."""
    net, drawn = (build_model(name, shape, 10, data_name="MNIST") for _ in range(2))
    with torch.no_grad():
        for model in (net, drawn):
            model.eval()(torch.zeros(1, *shape))  # materialise lazy layers, as training.Trainer does
    reset_weights(net, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for m in drawn.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
                torch.nn.init.kaiming_uniform_(m.weight, a=5 ** 0.5, generator=g)
                if m.bias is not None:
                    bound = 1 / m.weight[0].numel() ** 0.5
                    torch.nn.init.uniform_(m.bias, -bound, bound, generator=g)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), drawn.parameters()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_reset_weights_on_cuda_gives_the_cpu_weights():
    """A network moved to CUDA, then given fresh weights from the run's CPU generator (training.Trainer does so),
    starts from the CPU's weights; uniform_ on a CUDA tensor with a CPU generator raised."""
    cpu, cuda = build_model("resnet", (3, 32, 32), 10), build_model("resnet", (3, 32, 32), 10).cuda()
    reset_weights(cpu, torch.Generator().manual_seed(5))
    reset_weights(cuda, torch.Generator().manual_seed(5))
    assert all(torch.equal(p, q.cpu()) for p, q in zip(cpu.parameters(), cuda.parameters()))


def test_reset_weights_follows_pytorch_default_bounds():
    net = Linear(400, 3)
    reset_weights(net, torch.Generator().manual_seed(0))
    bound = 1 / 400 ** 0.5
    assert net.head.weight.abs().max() <= bound and net.head.weight.abs().max() > 0.9 * bound
    assert net.head.bias.abs().max() <= bound


def test_dropout_uses_its_generator_and_only_in_training():
    d = Dropout(0.5)
    x = torch.ones(1000)
    d.generator = torch.Generator().manual_seed(0)
    a = d.train()(x)
    d.generator = torch.Generator().manual_seed(0)
    assert torch.equal(a, d(x))
    assert set(a.unique().tolist()) == {0.0, 2.0} and 400 < (a == 0).sum() < 600
    assert torch.equal(d.eval()(x), x)


def test_channelwise_dropout_drops_whole_maps():
    d = Dropout(0.5, channelwise=True).train()
    d.generator = torch.Generator().manual_seed(0)
    out = d(torch.ones(4, 16, 5, 5))
    per_map = out.flatten(2)
    assert torch.all(per_map.amin(2) == per_map.amax(2))


def test_which_models_have_dropout():
    assert has_dropout(build_model("cnn", (1, 28, 28), 10, data_name="MNIST"))
    assert not has_dropout(build_model("mlp", (64,), 10))
