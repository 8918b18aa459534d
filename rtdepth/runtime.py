"""Pick and open a backend for a weights file: explicit choice or ``auto`` (fastest available)."""

from __future__ import annotations

from pathlib import Path

from .backends import Backend, OnnxRuntimeBackend, TorchBackend, resolve_device
from .checkpoint import WeightsInfo, default_weights, load_model, read_info
from .errors import RtdepthError

BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")


def open_backend(
    weights: str | Path | None = None,
    backend: str = "auto",
    device: str = "auto",
    precision: str | None = None,
) -> tuple[Backend, WeightsInfo]:
    """Open ``backend`` for ``weights`` (None: bundled default).

    ``auto`` prefers a TensorRT engine built for this GPU, then CUDA PyTorch FP16, then ONNX Runtime on
    the CPU (about 2x faster than eager PyTorch there), int8 when ``build-engine`` made one for these
    weights. ``weights`` may also be an ``.onnx`` or ``.engine`` file.
    """
    if backend not in BACKENDS:
        raise RtdepthError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    path = Path(weights) if weights else default_weights()
    if path.suffix == ".engine":
        from .trt import TensorRTBackend

        engine = TensorRTBackend(path, cuda_graph=True)
        h = engine.header
        return engine, WeightsInfo(h.model, input_size=tuple(h.input_size), depth_range=tuple(h.depth_range))
    if path.suffix == ".onnx":
        ort = OnnxRuntimeBackend(path, resolve_device(device) if device != "auto" else "cpu")
        return ort, _info_from_onnx(ort)
    info = read_info(path)
    dev = resolve_device(device)
    if backend == "auto":
        backend = _auto_choice(path, dev, precision)
        if backend == "onnxruntime" and precision is None:
            int8 = _built_int8(path)
            if int8 is not None:  # build-engine made an int8 model for this machine: use it
                return OnnxRuntimeBackend(int8), info
    if backend == "torch":
        model, info = load_model(path)
        return TorchBackend(model, dev, precision), info
    if backend == "onnxruntime":
        if precision == "int8":
            from .quantize import cached_int8_onnx

            return OnnxRuntimeBackend(cached_int8_onnx(path)), info
        from .export import cached_onnx

        return OnnxRuntimeBackend(cached_onnx(path), dev), info
    from .trt import open_engine_for

    return open_engine_for(path, info, precision or "fp16"), info


def _auto_choice(path: Path, device: str, precision: str | None) -> str:
    if device.startswith("cuda"):
        from .trt import engine_available

        return "tensorrt" if engine_available(path, precision or "fp16") else "torch"
    return "onnxruntime"


def _built_int8(path: Path) -> Path | None:
    from .quantize import cached_int8_onnx

    try:
        return cached_int8_onnx(path)
    except RtdepthError:
        return None


def _info_from_onnx(backend: OnnxRuntimeBackend) -> WeightsInfo:
    m = backend.metadata
    size = (int(m.get("input_width", 320)), int(m.get("input_height", 240)))
    return WeightsInfo(
        m.get("model", "onnx"),
        input_size=size,
        depth_range=(float(m.get("depth_min", 0.1)), float(m.get("depth_max", 10.0))),
    )
