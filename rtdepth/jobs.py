"""One function per single-shot CLI job (image, export), composed from library pieces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .checkpoint import ASSETS, default_weights, file_sha256, load_model
from .depth_io import save_depth, write_image
from .errors import RtdepthError

SAMPLES = ASSETS / "samples"


def read_image(path: str | Path) -> np.ndarray:
    """Decode any image OpenCV reads (8/16-bit, grey, alpha), unchanged; a clear error otherwise."""
    path = Path(path)
    if not path.is_file():
        raise RtdepthError(f"{path}: no such file")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise RtdepthError(f"{path}: not an image OpenCV can decode")
    return img


def sample_frames() -> list[np.ndarray]:
    """The bundled held-out real frames (BGR), used to verify exports and calibrate int8."""
    frames = [cv2.imread(str(p)) for p in sorted(SAMPLES.glob("*.jpg"))]
    return [f for f in frames if f is not None]


def depth_for_image(
    source: Path,
    output: Path,
    raw: Path | None = None,
    layout: str = "depth",
    weights: Path | None = None,
    backend: str = "auto",
    device: str = "auto",
    size: tuple[int, int] | None = None,
    colormap: str = "turbo",
    range_: tuple[float, float] | None = None,
) -> np.ndarray:
    """Predict depth for one image file and write the colour picture (and raw depth when asked)."""
    from .estimator import DepthEstimator
    from .preprocess import to_bgr8
    from .visualize import Visualizer

    viz = Visualizer(colormap, layout, range_=range_)  # validate options before the model loads
    frame = read_image(source)
    if not output.parent.is_dir():
        raise RtdepthError(f"{output}: folder {output.parent} does not exist")
    estimator = DepthEstimator.from_weights(weights, backend, device, size)
    depth = estimator.predict(frame)
    write_image(output, viz.render(to_bgr8(frame), depth))
    if raw is not None:
        save_depth(raw, depth)
    return depth


def export_and_verify(weights: Path | None, output: Path, verify: bool = True) -> float | None:
    """Export weights to ONNX; with ``verify``, compare ONNX Runtime to PyTorch on the bundled real frames."""
    from .export import export_onnx, verify_onnx

    weights = weights or default_weights()
    model, info = load_model(weights)
    export_onnx(model, output, info, file_sha256(weights))
    if not verify:
        return None
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in sample_frames()]
    if not frames:
        raise RtdepthError("no bundled sample frames to verify with; use --no-verify")
    # Odd sizes too: the graph must keep its padding logic for any size.
    frames += [cv2.resize(frames[0], (319, 241))]
    return verify_onnx(model, output, frames)


def verify_engine(engine: Path, weights: Path | None, min_delta1: float = 0.99) -> tuple[float, float]:
    """Engine vs PyTorch FP32 on the bundled real frames: max abs error and delta1 (FP32 as truth)."""
    from .backends import TorchBackend
    from .metrics import compute_metrics
    from .trt import TensorRTBackend

    weights = weights or default_weights()
    reference = TorchBackend(load_model(weights)[0], "cuda", "fp32")
    backend = TensorRTBackend(engine, file_sha256(weights))
    worst, d1 = 0.0, []
    for frame in sample_frames():
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)[None]
        ref, got = reference.infer(rgb)[0], backend.infer(rgb)[0]
        worst = max(worst, float(np.abs(ref - got).max()))
        d1.append(compute_metrics(got, ref)["delta1"])
    delta1 = float(np.mean(d1))
    if delta1 < min_delta1:
        raise RtdepthError(f"engine disagrees with PyTorch FP32: delta1 {delta1:.4f} < {min_delta1} (max error {worst:.3f} m)")
    return worst, delta1
