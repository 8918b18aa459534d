"""Depth for uploaded files: an image at once, a short video as a background job with progress.

Uploads are written under one private temporary folder with generated names (no name or path from a
request ever reaches the file system) and the folder is removed when the server stops.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from rtdepth.errors import RtdepthError
from rtdepth.estimator import DepthEstimator
from rtdepth.runtime.preprocess import to_bgr8
from rtdepth.stream.depth_io import depth_to_mm16
from rtdepth.stream.pipeline import Sinks, run_stream
from rtdepth.stream.sinks import VideoSink
from rtdepth.stream.sources import VideoSource
from rtdepth.stream.visualize import Visualizer

VIDEO_TYPES = {"video/mp4": ".mp4", "video/quicktime": ".mov", "video/x-matroska": ".mkv", "video/webm": ".webm",
               "video/x-msvideo": ".avi"}  # fmt: skip


@dataclass
class Limits:
    max_bytes: int = 50 * 2**20
    max_seconds: float = 60.0
    max_pixels: int = 8192 * 8192


def png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise RtdepthError("cannot encode PNG")
    return buf.tobytes()


def depth_png16(depth: np.ndarray) -> bytes:
    """Raw depth as a 16-bit PNG in millimetres (what RGB-D tools read)."""
    return png(depth_to_mm16(depth))


def image_depth(data: bytes, estimator: DepthEstimator, viz: Visualizer, limits: Limits) -> tuple[bytes, bytes]:
    """Colour PNG and 16-bit depth PNG for an uploaded image."""
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if frame is None:
        raise RtdepthError("not an image OpenCV can decode")
    if frame.shape[0] * frame.shape[1] > limits.max_pixels:
        raise RtdepthError(f"image too large ({frame.shape[1]}x{frame.shape[0]})")
    depth = estimator.predict(frame)
    return png(viz.render(to_bgr8(frame), depth)), depth_png16(depth)


@dataclass
class Job:
    id: str
    frames: int | None
    done: int = 0
    state: str = "running"  # running, done, failed
    error: str | None = None
    result: Path | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    def as_dict(self) -> dict:
        return {"id": self.id, "state": self.state, "done": self.done, "frames": self.frames, "error": self.error}


class VideoJobs:
    """Background depth videos, one at a time, in a private temporary folder."""

    def __init__(self, estimator: DepthEstimator, limits: Limits) -> None:
        self.estimator, self.limits = estimator, limits
        self.folder = Path(tempfile.mkdtemp(prefix="rtdepth-serve-"))
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def submit(self, data: bytes, content_type: str, viz: Visualizer) -> Job:
        """Check the upload (decodable, short enough) now; encode its depth video on a thread."""
        suffix = VIDEO_TYPES.get(content_type.split(";")[0].strip(), ".mp4")
        job_id = uuid.uuid4().hex
        upload = self.folder / f"{job_id}-in{suffix}"
        upload.write_bytes(data)
        try:
            source = VideoSource(upload)
        except RtdepthError as exc:
            upload.unlink(missing_ok=True)
            raise RtdepthError("not a video that can be decoded") from exc
        if source.frame_count and source.frame_count / source.fps > self.limits.max_seconds:
            source.close()
            upload.unlink(missing_ok=True)
            raise RtdepthError(f"video longer than {self.limits.max_seconds:g} s")
        job = Job(job_id, source.frame_count)
        job.thread = threading.Thread(target=self._run, args=(job, source, upload, viz), daemon=True)
        with self._lock:
            if any(j.state == "running" for j in self.jobs.values()):
                source.close()
                upload.unlink(missing_ok=True)
                raise RtdepthError("a video is already being processed; try again when it is done")
            self.jobs[job_id] = job
        job.thread.start()
        return job

    def _run(self, job: Job, source: VideoSource, upload: Path, viz: Visualizer) -> None:
        out = self.folder / f"{job.id}-depth.mp4"
        try:
            with source:
                limit = int(self.limits.max_seconds * source.fps) + 1  # streams without a frame count
                stats = run_stream(source, self.estimator, viz, Sinks(video=VideoSink(out, source.fps, notice=lambda m: None)),
                                   hud=False, max_frames=limit,
                                   on_frame=lambda s, fps: setattr(job, "done", s.frames))  # fmt: skip
            job.done = stats.frames
            if stats.error or not out.is_file():
                raise RtdepthError(stats.error or "no frames decoded")
            job.result, job.state = out, "done"
        except Exception as exc:  # noqa: BLE001 - shown on the page
            job.state, job.error = "failed", str(exc)
        finally:
            upload.unlink(missing_ok=True)

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def close(self) -> None:
        """Wait briefly for a running job, then remove every upload and result."""
        for job in list(self.jobs.values()):
            if job.thread is not None and job.thread.is_alive():
                job.thread.join(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)
