"""The paper's two models: the baseline U-Net (its Figure 1) and the ResNet34 transfer U-Net."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rtdepth.models.blocks import DepthNet, UNetDecoder, upsample_to
from rtdepth.models.resnet import ResNetEncoder


def _paper_double_conv(cin: int, cout: int, batch_norm: bool = True) -> nn.Sequential:
    """Two 3x3 convs, each followed by LeakyReLU(0.2) and (except in the bottleneck) BatchNorm."""
    layers: list[nn.Module] = []
    for c in (cin, cout):
        layers += [nn.Conv2d(c, cout, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
    return nn.Sequential(*layers)


class UNet(DepthNet):
    """Baseline U-Net: widths w, 2w, 4w, 8w, bottleneck 16w; 1,964,545 parameters at w=16."""

    def __init__(self, width: int = 16, **depth_kw: float) -> None:
        super().__init__(**depth_kw)
        widths = [width * 2**i for i in range(4)]
        self.down = nn.ModuleList()
        cin = 3
        for w in widths:
            self.down.append(_paper_double_conv(cin, w))
            cin = w
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _paper_double_conv(widths[-1], widths[-1] * 2, batch_norm=False)
        self.up = nn.ModuleList()
        cin = widths[-1] * 2
        for w in reversed(widths):
            self.up.append(_paper_double_conv(cin + w, w))
            cin = w
        self.head = nn.Conv2d(widths[0], 1, 1)
        self.init_head_bias(self.head)

    def predict_logits(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for block, skip in zip(self.up, reversed(skips)):
            x = block(torch.cat([upsample_to(x, skip), skip], dim=1))
        return self.head(x)


class EncoderUNet(DepthNet):
    """A pretrained-style encoder (features fine to coarse, ``out_channels``) with a U-Net decoder."""

    def __init__(
        self,
        encoder: nn.Module,
        decoder_channels: Sequence[int],
        **depth_kw: float,
    ) -> None:
        super().__init__(**depth_kw)
        self.encoder = encoder
        self.decoder = UNetDecoder(encoder.out_channels, decoder_channels)
        self.init_head_bias(self.decoder.head)

    def predict_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x), x.shape[-2:])


class ResNet34UNet(EncoderUNet):
    """ResNet34 encoder (torchvision keys under ``encoder.``) with skips from every stage."""

    def __init__(self, decoder_channels: Sequence[int] = (256, 128, 64, 32, 16), **depth_kw: float) -> None:
        super().__init__(ResNetEncoder((3, 4, 6, 3)), decoder_channels, **depth_kw)
