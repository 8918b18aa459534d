"""Everything TensorRT: build FP16/FP32 engines from ONNX, and run them as a backend.

``tensorrt`` is imported lazily, after the ONNX export, only by the functions that need it.
TensorRT 10 tensor-name API only (``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``);
I/O buffers are torch CUDA tensors allocated once at the profile's largest shape (no pycuda).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .checkpoint import WeightsInfo, default_weights, file_sha256, read_info
from .engine_file import (
    EngineHeader,
    ShapeProfile,
    cache_key,
    check_compatible,
    check_matches_weights,
    engine_filename,  # fmt: skip
    find_engine,
    read_engine_file,
    write_engine_file,
)
from .errors import RtdepthError

INSTALL_HINT = 'TensorRT is not installed: pip install "rtdepth[tensorrt]" (NVIDIA GPU, TensorRT >= 10)'


def import_tensorrt() -> Any:
    """The tensorrt module, or a one-line error saying how to install it."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise RtdepthError(INSTALL_HINT) from exc
    if int(trt.__version__.split(".")[0]) < 10:
        raise RtdepthError(f"TensorRT {trt.__version__} found; rtdepth needs TensorRT >= 10")
    return trt


def tensorrt_available() -> bool:
    try:
        import_tensorrt()
    except RtdepthError:
        return False
    import torch

    return torch.cuda.is_available()


