"""PyTorch -> ONNX: dynamic batch/height/width, one self-describing file, verified against PyTorch."""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import numpy as np
import torch

from rtdepth import __version__
from rtdepth.checkpoint import WeightsInfo, file_sha256, load_model, resolve_weights
from rtdepth.errors import RtdepthError
from rtdepth.io import atomic_write_bytes, output_lock
from rtdepth.models import DepthNet
from rtdepth.runtime import cache
from rtdepth.stopping import stop_requests

OPSET = 18


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
    # A signal raised inside the exporter's C++ can abort the process: it is held until the export returns,
    # and an interrupted export writes nothing.
    with stop_requests() as requested:
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), torch.inference_mode(False):
                program = torch.onnx.export(model, example, input_names=["image"], output_names=["depth"],
                                            opset_version=OPSET, dynamo=True, dynamic_shapes={"image": dims})  # fmt: skip
        except ImportError as exc:
            raise RtdepthError(f"ONNX export needs onnxscript ({exc}); pip install onnxscript") from exc
        except Exception as exc:  # noqa: BLE001 - exporter failures are many types; the log has the detail
            raise RtdepthError(f"ONNX export failed: {str(exc).splitlines()[0][:200]}") from exc
        requested.raise_if_any()
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
        with output_lock(path, wait=True):  # also removes what a killed export of this file left
            atomic_write_bytes(path, proto.SerializeToString())
    except OSError as exc:
        raise RtdepthError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    return path


def export_weights(weights: str | Path | None, path: str | Path) -> Path:
    """Export a weights file (None: the bundled default) to ONNX."""
    weights = resolve_weights(weights)
    model, info = load_model(weights)
    return export_onnx(model, path, info, file_sha256(weights))


def ensure_onnx(weights: str | Path | None, engines_dir: Path | None = None, notice=None) -> Path:
    """The cached fp32 ONNX of a weights file, exported once (keyed by the weights' hash) and reused."""
    weights = resolve_weights(weights)
    path = cache.onnx_path(weights, engines_dir)
    if not path.is_file():
        model, info = load_model(weights)  # bad weights fail here, before the notice
        if notice is not None:
            notice(f"exporting {weights.name} to ONNX once (cached in {path.parent})")
        path.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(model, path, info, file_sha256(weights))
    return path


def export_and_verify(weights: Path | None, output: Path, verify: bool = True) -> float | None:
    """Export weights to ONNX; with ``verify``, compare ONNX Runtime to PyTorch on the bundled real frames."""
    import cv2

    from rtdepth.bundled_frames import sample_frames

    weights = resolve_weights(weights)
    model, info = load_model(weights)
    export_onnx(model, output, info, file_sha256(weights))
    if not verify:
        return None
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in sample_frames()]
    if not frames:
        raise RtdepthError("no bundled sample frames to verify with; use --no-verify")
    frames += [cv2.resize(frames[0], (319, 241))]  # odd sizes too: the graph must keep its padding logic
    return verify_onnx(model, output, frames)


def verify_onnx(model: DepthNet, onnx_path: str | Path, images: list[np.ndarray], atol: float = 1e-3) -> float:
    """Max abs difference (metres) between ONNX Runtime and PyTorch FP32 on real RGB frames.

    Raises when it exceeds ``atol``. Frames are uint8 RGB at any size (they also exercise padding).
    """
    from rtdepth.runtime.backends import OnnxRuntimeBackend, TorchBackend

    ort_backend = OnnxRuntimeBackend(onnx_path)
    torch_backend = TorchBackend(model, "cpu")
    worst = 0.0
    for img in images:
        batch = img[None]
        worst = max(worst, float(np.abs(ort_backend.infer(batch) - torch_backend.infer(batch)).max()))
    if worst > atol:
        raise RtdepthError(f"ONNX Runtime differs from PyTorch by {worst:.2e} m (> {atol:.0e}); export is wrong")
    return worst
