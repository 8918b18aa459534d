"""Open what a plan names (``rtdepth.runtime.plan`` decides; this module only opens).

Opening never builds or exports anything: engines, ONNX files and gate verdicts come from ``engines/``
(``rtdepth export``, ``rtdepth build-engine``, or the CLI, which says so when it prepares one) through
the one cache in ``rtdepth.runtime.cache``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rtdepth.checkpoint import WeightsInfo, file_sha256, load_model, read_info, resolve_weights
from rtdepth.errors import RtdepthError
from rtdepth.runtime import cache
from rtdepth.runtime.backends import Backend, OnnxRuntimeBackend, TorchBackend, resolve_device
from rtdepth.runtime.plan import OpenSpec, Plan, plan
from rtdepth.sizes import DEPTH_RANGE, TRAINING_SIZE


def open_backend(
    weights: str | Path | None = None,
    backend: str = "auto",
    device: str = "auto",
    precision: str | None = None,
    size: tuple[int, int] | None = None,
    onnx_output: str | None = None,
    busy_wait: bool = True,
    engines_dir: Path | None = None,
    prepare: Callable[[Plan], Plan] | None = None,
) -> tuple[Backend, WeightsInfo]:
    """Open ``backend`` for ``weights`` (None: bundled default); ``weights`` may be ``.onnx`` or ``.engine``.

    ``onnx_output`` names what a third-party ONNX file outputs (metres or inverse); rtdepth's own say so.
    ``busy_wait=False`` suits pipelines that run other threads beside the model. Nothing is built here:
    ``prepare`` (the CLI's, from ``engines/``) makes what the plan lacks; without it, what is missing is one
    clear line saying which command makes it."""
    path = resolve_weights(weights)
    if path.suffix in (".engine", ".onnx"):
        return _open_file(path, backend, device, precision, onnx_output, busy_wait)
    read_info(path)  # a missing or foreign file fails here, in one line, before any choice is made
    spec = OpenSpec(path, backend, resolve_device(device), precision, size, engines_dir, streaming=not busy_wait,
                    may_build=prepare is not None)  # fmt: skip
    chosen = plan(spec)
    if chosen.missing and prepare is not None:
        chosen = prepare(chosen)
    return open_plan(chosen)


def open_plan(chosen: Plan) -> tuple[Backend, WeightsInfo]:
    """Open what a plan names; a plan that still lacks something says which command makes it."""
    spec, path = chosen.spec, chosen.spec.weights
    if chosen.missing:
        raise RtdepthError(_how_to_make(chosen))
    busy_wait = not spec.streaming
    if chosen.runtime == "torch":
        model, info = load_model(path)
        return TorchBackend(model, spec.device, chosen.precision), info
    info = read_info(path)
    if chosen.runtime == "onnxruntime":
        dev = spec.device if chosen.precision == "fp32" else "cpu"
        return OnnxRuntimeBackend(chosen.artefact, dev, busy_wait=busy_wait), info
    if chosen.runtime == "openvino":
        from rtdepth.runtime.openvino import OpenVinoBackend

        return OpenVinoBackend(chosen.artefact, chosen.precision, cache.openvino_dir(chosen.artefact)), info
    from rtdepth.runtime.tensorrt import TensorRTBackend

    return TensorRTBackend(chosen.artefact, file_sha256(path), cuda_graph=True), info


def _how_to_make(chosen: Plan) -> str:
    weights, missing = chosen.spec.weights, chosen.missing[0]
    if missing == "onnx":
        where = cache.engines_dir(chosen.spec.engines_dir)
        return f"no ONNX export of {weights.name} in {where}: run rtdepth export -w {weights}"
    if missing == "engine":
        return f"no TensorRT {chosen.precision} engine of {weights.name} for this GPU: run rtdepth build-engine -w {weights}"
    return f"bf16 of {weights.name} has not passed its accuracy gate yet: run rtdepth build-engine -w {weights}"


def _open_file(path: Path, backend: str, device: str, precision: str | None, onnx_output: str | None,
               busy_wait: bool) -> tuple[Backend, WeightsInfo]:  # fmt: skip
    """An ``.engine`` or ``.onnx`` given directly: TensorRT for the one, ONNX Runtime (or OpenVINO) for the other."""
    if path.suffix == ".engine":
        from rtdepth.runtime.tensorrt import TensorRTBackend

        engine = TensorRTBackend(path, cuda_graph=True)
        h = engine.header
        return engine, WeightsInfo(h.model, input_size=tuple(h.input_size), depth_range=tuple(h.depth_range))
    ort = OnnxRuntimeBackend(path, resolve_device(device) if device != "auto" else "cpu", output=onnx_output,
                             busy_wait=busy_wait)  # fmt: skip
    info = _info_from_onnx(ort)
    if backend == "openvino":
        from rtdepth.runtime.openvino import OpenVinoBackend

        if ort.output != "metres" or ort.static_hw is not None:
            raise RtdepthError(f"{path}: OpenVINO runs rtdepth's own ONNX exports; use --backend onnxruntime for this one")
        return OpenVinoBackend(path, precision or ort.precision, cache.openvino_dir(path)), info
    return ort, info


def _info_from_onnx(backend: OnnxRuntimeBackend) -> WeightsInfo:
    m = backend.metadata
    static = backend.static_hw[::-1] if backend.static_hw else TRAINING_SIZE
    size = (int(m.get("input_width", static[0])), int(m.get("input_height", static[1])))
    return WeightsInfo(
        m.get("model", "onnx"),
        input_size=size,
        depth_range=(float(m.get("depth_min", DEPTH_RANGE[0])), float(m.get("depth_max", DEPTH_RANGE[1]))),
    )
