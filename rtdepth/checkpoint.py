"""Weights files: safetensors tensors plus a JSON header that says how to rebuild the model.

The header (``__metadata__["rtdepth"]``) carries the model name and kwargs, the input size it was
trained at, its depth range and, when known, a training summary and validation metrics. Nothing is
ever unpickled; a wrong, truncated or foreign file raises :class:`RtdepthError` with one line.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rtdepth.errors import RtdepthError
from rtdepth.io import atomic_write_bytes
from rtdepth.models import DepthNet, create_model
from rtdepth.sizes import DEPTH_RANGE, TRAINING_SIZE

FORMAT = "rtdepth-weights/1"
ASSETS = Path(__file__).parent / "assets"
DEFAULT_WEIGHTS = ASSETS / "default.safetensors"


@dataclass
class WeightsInfo:
    """What a weights file says about itself."""

    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    input_size: tuple[int, int] = TRAINING_SIZE  # (width, height) the model was trained at
    depth_range: tuple[float, float] = DEPTH_RANGE
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    camera: dict[str, Any] = field(default_factory=dict)  # {"canonical_fx_ratio": r}: trained in canonical camera space

    def to_json(self) -> str:
        d = self.__dict__ | {
            "format": FORMAT,
            "input_size": list(self.input_size),
            "depth_range": list(self.depth_range),
        }
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WeightsInfo:
        d = json.loads(text)
        if d.get("format") != FORMAT:
            raise ValueError(f"unknown format {d.get('format')!r}")
        return cls(
            model=d["model"],
            kwargs=d.get("kwargs", {}),
            input_size=tuple(d.get("input_size", TRAINING_SIZE)),
            depth_range=tuple(d.get("depth_range", DEPTH_RANGE)),
            training=d.get("training", {}),
            metrics=d.get("metrics", {}),
            camera=d.get("camera", {}),
        )


def weights_bytes(model: DepthNet, info: WeightsInfo, half: bool = False) -> bytes:
    """A model's state dict and header as one safetensors blob; ``half`` stores floats as fp16."""
    from safetensors.torch import save

    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if half and v.is_floating_point():
            v = v.half()
        state[k] = v.contiguous()
    return save(state, metadata={"rtdepth": info.to_json()})


def save_weights(model: DepthNet, path: str | Path, info: WeightsInfo, half: bool = False,
                 copies: Sequence[str | Path] = ()) -> Path:  # fmt: skip
    """Save weights atomically to ``path`` and any ``copies`` (serialised once, e.g. last and best); returns ``path``."""
    targets = [Path(path), *map(Path, copies)]
    data = weights_bytes(model, info, half)
    for path in targets:
        try:
            atomic_write_bytes(path, data)
        except OSError as exc:
            raise RtdepthError(f"{path}: cannot write weights ({exc.strerror or exc})") from exc
    return targets[0]


def read_info(path: str | Path) -> WeightsInfo:
    """Read only the header of a weights file (cheap: no tensors are loaded)."""
    path = Path(path)
    if not path.is_file():
        raise RtdepthError(f"{path}: no such weights file")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - the library raises several types for one problem
        raise RtdepthError(f"{path}: not a safetensors weights file (truncated or another format)") from exc
    if "rtdepth" not in meta:
        raise RtdepthError(f"{path}: safetensors file without rtdepth metadata (not an rtdepth weights file)")
    try:
        return WeightsInfo.from_json(meta["rtdepth"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RtdepthError(f"{path}: unreadable rtdepth metadata ({exc})") from exc


def load_model(path: str | Path | None = None, device: str | torch.device = "cpu") -> tuple[DepthNet, WeightsInfo]:
    """Rebuild the model a weights file describes and load it (fp32, eval mode); None = bundled default."""
    path = resolve_weights(path)
    info = read_info(path)
    model = create_model(info.model, **info.kwargs)
    try:
        from safetensors.torch import load_file

        state = load_file(str(path))
    except Exception as exc:  # noqa: BLE001
        raise RtdepthError(f"{path}: cannot read tensors (truncated or corrupt file)") from exc
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    broken = next((k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())), None)
    if broken is not None:  # a diverged run's weights predict NaN everywhere: refuse them rather than print nan..nan
        raise RtdepthError(f"{path}: tensor {broken} holds NaN or Inf (weights from a run that diverged?)")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise RtdepthError(f"{path}: tensors do not fit model {info.model!r} (file for another architecture?)") from exc
    return model.to(device).eval(), info


def default_weights() -> Path:
    """The bundled default weights shipped inside the package."""
    if not DEFAULT_WEIGHTS.is_file():
        raise RtdepthError(f"bundled weights missing at {DEFAULT_WEIGHTS}; pass --weights PATH")
    return DEFAULT_WEIGHTS


def resolve_weights(weights: str | Path | None) -> Path:
    """The one place that says what "no weights" means: None or ``default`` is the bundled file."""
    if weights is None or str(weights) == "default":
        return default_weights()
    return Path(weights)


def file_sha256(path: str | Path, length: int = 16) -> str:
    """Short content hash, used to key exported and built artefacts.

    Remembered per (file, size, mtime): one start-up asks for the same weights' hash at every cache lookup."""
    st = os.stat(path)
    return _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)[:length]


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
