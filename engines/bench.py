"""``rtdepth bench``: model-only latency per backend and size, and the end-to-end ``video`` rate.

Medians and p95 after warm-up, with the ratio to PyTorch FP32 on the same device measured in the
same run. GPU backends return host arrays, so every timed call includes its synchronisation.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from rtdepth.checkpoint import ASSETS, WeightsInfo, default_weights, load_model, read_info, resolve_weights, save_weights
from rtdepth.models import create_model, list_models
from rtdepth.runtime.backends import Backend, OnnxRuntimeBackend, TorchBackend
from rtdepth.sizes import TRAINING_SIZE
from rtdepth.stream.stabilize import TemporalStabilizer

SIZES = (TRAINING_SIZE, (640, 480))


@dataclass
class LatencyRow:
    model: str
    backend: str
    device: str
    precision: str
    size: str
    median_ms: float
    p95_ms: float
    speedup: float | None = None  # vs torch fp32 on the same device, same model and size


@dataclass
class EndToEndRow:
    model: str
    backend: str
    precision: str
    size: str
    model_fps: float
    video_fps: float
    stage_ms: dict[str, float] = field(default_factory=dict)  # medians per pipeline stage: where the time goes

    @property
    def ratio(self) -> float:
        return self.video_fps / self.model_fps if self.model_fps else 0.0


def time_backend(backend: Backend, size: tuple[int, int], warmup: int = 5, iters: int = 20) -> tuple[float, float]:
    """(median, p95) milliseconds of ``infer`` on random frames (not zeros: they can run faster)."""
    w, h = size
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8) for _ in range(4)]
    for i in range(warmup):
        backend.infer(frames[i % 4])
    times = []
    for i in range(iters):
        t0 = time.perf_counter()
        backend.infer(frames[i % 4])
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times)), float(np.percentile(times, 95))


def precision_label(backend: Backend) -> str:
    """Precision as the tables show it, marking CUDA-graph replay."""
    return backend.precision + ("+graph" if getattr(backend, "cuda_graph", False) else "")


def backend_factories(
    weights: Path, device: str, int8: bool = True, scratch: Path | None = None, busy_wait: bool = True
) -> list[tuple[str, Callable[[], Backend]]]:
    """Every backend available here for these weights, baseline (torch fp32) first; ``busy_wait=False``
    opens ONNX Runtime as the streaming commands do (idle threads sleep).

    An export already in the user's cache is timed as it is; weights not yet exported are exported for the
    timing into ``scratch`` (a temporary folder), not the user's cache."""
    from rtdepth.runtime import cache

    from .export import ensure_onnx
    from .tensorrt import build_engine

    def cached_onnx(w: Path) -> Path:
        return cache.find_onnx(w) or ensure_onnx(w, scratch)

    out: list[tuple[str, Callable[[], Backend]]] = [("torch fp32", lambda: TorchBackend(load_model(weights)[0], device, "fp32"))]
    if device == "cpu":
        out.append(("onnxruntime fp32", lambda: OnnxRuntimeBackend(cached_onnx(weights), busy_wait=busy_wait)))
        int8_path = cache.find_int8(weights) if int8 else None
        if int8_path is not None:
            out.append(("onnxruntime int8", lambda: OnnxRuntimeBackend(int8_path, busy_wait=busy_wait)))
        out += _openvino_factories(cached_onnx, weights, int8_path)
        return out
    out.append(("torch fp16", lambda: TorchBackend(load_model(weights)[0], device, "fp16")))
    out.append(("torch fp16 graph", lambda: TorchBackend(load_model(weights)[0], device, "fp16", cuda_graph=True)))
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        out.append(("onnxruntime cuda fp32", lambda: OnnxRuntimeBackend(cached_onnx(weights), "cuda")))
    from rtdepth.runtime.tensorrt import TensorRTBackend, tensorrt_available

    if tensorrt_available():
        out.append(("tensorrt fp16", lambda: TensorRTBackend(build_engine(weights, "fp16"), cuda_graph=True)))
    return out


def _openvino_factories(cached_onnx: Callable[[Path], Path], weights: Path,
                        int8_path: Path | None) -> list[tuple[str, Callable[[], Backend]]]:  # fmt: skip
    """OpenVINO at every precision this CPU runs: fp32, bf16 where it has bf16 matrix units, int8 (the same
    QDQ model ONNX Runtime runs) when one was built."""
    from rtdepth.runtime import cache
    from rtdepth.runtime.cpu import has_bf16
    from rtdepth.runtime.openvino import OpenVinoBackend, openvino_available

    if not openvino_available():
        return []

    def opener(precision: str, artefact: Callable[[], Path]) -> Callable[[], Backend]:
        def open_it() -> Backend:
            path = artefact()
            return OpenVinoBackend(path, precision, cache.openvino_dir(path))

        return open_it

    out = [("openvino fp32", opener("fp32", lambda: cached_onnx(weights)))]
    if has_bf16():
        out.append(("openvino bf16", opener("bf16", lambda: cached_onnx(weights))))
    if int8_path is not None:
        out.append(("openvino int8", opener("int8", lambda: int8_path)))
    return out


