"""ResNet-18/34 encoder written here, with torchvision's state-dict key names.

Keys match ``torchvision.models.resnet34().state_dict()`` minus ``fc.*``, so a user's ImageNet
weights load with strict matching through :func:`load_imagenet_weights`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection (torchvision's layout and names)."""

    expansion = 1
    conv_bn_pairs = (("conv1", "bn1"), ("conv2", "bn2"))  # applied back to back in forward: foldable

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNetEncoder(nn.Module):
    """ResNet trunk without the classifier; returns features at strides 2, 4, 8, 16, 32."""

    conv_bn_pairs = (("conv1", "bn1"),)

    def __init__(self, layers: tuple[int, int, int, int] = (3, 4, 6, 3)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = (64, 128, 256, 512)
        cin = 64
        for i, (width, blocks) in enumerate(zip(widths, layers)):
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(cin, width, stride)] + [BasicBlock(width, width) for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
            cin = width
        self.out_channels = (64, *widths)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f2 = self.relu(self.bn1(self.conv1(x)))
        f4 = self.layer1(self.maxpool(f2))
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        f32 = self.layer4(f16)
        return [f2, f4, f8, f16, f32]


def load_imagenet_weights(encoder: ResNetEncoder, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Load a torchvision ImageNet ResNet state dict; the classifier (``fc.*``) is dropped, all else strict."""
    trunk = {k: v for k, v in state_dict.items() if not k.startswith("fc.")}
    encoder.load_state_dict(trunk, strict=True)
