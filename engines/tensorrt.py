"""Building TensorRT engines from ONNX (FP16/FP32), cached by key, and verifying them against PyTorch.

TensorRT is imported only after the ONNX export exists. The engine is written with a JSON header
(``rtdepth.runtime.engine_header``) into the one cache (``rtdepth.runtime.cache``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np

from rtdepth.checkpoint import file_sha256, load_model, read_info, resolve_weights
from rtdepth.errors import RtdepthError
from rtdepth.runtime import cache
from rtdepth.runtime.engine_header import EngineHeader, ShapeProfile, cache_key, write_engine_file
from rtdepth.runtime.tensorrt import INSTALL_HINT, TensorRTBackend, gpu_identity, import_tensorrt

from .export import ensure_onnx


def _progress_monitor(trt: Any) -> Any:
    """A TensorRT build progress monitor drawn with rich."""
    from rich.progress import Progress

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.bar = Progress(transient=True)
            self.tasks: dict[str, Any] = {}
            self.bar.start()

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self.tasks[phase_name] = self.bar.add_task(phase_name, total=num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            self.bar.update(self.tasks[phase_name], completed=step + 1)
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            self.bar.remove_task(self.tasks.pop(phase_name))
            if not self.tasks:
                self.bar.stop()

    return Monitor()


def engine_key(onnx_path: Path, precision: str, profile: ShapeProfile) -> tuple[str, str, str, str]:
    """(key, trt version, gpu name, capability) for an ONNX file on this machine."""
    trt = import_tensorrt()
    gpu, cap = gpu_identity()
    return cache_key(file_sha256(onnx_path), trt.__version__, gpu, cap, precision, profile), trt.__version__, gpu, cap


def build_engine(
    weights: str | Path | None,
    precision: str = "fp16",
    profile: ShapeProfile | None = None,
    output: Path | None = None,
    workspace_gib: float = 4.0,
    no_build: bool = False,
    force: bool = False,
    notice=print,
    engines_dir: Path | None = None,
) -> Path:
    """Get or build the engine for ``weights`` on this GPU; returns its path.

    A cached engine with the same key (ONNX hash + TensorRT version + GPU + precision + profile) is
    reused; otherwise it is built, unless ``no_build``, which refuses with a clear message. ``output``
    writes the engine to that file instead of the cache (and records it there, so lookups find it).
    """
    if precision not in ("fp16", "fp32"):
        raise RtdepthError(f"TensorRT precision must be fp16 or fp32, not {precision}")
    import torch

    if importlib.util.find_spec("tensorrt") is None:  # found without importing: tensorrt loads after the export
        raise RtdepthError(INSTALL_HINT)
    if not torch.cuda.is_available():
        raise RtdepthError("no CUDA GPU available: TensorRT engines need an NVIDIA GPU")
    weights = resolve_weights(weights)
    info = read_info(weights)
    profile = profile or ShapeProfile()
    onnx_path = ensure_onnx(weights, engines_dir, notice)  # ONNX first: tensorrt is imported only after it exists
    key, trt_version, gpu, cap = engine_key(onnx_path, precision, profile)
    target = Path(output) if output else cache.engine_path(weights, precision, gpu, key, engines_dir)
    if target.is_file() and not force:
        return target
    if no_build:
        raise RtdepthError(f"{weights.name}: no {precision} engine with this profile is cached; run without --no-build")
    header = EngineHeader(info.model, precision, {"min": list(profile.min), "opt": list(profile.opt), "max": list(profile.max),
                          "max_batch": profile.max_batch}, file_sha256(onnx_path), file_sha256(weights), trt_version, gpu,
                          cap, list(info.input_size), list(info.depth_range))  # fmt: skip
    notice(f"building a TensorRT {precision} engine for {info.model} (minutes, once) -> {target}")
    timing = cache.engines_dir(engines_dir) / "timing.cache"
    timing.parent.mkdir(parents=True, exist_ok=True)
    blob = _build_serialized(onnx_path, precision, profile, timing, workspace_gib)
    path = write_engine_file(target, header, blob)
    if output:
        cache.register(path, engines_dir)
    return path


def _build_serialized(onnx_path: Path, precision: str, profile: ShapeProfile, timing_path: Path, workspace_gib: float) -> bytes:
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RtdepthError(f"{onnx_path}: TensorRT cannot parse the ONNX ({errors[:300]})")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    shapes = profile.trt_shapes()
    opt_profile = builder.create_optimization_profile()
    opt_profile.set_shape(network.get_input(0).name, *shapes)
    config.add_optimization_profile(opt_profile)
    cache = config.create_timing_cache(timing_path.read_bytes() if timing_path.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    if sys.stderr.isatty():
        config.progress_monitor = _progress_monitor(trt)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RtdepthError("TensorRT failed to build the engine (see its log above)")
    from rtdepth.io import atomic_write_bytes

    atomic_write_bytes(timing_path, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def verify_engine(engine: Path, weights: Path | None, min_delta1: float = 0.99) -> tuple[float, float]:
    """Engine vs PyTorch FP32 on the bundled real frames: max abs error and delta1 (FP32 as truth)."""
    import cv2

    from rtdepth.bundled_frames import sample_frames
    from rtdepth.metrics import compute_metrics
    from rtdepth.runtime.backends import TorchBackend

    weights = resolve_weights(weights)
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