def weights_for_models(models: list[str], folder: Path) -> list[Path]:
    """The bundled weights for its own model; random weights for others (speed does not depend on values)."""
    default = default_weights()
    paths = []
    for name in models:
        if read_info(default).model == name:
            paths.append(default)
            continue
        path = folder / f"{name}-random.safetensors"
        save_weights(create_model(name), path, WeightsInfo(name))
        paths.append(path)
    return paths


def latency_table(
    weights: list[Path], device: str, sizes=SIZES, iters: int = 20, log=print, scratch: Path | None = None
) -> list[LatencyRow]:
    """Median and p95 latency of every backend at every size, with the ratio to eager FP32 of the same run."""
    rows: list[LatencyRow] = []
    for path in weights:
        name = read_info(path).model
        for label, factory in backend_factories(path, device, scratch=scratch):
            backend = factory()
            for size in sizes:
                med, p95 = time_backend(backend, size, iters=iters)
                shape = f"{size[0]}x{size[1]}"
                rows.append(LatencyRow(name, backend.name, backend.device, precision_label(backend), shape, med, p95))
                log(f"{name:18s} {label:22s} {size[0]}x{size[1]}: median {med:7.1f} ms  p95 {p95:7.1f} ms")
            del backend
    for row in rows:
        base = next(r for r in rows if r.model == row.model and r.size == row.size and r.backend == "torch"
                    and r.precision == "fp32" and r.device == row.device)  # fmt: skip
        row.speedup = base.median_ms / row.median_ms
    return rows


def end_to_end(weights: Path, factory: Callable[[], Backend], clip: Path | None = None, frames: int = 90,
               model_factory: Callable[[], Backend] | None = None) -> EndToEndRow:  # fmt: skip
    """Model-only rate and the whole ``video`` pipeline's rate on a clip (decode, infer, render, H.264).

    ``factory`` opens the backend as ``video`` does; ``model_factory`` (default: the same) the one whose
    model-only rate is the baseline, so the ratio is against the fastest model-only setting."""
    from rtdepth.estimator import DepthEstimator
    from rtdepth.stream.pipeline import Sinks, run_stream
    from rtdepth.stream.sinks import VideoSink
    from rtdepth.stream.sources import VideoSource
    from rtdepth.stream.visualize import Visualizer

    clip = clip or ASSETS / "demo.mp4"
    backend = factory()
    est = DepthEstimator(backend, read_info(weights), flip=False)  # as the streaming commands run it
    with VideoSource(clip) as src:
        first = src.read()
    size = est.model_size_for((first.image.shape[1], first.image.shape[0]))
    alone = model_factory() if model_factory is not None else backend
    med, _ = time_backend(alone, size, iters=30)
    with tempfile.TemporaryDirectory() as tmp, VideoSource(clip) as src:
        run_stream(src, est, Visualizer(), Sinks([VideoSink(Path(tmp) / "warm.mp4", src.fps)]), max_frames=5)
    with tempfile.TemporaryDirectory() as tmp, VideoSource(clip) as src:
        stats = run_stream(src, est, Visualizer(), Sinks([VideoSink(Path(tmp) / "o.mp4", src.fps)]), max_frames=frames,
                           stabilizer=TemporalStabilizer())  # as `video` runs: the stabiliser is a stage  # fmt: skip
    after, _ = time_backend(alone, size, iters=30)  # model-only before and after: the ratio should not
    # depend on the machine's speed drifting during the run
    return EndToEndRow(
        est.info.model,
        backend.name,
        precision_label(backend),
        f"{size[0]}x{size[1]}",
        2000 / (med + after),
        stats.fps,
        stats.stage_ms,
    )


@dataclass
class LiveRow:
    model: str
    backend: str
    precision: str
    size: str
    source_fps: float
    shown_fps: float
    latency_median_ms: float
    latency_p95_ms: float
    dropped_share: float


def live_latency(weights: Path, factory: Callable[[], Backend], clip: Path | None = None) -> LiveRow:
    """The ``live`` path on a clip replayed at its own fps as a camera: glass-to-glass latency (capture to
    the rendered frame, ready to show) and the share of camera frames dropped because the model was busy."""
    from rtdepth.estimator import DepthEstimator
    from rtdepth.stream.pipeline import Sinks, run_stream
    from rtdepth.stream.sources import PacedFileSource
    from rtdepth.stream.visualize import Visualizer

    clip = clip or ASSETS / "demo.mp4"
    backend = factory()
    est = DepthEstimator(backend, read_info(weights), flip=False)  # as the streaming commands run it
    with PacedFileSource(clip) as src:  # warm-up: first calls allocate
        run_stream(src, est, Visualizer(), Sinks(), max_frames=5)
    with PacedFileSource(clip) as src:
        stats = run_stream(src, est, Visualizer(), Sinks(), stabilizer=TemporalStabilizer())
        delivered = src.dropped + stats.frames
        frame_wh = (src.cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 320, src.cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 240)
        size = est.model_size_for(frame_wh)
        fps = src.fps
    med, p95 = stats.latency_ms or (float("nan"), float("nan"))
    return LiveRow(est.info.model, backend.name, precision_label(backend), f"{int(size[0])}x{int(size[1])}", fps,
                   stats.fps, med, p95, src.dropped / max(delivered, 1))  # fmt: skip


