"""Inference-time BatchNorm folding: each convolution -> BatchNorm pair becomes one convolution.

Why: in inference a BatchNorm is a fixed affine map, yet eager PyTorch runs it as a kernel of its own
(on an H100, cuDNN's FP32 BatchNorm in channels-last was the largest kernel of ``resnet34_unet`` at
640x480) and on a CPU as one more pass over memory. ONNX Runtime and TensorRT fold it when they build;
this does the same for the PyTorch backend. Only pairs where the convolution's output feeds nothing but
the BatchNorm are folded: consecutive children of an ``nn.Sequential``, and the pairs a module names in
``conv_bn_pairs`` (its forward applies them back to back). The paper's U-Net normalises after the
activation, so its BatchNorms stay.
"""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with every foldable conv -> BatchNorm pair folded (the original is untouched)."""
    model = copy.deepcopy(model).eval()
    for module in list(model.modules()):
        for conv_name, bn_name in getattr(module, "conv_bn_pairs", ()):
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if _foldable(conv, bn):
                setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(module, bn_name, nn.Identity())
        if isinstance(module, nn.Sequential):
            children = list(module._modules.items())
            for (conv_name, conv), (bn_name, bn) in zip(children, children[1:]):
                if _foldable(conv, bn):
                    module._modules[conv_name] = fuse_conv_bn_eval(conv, bn)
                    module._modules[bn_name] = nn.Identity()
    return model


def _foldable(conv: object, bn: object) -> bool:
    return (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats
            and conv.out_channels == bn.num_features)  # fmt: skip
