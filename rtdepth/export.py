"""PyTorch -> ONNX: dynamic batch/height/width, one self-describing file, verified against PyTorch."""

from __future__ import annotations

import contextlib
import io
import logging
import os
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .checkpoint import WeightsInfo, atomic_write_bytes, file_sha256, load_model
from .errors import RtdepthError
from .models import DepthNet

OPSET = 18


def engine_dir() -> Path:
    """Where exported and built artefacts are cached: ``$RTDEPTH_ENGINES`` or ``./engines``."""
    return Path(os.environ.get("RTDEPTH_ENGINES", "engines"))


def export_onnx(model: DepthNet, path: str | Path, info: WeightsInfo, weights_hash: str) -> Path:
    """Export with torch's dynamo exporter; sizes stay symbolic, so padding is computed inside the graph."""
    import onnx

    model = model.eval().float().cpu()
    w, h = info.input_size
    example = (torch.rand(1, 3, h, w),)
    dims = {0: torch.export.Dim("batch", min=1, max=256), 2: torch.export.Dim("height", min=32, max=8192),
            3: torch.export.Dim("width", min=32, max=8192)}  # fmt: skip
    log = io.StringIO()
    # The exporter warns about torchvision ops it cannot register; irrelevant here, and noisy.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), torch.inference_mode(False):
            program = torch.onnx.export(model, example, input_names=["image"], output_names=["depth"],
                                        opset_version=OPSET, dynamo=True, dynamic_shapes={"image": dims})  # fmt: skip
    except ImportError as exc:
        raise RtdepthError(f"ONNX export needs onnxscript ({exc}); pip install onnxscript") from exc
    except Exception as exc:  # noqa: BLE001 - exporter failures are many types; the log has the detail
        raise RtdepthError(f"ONNX export failed: {str(exc).splitlines()[0][:200]}") from exc
    proto = program.model_proto
    meta = {"model": info.model, "input_width": str(w), "input_height": str(h), "weights_sha256": weights_hash,
            "rtdepth_version": __version__, "depth_min": str(info.depth_range[0]), "depth_max": str(info.depth_range[1]),
            "precision": "fp32"}  # fmt: skip
    del proto.metadata_props[:]
    for k, v in meta.items():
        proto.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(proto)
    path = Path(path)
    try:
        atomic_write_bytes(path, proto.SerializeToString())
    except OSError as exc:
        raise RtdepthError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    return path


def export_weights(weights: str | Path | None, path: str | Path) -> Path:
    """Export a weights file (None: the bundled default) to ONNX."""
    from .checkpoint import default_weights

    weights = Path(weights) if weights else default_weights()
    model, info = load_model(weights)
    return export_onnx(model, path, info, file_sha256(weights))


def onnx_cache_path(weights: Path, cache: Path | None = None) -> Path:
    """Where the fp32 ONNX export of a weights file is cached (named by model and weights hash)."""
    from .checkpoint import read_info

    return (cache or engine_dir()) / f"{read_info(weights).model}-{file_sha256(weights)}-fp32.onnx"


def cached_onnx(weights: str | Path | None, cache: Path | None = None) -> Path:
    """The ONNX file for a weights file, exported once and reused (keyed by the weights' hash)."""
    from .checkpoint import default_weights

    weights = Path(weights) if weights else default_weights()
    path = onnx_cache_path(weights, cache)
    if not path.is_file():
        export_weights(weights, path)
    return path


def verify_onnx(model: DepthNet, onnx_path: str | Path, images: list[np.ndarray], atol: float = 1e-3) -> float:
    """Max abs difference (metres) between ONNX Runtime and PyTorch FP32 on real RGB frames.

    Raises when it exceeds ``atol``. Frames are uint8 RGB at any size (they also exercise padding).
    """
    from .backends import OnnxRuntimeBackend, TorchBackend

    ort_backend = OnnxRuntimeBackend(onnx_path)
    torch_backend = TorchBackend(model, "cpu")
    worst = 0.0
    for img in images:
        batch = img[None]
        worst = max(worst, float(np.abs(ort_backend.infer(batch) - torch_backend.infer(batch)).max()))
    if worst > atol:
        raise RtdepthError(f"ONNX Runtime differs from PyTorch by {worst:.2e} m (> {atol:.0e}); export is wrong")
    return worst