def gpu_identity() -> tuple[str, str]:
    """(GPU name, compute capability 'major.minor') of the current CUDA device."""
    import torch

    if not torch.cuda.is_available():
        raise RtdepthError("no CUDA GPU available: TensorRT engines need an NVIDIA GPU")
    major, minor = torch.cuda.get_device_capability()
    return torch.cuda.get_device_name(), f"{major}.{minor}"


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
    out_dir: Path | None = None,
    workspace_gib: float = 4.0,
    no_build: bool = False,
    force: bool = False,
    notice=print,
) -> Path:
    """Get or build the engine for ``weights`` on this GPU; returns its path.

    A cached engine with the same key (ONNX hash + TensorRT version + GPU + precision + profile) is
    reused; otherwise it is built, unless ``no_build``, which refuses with a clear message.
    """
    from .export import cached_onnx, engine_dir

    if precision not in ("fp16", "fp32"):
        raise RtdepthError(f"TensorRT precision must be fp16 or fp32, not {precision}")
    import importlib.util

    import torch

    if importlib.util.find_spec("tensorrt") is None:  # found without importing: tensorrt loads after the export
        raise RtdepthError(INSTALL_HINT)
    if not torch.cuda.is_available():
        raise RtdepthError("no CUDA GPU available: TensorRT engines need an NVIDIA GPU")
    weights = Path(weights) if weights else default_weights()
    info = read_info(weights)
    profile = profile or ShapeProfile()
    out_dir = out_dir or engine_dir()
    onnx_path = cached_onnx(weights, out_dir)  # ONNX first: tensorrt is imported only after it exists
    key, trt_version, gpu, cap = engine_key(onnx_path, precision, profile)
    cached = find_engine(out_dir, info.model, precision, gpu, key)
    if cached is not None and not force:
        return cached
    stale = sorted(out_dir.glob(f"{info.model}-{precision}-*.engine"))
    if no_build:
        why = "its cached engine is stale (other ONNX, TensorRT, GPU or profile)" if stale else "no engine is cached"
        raise RtdepthError(f"{weights.name}: {why}; run without --no-build to build one")
    if stale:
        notice(f"rebuilding: {len(stale)} cached engine(s) of {info.model} do not match this ONNX/TensorRT/GPU/profile")
    header = EngineHeader(info.model, precision, {"min": list(profile.min), "opt": list(profile.opt), "max": list(profile.max),
                          "max_batch": profile.max_batch}, file_sha256(onnx_path), file_sha256(weights), trt_version, gpu,
                          cap, list(info.input_size), list(info.depth_range))  # fmt: skip
    blob = _build_serialized(onnx_path, precision, profile, out_dir / "timing.cache", workspace_gib)
    return write_engine_file(out_dir / engine_filename(info.model, precision, gpu, key), header, blob)


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
    from .checkpoint import atomic_write_bytes

    atomic_write_bytes(timing_path, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


class TensorRTBackend:
    """Runs a serialized engine on the current CUDA device; buffers allocated once, reused every frame.

    With ``cuda_graph``, the first call at a shape is captured in a CUDA graph and later calls at
    that shape replay it (one launch instead of one per layer).
    """

    name = "tensorrt"
    device = "cuda"

    def __init__(self, path: str | Path, weights_sha256: str | None = None, cuda_graph: bool = False) -> None:
        import torch

        trt = import_tensorrt()
        path = Path(path)
        header, blob = read_engine_file(path)
        check_compatible(header, trt.__version__, *gpu_identity(), path)
        if weights_sha256 is not None:
            check_matches_weights(header, weights_sha256, path)
        self.header, self.precision, self.profile = header, header.precision, header.shape_profile
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(blob)
        if self.engine is None:
            raise RtdepthError(f"{path}: TensorRT could not deserialize the engine (corrupt or incompatible)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        self.stream = torch.cuda.Stream()
        mw, mh = self.profile.max
        nmax = self.profile.max_batch
        self._in = torch.empty(nmax * 3 * mh * mw, dtype=torch.float32, device="cuda")
        self._out = torch.empty(nmax * mh * mw, dtype=torch.float32, device="cuda")
        self._upload = torch.empty(nmax * mh * mw * 3, dtype=torch.uint8, device="cuda")
        self.cuda_graph = cuda_graph
        self._graphs: dict[tuple[int, int, int], Any] = {}
        self._warned = False

    def _views(self, n: int, h: int, w: int):
        return (self._upload[: n * h * w * 3].view(n, h, w, 3), self._in[: n * 3 * h * w].view(n, 3, h, w),
                self._out[: n * h * w].view(n, 1, h, w))  # fmt: skip

    def _enqueue(self, n: int, h: int, w: int) -> None:
        raw, x, y = self._views(n, h, w)
        x.copy_(raw.permute(0, 3, 1, 2)).div_(255.0)
        self.context.set_input_shape(self.input_name, (n, 3, h, w))
        self.context.set_tensor_address(self.input_name, x.data_ptr())
        self.context.set_tensor_address(self.output_name, y.data_ptr())
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise RtdepthError("TensorRT execution failed")

    def infer(self, images: np.ndarray) -> np.ndarray:
        import torch

        n, h, w = images.shape[:3]
        fit = self.profile.fit((w, h))
        if fit != (w, h):
            if not self._warned:
                print(f"note: {w}x{h} is outside the engine's profile; running at {fit[0]}x{fit[1]}", file=sys.stderr)
                self._warned = True
            images = np.stack([cv2.resize(im, fit, interpolation=cv2.INTER_AREA) for im in images])
            n, h, w = images.shape[:3]
        if n > self.profile.max_batch:
            return np.concatenate(
                [self.infer(images[i : i + self.profile.max_batch]) for i in range(0, n, self.profile.max_batch)]
            )
        raw, _, y = self._views(n, h, w)
        with torch.cuda.stream(self.stream):
            raw.copy_(torch.from_numpy(np.ascontiguousarray(images)), non_blocking=True)
            key = (n, h, w)
            if self.cuda_graph and key in self._graphs:
                self._graphs[key].replay()
            elif self.cuda_graph:
                self._enqueue(n, h, w)  # warm-up run: TensorRT allocates lazily on first enqueue
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, stream=self.stream):
                    self._enqueue(n, h, w)
                self._graphs[key] = graph
                graph.replay()
            else:
                self._enqueue(n, h, w)
            out = y[:, 0].to("cpu", non_blocking=True)
        self.stream.synchronize()
        return out.numpy()


def engine_available(weights: Path, precision: str = "fp16") -> bool:
    """Whether a matching engine for these weights is cached (cheap; never builds or exports)."""
    if not tensorrt_available():
        return False
    from .export import engine_dir, onnx_cache_path

    info = read_info(weights)
    onnx_path = onnx_cache_path(weights)
    if not onnx_path.is_file():
        return False
    key, _, gpu, _ = engine_key(onnx_path, precision, ShapeProfile())
    return find_engine(engine_dir(), info.model, precision, gpu, key) is not None


def open_engine_for(weights: Path, info: WeightsInfo, precision: str = "fp16", cuda_graph: bool = True) -> TensorRTBackend:
    """Open (building first if needed) the engine for ``weights`` on this GPU."""
    if weights.suffix == ".engine":
        return TensorRTBackend(weights, cuda_graph=cuda_graph)
    path = build_engine(weights, precision)
    return TensorRTBackend(path, file_sha256(weights), cuda_graph=cuda_graph)