@dataclass
class ServeRow:
    model: str
    backend: str
    precision: str
    alone_fps: float
    one_viewer_fps: float

    @property
    def ratio(self) -> float:
        return self.one_viewer_fps / self.alone_fps if self.alone_fps else 0.0


def serve_cost(weights: Path, factory: Callable[[], Backend], clip: Path | None = None, seconds: float = 15.0) -> ServeRow:
    """The serve pipeline's rate on a clip read as fast as it decodes (looped), with no viewer and with one
    browser-like viewer reading the MJPEG stream over real HTTP: what serving costs the pipeline."""
    import socket
    import threading
    import urllib.request

    import uvicorn

    from rtdepth.estimator import DepthEstimator
    from rtdepth.serve.app import create_app
    from rtdepth.serve.live import LiveService
    from rtdepth.stream.sources import VideoSource
    from rtdepth.stream.visualize import Visualizer

    clip = clip or ASSETS / "demo.mp4"
    est = DepthEstimator(factory(), read_info(weights), flip=False)  # as the streaming commands run it

    def rate(viewer: bool) -> float:
        service = LiveService(str(clip), est, Visualizer(), source_factory=lambda spec: VideoSource(spec)).start()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(service, lambda: est), host="127.0.0.1", port=port,
                                               log_level="warning"))  # fmt: skip
        threading.Thread(target=server.run, daemon=True).start()
        stop = threading.Event()

        def watch() -> None:
            while not server.started:
                time.sleep(0.05)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream.mjpg") as r:
                while not stop.is_set() and r.read(65536):
                    pass

        if viewer:
            threading.Thread(target=watch, daemon=True).start()
        time.sleep(3.0)  # warm-up
        first = service.latest().seq if service.latest() else 0
        t0 = time.perf_counter()
        time.sleep(seconds)
        frames = (service.latest().seq if service.latest() else 0) - first
        fps = frames / (time.perf_counter() - t0)
        stop.set()
        server.should_exit = True
        service.stop()
        return fps

    alone, watched = rate(False), rate(True)
    return ServeRow(est.info.model, est.backend_name, est.precision, alone, watched)


def as_json(latency: list[LatencyRow], e2e: list[EndToEndRow], live: list[LiveRow] | None = None,
            serve: list[ServeRow] | None = None) -> dict:  # fmt: skip
    return {"latency": [asdict(r) for r in latency], "end_to_end": [asdict(r) | {"ratio": r.ratio} for r in e2e],
            "live": [asdict(r) for r in live or []], "serve": [asdict(r) | {"ratio": r.ratio} for r in serve or []]}  # fmt: skip


@dataclass(frozen=True)
class BenchPlan:
    """What ``rtdepth bench`` measures: the weights (and more models, random weights), the device, and which parts."""

    weights: Path | None
    models: str | None  # "all" or a comma list, beside the weights' own model
    device: str
    iters: int = 20
    e2e_frames: int = 90
    clip: Path | None = None
    live: bool = False
    serve: bool = False


def run_bench(plan: BenchPlan, log: Callable[[str], None] = print) -> dict:
    """Latency per model, backend and size; the video rate of each backend against its model-only rate; with
    ``live`` and ``serve`` those paths too. Returns ``as_json``'s report."""
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        paths = [resolve_weights(plan.weights)]
        if plan.models:
            names = list_models() if plan.models == "all" else [m.strip() for m in plan.models.split(",")]
            paths += weights_for_models([n for n in names if n != read_info(paths[0]).model], scratch)
        rows = latency_table(paths, plan.device, iters=plan.iters, log=log, scratch=scratch)
        # On a GPU the FP32 eager baseline is for the latency ratio only; its video rate says nothing new.
        # The pipelines open ONNX Runtime as the streaming commands do (busy_wait off); the model-only
        # baseline of the ratio is the fastest setting (busy_wait on).
        alone = dict(backend_factories(paths[0], plan.device, scratch=scratch))
        factories = [(label, f) for label, f in backend_factories(paths[0], plan.device, scratch=scratch, busy_wait=False)
                     if not (label == "torch fp32" and plan.device != "cpu")]  # fmt: skip
        e2e = [end_to_end(paths[0], f, plan.clip, plan.e2e_frames, alone[label]) for label, f in factories]
        lives = [live_latency(paths[0], f, plan.clip) for _, f in factories] if plan.live else []
        serves = [serve_cost(paths[0], f, plan.clip) for _, f in factories] if plan.serve else []
    return as_json(rows, e2e, lives, serves)
