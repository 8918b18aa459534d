"""The streaming pipeline: source -> preprocess -> backend -> visualise -> sinks.

Decoding (file sources), inference and encoding run in three threads joined by small bounded
queues, so on a video the end-to-end rate approaches the model-only rate. When no window or preview
shows frames on the inference thread, colour-mapping moves to the writer thread too, so the inference
thread does nothing but infer. Camera sources are already threaded and hand over only their newest
frame. Sinks are always closed, so an interrupted run leaves a playable file of the frames done.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rtdepth.errors import Terminated
from rtdepth.estimator import DepthEstimator
from rtdepth.runtime.preprocess import to_bgr8
from rtdepth.stopping import stop_requests
from rtdepth.stream.sinks import Sink, WindowSink
from rtdepth.stream.sources import Frame, Source
from rtdepth.stream.stabilize import TemporalStabilizer
from rtdepth.stream.timing import RateMeter, StageTimer
from rtdepth.stream.visualize import Visualizer, draw_hud

_END = object()


@dataclass
class Sinks:
    """Where a run's frames go: file outputs, written in this order off the inference thread (side outputs
    before the video, so a frame whose side output failed is not in the video), and the views on the
    inference thread."""

    files: list[Sink] = field(default_factory=list)
    window: WindowSink | None = None
    # Called on the inference thread with each shown image, its depth and the frame's capture time;
    # returning False stops the run (the browser view publishes frames this way).
    preview: Callable[[np.ndarray, np.ndarray, float], bool] | None = None

    def close(self) -> None:
        for sink in [*self.files, self.window]:
            if sink is not None:
                sink.close()


@dataclass
class RunStats:
    """What a run did: frames, rate, per-stage medians, and why it ended early, if it did."""

    frames: int = 0  # written (or shown): what the outputs hold
    inferred: int = 0  # through the model; a frame whose writing failed is inferred but not written
    seconds: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)
    dropped: int = 0
    interrupted: bool = False
    terminated: bool = False  # by SIGTERM rather than Ctrl-C
    error: str | None = None
    latency_ms: tuple[float, float] | None = None  # live sources: capture -> shown, (median, p95)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class _Writer(threading.Thread):
    """Encodes and writes rendered frames off the inference thread (rendering them first when deferred)."""

    def __init__(self, sinks: Sinks, timer: StageTimer, draw: Callable[[Frame, np.ndarray, float], np.ndarray],
                 live: bool) -> None:  # fmt: skip
        super().__init__(name="rtdepth-writer", daemon=True)
        self.sinks, self.timer, self.draw, self.live = sinks, timer, draw, live
        self.queue: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.written = 0

    def run(self) -> None:
        while (item := self.queue.get()) is not _END:
            if self.error is not None:
                continue  # keep draining so the producer never blocks
            frame, depth, image, fps = item
            try:
                if image is None:
                    image = self.draw(frame, depth, fps)
                    if self.live:  # glass to glass: captured -> ready to show (headless)
                        self.timer.add("latency", time.perf_counter() - frame.captured)
                with self.timer.time("write"):
                    for sink in self.sinks.files:
                        sink.put(frame, depth, image)
                self.written += 1
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                self.error = exc


def _prefetch(source: Source, timer: StageTimer, stop: threading.Event) -> queue.Queue:
    """Decode a file source ahead in a thread (bounded, so memory stays flat)."""
    q: queue.Queue = queue.Queue(maxsize=4)

    def work() -> None:
        try:
            while not stop.is_set():
                t0 = time.perf_counter()
                frame = source.read()
                timer.add("capture", time.perf_counter() - t0)
                if frame is None:
                    break
                while not stop.is_set():
                    try:
                        q.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        finally:
            q.put(_END)

    threading.Thread(target=work, name="rtdepth-decode", daemon=True).start()
    return q


def run_stream(
    source: Source,
    estimator: DepthEstimator,
    viz: Visualizer,
    sinks: Sinks,
    hud: bool = True,
    max_frames: int | None = None,
    on_frame: Callable[[RunStats, float], None] | None = None,
    stop: threading.Event | None = None,
    stabilizer: TemporalStabilizer | None = None,
) -> RunStats:
    """Process frames until the source ends, a key quits, ``max_frames``, Ctrl-C, or ``stop`` is set (by
    another thread: the server stopping a job). ``stabilizer`` steadies depth over frames (its own stage)."""
    timer, meter, stats = StageTimer(), RateMeter(), RunStats()
    asked = stop or threading.Event()
    decoder_done = threading.Event()  # tells the prefetching decoder to stop when the loop ends
    frames_in = None if source.live else _prefetch(source, timer, decoder_done)
    label = estimator.describe()

    def draw(frame: Frame, depth: np.ndarray, fps: float) -> np.ndarray:
        """Colour-map, overlay and HUD: the frame as shown or written."""
        with timer.time("render"):
            image = viz.render(to_bgr8(frame.image), depth)
        if hud:
            latency = (time.perf_counter() - frame.captured) * 1000
            draw_hud(image, [f"{fps:5.1f} FPS  {latency:4.0f} ms", label])
        return image

    deferred = sinks.window is None and sinks.preview is None  # nothing is shown here: render on the writer
    writer = _Writer(sinks, timer, draw, source.live and deferred)
    writer.start()
    started = time.perf_counter()
    with stop_requests() as requested:
        try:
            while (max_frames is None or stats.inferred < max_frames) and not requested and not asked.is_set():
                frame = _next_frame(source, frames_in, timer, requested)
                if frame is None:
                    break
                t0 = time.perf_counter()
                depth = estimator.predict(frame.image)
                timer.add("model", time.perf_counter() - t0)
                if stabilizer is not None:
                    with timer.time("stabilise"):
                        depth = stabilizer(frame.image, depth)
                fps = meter.tick()
                image = None if deferred else draw(frame, depth, fps)
                if sinks.window is not None and sinks.window.show_and_handle(image, viz):
                    break
                if sinks.preview is not None and sinks.preview(image, depth, frame.captured) is False:
                    break
                if source.live and not deferred:  # glass to glass: captured -> shown
                    timer.add("latency", time.perf_counter() - frame.captured)
                writer.queue.put((frame, depth, image, fps))
                if writer.error is not None:
                    break
                stats.inferred += 1
                if on_frame is not None:
                    on_frame(stats, fps)
        except KeyboardInterrupt as exc:  # a second Ctrl-C, or a thread where signals stay exceptions
            requested.append(signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
        finally:
            decoder_done.set()
            writer.queue.put(_END)
            writer.join()
            sinks.close()
            stats.seconds = time.perf_counter() - started
    if requested:
        stats.interrupted = True
        stats.terminated = requested[0] == signal.SIGTERM
    stats.frames = writer.written
    stats.stage_ms = timer.medians_ms() | estimator.timer.medians_ms()
    stats.dropped = getattr(source, "dropped", 0)
    stats.latency_ms = timer.percentiles_ms("latency")
    stats.error = source.error if writer.error is None else f"writing failed: {writer.error}"
    return stats


def _next_frame(source: Source, frames_in: queue.Queue | None, timer: StageTimer, requested: list[int]) -> Frame | None:
    if frames_in is None:
        with timer.time("capture"):
            return source.read()
    while not requested:
        try:
            item = frames_in.get(timeout=0.1)
        except queue.Empty:
            continue
        return None if item is _END else item
    return None
