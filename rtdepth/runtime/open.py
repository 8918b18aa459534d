"""Pick and open a backend for a weights file: an explicit choice or ``auto`` (the fastest one that is ready).

Opening never builds or exports anything: engines and ONNX files come from ``engines/`` (``rtdepth
export``, ``rtdepth build-engine``, or the CLI, which says so when it prepares one) through the one
cache in ``rtdepth.runtime.cache``.
"""

from __future__ import annotations

from pathlib import Path

from rtdepth.checkpoint import WeightsInfo, file_sha256, load_model, read_info, resolve_weights
from rtdepth.errors import RtdepthError
from rtdepth.runtime import cache
from rtdepth.runtime.backends import Backend, OnnxRuntimeBackend, TorchBackend, resolve_device

BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")
PRECISIONS = (None, "fp32", "fp16", "int8")


def choose_backend(path: Path, backend: str, device: str, precision: str | None) -> str:
    """What ``auto`` means here: a TensorRT engine built for this GPU, else CUDA PyTorch; on the CPU ONNX
    Runtime when an ONNX or int8 model of these weights is cached, else PyTorch."""
    if backend != "auto" or path.suffix in (".onnx", ".engine"):
        return backend
    if device.startswith("cuda"):
        from rtdepth.runtime.tensorrt import find_engine

        return "tensorrt" if find_engine(path, precision or "fp16") else "torch"
    if precision == "int8" or (precision is None and cache.find_int8(path)) or cache.find_onnx(path):
        return "onnxruntime"
    return "torch"


def open_backend(
    weights: str | Path | None = None,
    backend: str = "auto",
    device: str = "auto",
    precision: str | None = None,
    size: tuple[int, int] | None = None,
    onnx_output: str | None = None,
    busy_wait: bool = True,
) -> tuple[Backend, WeightsInfo]:
    """Open ``backend`` for ``weights`` (None: bundled default); ``weights`` may be ``.onnx`` or ``.engine``.

    ``onnx_output`` names what a third-party ONNX file outputs (metres or inverse); rtdepth's own say so.
    ``busy_wait=False`` suits pipelines that run other threads beside the model (ONNX Runtime only)."""
    if backend not in BACKENDS:
        raise RtdepthError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise RtdepthError(f"unknown precision {precision!r}; use fp32, fp16 or int8")
    path = resolve_weights(weights)
    if path.suffix == ".engine":
        from rtdepth.runtime.tensorrt import TensorRTBackend

        engine = TensorRTBackend(path, cuda_graph=True)
        h = engine.header
        return engine, WeightsInfo(h.model, input_size=tuple(h.input_size), depth_range=tuple(h.depth_range))
    if path.suffix == ".onnx":
        ort = OnnxRuntimeBackend(path, resolve_device(device) if device != "auto" else "cpu", output=onnx_output,
                                 busy_wait=busy_wait)
        return ort, _info_from_onnx(ort)
    info = read_info(path)
    dev = resolve_device(device)
    backend = choose_backend(path, backend, dev, precision)
    if backend == "torch":
        if precision == "int8":
            raise RtdepthError("int8 runs on ONNX Runtime: use --backend onnxruntime (after build-engine --precision int8)")
        model, info = load_model(path)
        return TorchBackend(model, dev, precision), info
    if backend == "onnxruntime":
        found = cache.find_int8(path) if precision in ("int8", None) else None
        if precision == "int8" and found is None:
            raise RtdepthError("no int8 model for these weights: rtdepth build-engine --device cpu --precision int8 --calib DIR")
        found = found or cache.find_onnx(path)
        if found is None:
            raise RtdepthError(f"no ONNX export of {path.name} in {cache.engines_dir()}: run rtdepth export -w {path}")
        return OnnxRuntimeBackend(found, dev if found.name.endswith("-fp32.onnx") else "cpu", busy_wait=busy_wait), info
    from rtdepth.runtime.tensorrt import TensorRTBackend, find_engine

    engine = find_engine(path, precision or "fp16", size)
    if engine is None:
        raise RtdepthError(
            f"no TensorRT {precision or 'fp16'} engine of {path.name} for this GPU: run rtdepth build-engine -w {path}"
        )
    return TensorRTBackend(engine, file_sha256(path), cuda_graph=True), info


def _info_from_onnx(backend: OnnxRuntimeBackend) -> WeightsInfo:
    m = backend.metadata
    static = backend.static_hw[::-1] if backend.static_hw else (320, 240)
    size = (int(m.get("input_width", static[0])), int(m.get("input_height", static[1])))
    return WeightsInfo(
        m.get("model", "onnx"),
        input_size=size,
        depth_range=(float(m.get("depth_min", 0.1)), float(m.get("depth_max", 10.0))),
    )
