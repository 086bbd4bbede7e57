"""ResNet-18 with torchvision's module names, so torchvision checkpoints load unchanged.

torchvision cannot be installed here (no CPU build), so the architecture is written out; the
names and shapes follow ``torchvision.models.resnet18`` exactly (``conv1``, ``bn1``, ``layer1.0
.conv1``, ``layer2.0.downsample.0``, ``fc``, ...), and so does the initialization (Kaiming normal,
fan-out, for convolutions; BN weight 1, bias 0). At width 1 with 1000 classes it has 11,689,512
parameters, as torchvision's.

Variants: ``stem="small"`` replaces the 7x7/2 convolution and the max-pool with a 3x3/1
convolution (for 32x32 inputs); ``width`` multiplies every channel count.

Example:
    >>> import torch
    >>> m = resnet18(num_classes=10, stem="small", width=0.25)
    >>> m(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from qkernels.core.errors import InputError


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: conv-bn-relu-conv-bn plus the (downsampled) identity."""

    expansion = 1

    def __init__(self, cin: int, cout: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A ResNet of BasicBlocks with torchvision's layout and names."""

    def __init__(
        self,
        layers: tuple[int, int, int, int] = (2, 2, 2, 2),
        num_classes: int = 1000,
        width: float = 1.0,
        stem: Literal["imagenet", "small"] = "imagenet",
        in_channels: int = 3,
    ):
        super().__init__()
        if stem not in ("imagenet", "small"):
            raise InputError(f"stem: expected 'imagenet' or 'small', got {stem!r}")
        if not width > 0:
            raise InputError(f"width: expected a positive multiplier, got {width!r}")
        if num_classes < 1 or in_channels < 1:
            raise InputError("num_classes and in_channels must be at least 1")
        chans = [max(1, int(round(c * width))) for c in (64, 128, 256, 512)]
        self.inplanes = chans[0]
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, chans[0], kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(in_channels, chans[0], kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(chans[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(chans[0], layers[0])
        self.layer2 = self._make_layer(chans[1], layers[1], stride=2)
        self.layer3 = self._make_layer(chans[2], layers[2], stride=2)
        self.layer4 = self._make_layer(chans[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(chans[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(
    num_classes: int = 1000, width: float = 1.0, stem: Literal["imagenet", "small"] = "imagenet", in_channels: int = 3
) -> ResNet:
    """ResNet-18 (torchvision names). See the module docstring for the variants."""
    return ResNet((2, 2, 2, 2), num_classes=num_classes, width=width, stem=stem, in_channels=in_channels)


__all__ = ["BasicBlock", "ResNet", "resnet18"]
