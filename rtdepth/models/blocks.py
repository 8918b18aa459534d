"""Small layers shared by every model: the depth head, conv blocks and the U-Net style decoder."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rtdepth.sizes import DEPTH_RANGE

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DepthNet(nn.Module):
    """Base class: RGB in [0,1] -> metric depth, for any input size.

    Subclasses implement ``predict_logits`` on a normalised image whose sides are multiples of
    ``size_multiple``. The base pads and crops with shape arithmetic that stays in an exported graph
    (no Python ``if`` on sizes), and maps logits to depth with a scaled sigmoid: the output is bounded
    to the sensor's range, so it is always positive, cannot overflow in FP16, and starts mid-range.
    """

    size_multiple = 32

    def __init__(
        self,
        min_depth: float = DEPTH_RANGE[0],
        max_depth: float = DEPTH_RANGE[1],
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        if not 0 <= min_depth < max_depth:
            raise ValueError(f"need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}")
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        # Buffers (not parameters) so they travel with .to(device) but are never trained or saved.
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def init_head_bias(self, head: nn.Conv2d, depth: float = 2.5) -> None:
        """Start predicting a typical indoor depth instead of mid-range (5 m), so training does not
        spend its first epochs only shifting the scale."""
        frac = (depth - self.min_depth) / (self.max_depth - self.min_depth)
        frac = min(max(frac, 1e-3), 1 - 1e-3)
        nn.init.constant_(head.bias, float(torch.logit(torch.tensor(frac))))

    def predict_logits(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """``image``: N x 3 x H x W RGB in [0,1]. Returns N x 1 x H x W depth in metres."""
        h, w = image.shape[-2], image.shape[-1]
        m = self.size_multiple
        pad_h = (m - h % m) % m
        pad_w = (m - w % m) % m
        x = (image - self.mean) / self.std
        # Zero after normalisation is the mean colour; padding by 0 is a no-op, so no branch is needed.
        x = F.pad(x, (0, pad_w, 0, pad_h))
        logits = self.predict_logits(x)[..., :h, :w]
        return self.min_depth + (self.max_depth - self.min_depth) * torch.sigmoid(logits)


def conv_bn_act(cin: int, cout: int, act: nn.Module | None = None) -> nn.Sequential:
    """3x3 conv -> BatchNorm -> activation (ReLU by default), the decoder's unit."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        act if act is not None else nn.ReLU(inplace=True),
    )


def upsample_to(x: torch.Tensor, ref: torch.Tensor | tuple[int, int]) -> torch.Tensor:
    """Bilinear upsample to a reference size (not by a factor), so odd sizes always line up with skips."""
    size = ref.shape[-2:] if isinstance(ref, torch.Tensor) else ref
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class DecoderBlock(nn.Module):
    """Upsample to the skip's size, concatenate it, then two conv-BN-ReLU."""

    def __init__(self, cin: int, cskip: int, cout: int) -> None:
        super().__init__()
        self.conv1 = conv_bn_act(cin + cskip, cout)
        self.conv2 = conv_bn_act(cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        x = upsample_to(x, size if skip is None else skip)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class UNetDecoder(nn.Module):
    """U-Net decoder over encoder features given fine-to-coarse, each at half the previous resolution.

    The first feature map is at 1/2 of the input, so a last block without a skip brings the result
    to full resolution; a 3x3 conv gives one logit channel.
    """

    def __init__(self, encoder_channels: Sequence[int], decoder_channels: Sequence[int]) -> None:
        super().__init__()
        if len(decoder_channels) != len(encoder_channels):
            raise ValueError("need one decoder width per encoder stage")
        skips = list(encoder_channels[:-1])[::-1] + [0]
        cins = [encoder_channels[-1], *decoder_channels[:-1]]
        self.blocks = nn.ModuleList(DecoderBlock(ci, cs, co) for ci, cs, co in zip(cins, skips, decoder_channels))
        self.head = nn.Conv2d(decoder_channels[-1], 1, 3, padding=1)

    def forward(self, features: Sequence[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        skips = list(features[:-1])[::-1] + [None]
        x = features[-1]
        for block, skip in zip(self.blocks, skips):
            x = block(x, skip, size)
        return self.head(x)
