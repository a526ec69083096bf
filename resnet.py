"""The BADGE code's narrow ResNet-18: 3×3 stem with 16 channels, BasicBlocks [2, 2, 2, 2] with 16/32/64/128
channels (strides 1, 2, 2, 2), global average pool, embedding 128, Linear(128 → C)."""
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    """Two conv3×3 + BatchNorm layers with a (projected when the shape changes) identity shortcut."""

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, num_blocks, in_channels=3, n_classes=10, widths=(16, 32, 64, 128)):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        blocks, in_planes = [], widths[0]
        for planes, n, stride in zip(widths, num_blocks, (1, 2, 2, 2)):
            for s in [stride] + [1] * (n - 1):
                blocks.append(BasicBlock(in_planes, planes, s))
                in_planes = planes
        self.layers = nn.Sequential(*blocks)
        self.head = nn.Linear(in_planes, n_classes)
        self.emb_dim = in_planes

    def forward(self, x):
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        emb = out.mean((2, 3))  # average pool to 1×1; on CUDA its backward is deterministic
        return self.head(emb), emb


def ResNet18(in_channels=3, n_classes=10):
    return ResNet([2, 2, 2, 2], in_channels, n_classes)
