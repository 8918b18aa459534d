"""The live half of the server: one pipeline thread publishes each new frame once, for any number of viewers.

Each frame is JPEG-encoded once on the pipeline thread; viewers only copy the bytes, so a tenth tab costs
a socket write, not an encode. Controls change the shared ``Visualizer`` between frames.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from rtdepth.errors import RtdepthError
from rtdepth.estimator import DepthEstimator
from rtdepth.stream.pipeline import Sinks, run_stream
from rtdepth.stream.sources import PacedFileSource, Source, open_source
from rtdepth.stream.stabilize import TemporalStabilizer
from rtdepth.stream.timing import RateMeter
from rtdepth.stream.visualize import COLORMAPS, LAYOUTS, Visualizer


@dataclass
class Published:
    """The newest frame: its number, JPEG bytes (shared by all viewers), the colour image and raw depth."""

    seq: int
    jpeg: bytes
    image: np.ndarray
    depth: np.ndarray


def open_live_source(spec: str) -> Source:
    """Cameras and streams as they come; a video file is played at its own fps, as a camera would."""
    return open_source(spec, paced=True)


class LiveService:
    """Runs the pipeline on a thread until ``stop``; files loop, so a demo clip plays for as long as viewers watch."""

    def __init__(self, spec: str, estimator: DepthEstimator, viz: Visualizer, jpeg_quality: int = 80,
                 source_factory: Callable[[str], Source] = open_live_source, smooth: bool = True) -> None:  # fmt: skip
        self.spec, self.estimator, self.viz, self.quality = spec, estimator, viz, jpeg_quality
        self.smooth = smooth
        self._factory = source_factory
        self._cond = threading.Condition()
        self._latest: Published | None = None
        self._stop = threading.Event()
        self._meter = RateMeter()
        self.fps = 0.0
        self.latency_ms = 0.0
        self.error: str | None = None
        self.lock = threading.Lock()  # held while settings change, so a frame never sees half a change
        self._source = self._factory(spec)  # opened here: a bad source fails the command, not a thread
        self._thread = threading.Thread(target=self._run, name="rtdepth-serve", daemon=True)

    def start(self) -> LiveService:
        self._thread.start()
        return self

    def _publish(self, image: np.ndarray, depth: np.ndarray, captured: float) -> bool:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        now = time.perf_counter()
        self.fps = self._meter.tick()
        self.latency_ms = (now - captured) * 1000
        with self._cond:
            seq = self._latest.seq + 1 if self._latest else 1
            self._latest = Published(seq, buf.tobytes() if ok else b"", image, depth)
            self._cond.notify_all()
        return not self._stop.is_set()

    def _run(self) -> None:
        source = self._source
        try:
            while not self._stop.is_set():
                with source:
                    stabilizer = TemporalStabilizer() if self.smooth else None  # a new one each pass: a loop is a cut
                    stats = run_stream(source, self.estimator, _LockedViz(self), Sinks(preview=self._publish), hud=True,
                                       stabilizer=stabilizer)  # fmt: skip
                if stats.error:
                    self.error = stats.error
                    break
                if self._stop.is_set() or source.live and not isinstance(source, PacedFileSource):
                    break
                source = self._source = self._factory(self.spec)  # a file ended: play it again
        except Exception as exc:  # noqa: BLE001 - reported on the page and by stop()
            self.error = str(exc)
        finally:
            with self._cond:
                self._cond.notify_all()

    def latest(self) -> Published | None:
        with self._cond:
            return self._latest

    def wait_newer(self, seq: int, timeout: float = 1.0) -> Published | None:
        """The first frame newer than ``seq`` (None on timeout or when the pipeline ended)."""
        with self._cond:
            self._cond.wait_for(lambda: (self._latest is not None and self._latest.seq > seq) or not self.running,
                                timeout)  # fmt: skip
            return self._latest if self._latest is not None and self._latest.seq > seq else None

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def set_controls(self, colormap: str | None = None, layout: str | None = None, alpha: float | None = None,
                     range_: tuple[float, float] | None | str = "keep") -> dict:  # fmt: skip
        """Change what the next frame looks like: a new Visualizer is checked whole, then swapped in, so an
        invalid value changes nothing; the adaptive range keeps its state unless the range changes."""
        with self.lock:
            old = self.viz
            new = Visualizer(colormap or old.colormap, layout or old.layout, old.alpha if alpha is None else alpha,
                             old.range_ if range_ == "keep" else range_, old.legend)  # fmt: skip  # raises on a bad value
            if range_ == "keep":
                new.normalizer = old.normalizer
            self.viz = new
        return self.controls()

    def visualizer(self) -> Visualizer:
        """A copy of the current settings with a fresh normaliser (for uploads, which are not the stream)."""
        with self.lock:
            v = self.viz
            return Visualizer(v.colormap, v.layout, v.alpha, v.range_, v.legend)

    def controls(self) -> dict:
        v = self.viz
        return {"colormap": v.colormap, "layout": v.layout, "alpha": v.alpha, "range": list(v.range_) if v.range_ else None}

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the pipeline and release the camera or file."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._source.close()


class _LockedViz:
    """The service's current Visualizer, rendered under its lock (controls swap it whole between frames)."""

    def __init__(self, service: LiveService) -> None:
        self._service = service

    def render(self, frame_bgr: np.ndarray, depth: np.ndarray) -> np.ndarray:
        with self._service.lock:
            return self._service.viz.render(frame_bgr, depth)


CONTROL_KEYS = ("colormap", "layout", "alpha", "range")


def parse_controls(raw: bytes) -> dict:
    """A controls body -> keyword arguments of ``set_controls``, every value checked; one plain reason
    otherwise (which never echoes the body)."""
    import json
    import math

    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError) as exc:
        raise RtdepthError("controls are a JSON object") from exc
    if not isinstance(body, dict):
        raise RtdepthError("controls are a JSON object")
    unknown = [k for k in body if k not in CONTROL_KEYS]
    if unknown:
        raise RtdepthError(f"unknown control; use {', '.join(CONTROL_KEYS)}")
    out: dict = {}
    for key in ("colormap", "layout"):
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or value not in (COLORMAPS if key == "colormap" else LAYOUTS)):
            raise RtdepthError(f"unknown {key}; use one of {', '.join(COLORMAPS if key == 'colormap' else LAYOUTS)}")
        out[key] = value
    alpha = body.get("alpha")
    if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1):
        raise RtdepthError("alpha must be a number within 0..1")
    out["alpha"] = None if alpha is None else float(alpha)
    rng = body.get("range", "keep")
    if rng not in ("keep", None):
        numbers = isinstance(rng, list) and len(rng) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in rng)  # fmt: skip
        if not numbers or not 0 <= rng[0] < rng[1]:
            raise RtdepthError("range is null or [near, far] in metres with 0 <= near < far, both finite")
        rng = (float(rng[0]), float(rng[1]))
    out["range_"] = rng
    return out
