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
from rtdepth.io import MAX_IMAGE_PIXELS, NotAnImage, decode_image
from rtdepth.runtime.preprocess import to_bgr8
from rtdepth.stream.depth_io import depth_to_mm16
from rtdepth.stream.pipeline import Sinks, run_stream
from rtdepth.stream.sinks import VideoSink
from rtdepth.stream.sources import VideoSource
from rtdepth.stream.stabilize import TemporalStabilizer
from rtdepth.stream.visualize import Visualizer

VIDEO_TYPES = {"video/mp4": ".mp4", "video/quicktime": ".mov", "video/x-matroska": ".mkv", "video/webm": ".webm",
               "video/x-msvideo": ".avi"}  # fmt: skip


@dataclass
class Limits:
    """What one upload may be, and how many run at once (past that: 429)."""

    max_bytes: int = 50 * 2**20
    max_seconds: float = 60.0
    max_pixels: int = MAX_IMAGE_PIXELS
    concurrent_uploads: int = 2


class UploadError(RtdepthError):
    """An upload refused, with the HTTP status that says why (the error class carries it, not its words)."""

    status = 400


class NotDecodable(UploadError):
    status = 415


class Busy(UploadError):
    status = 409


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
    try:
        frame = decode_image(data, limits.max_pixels)  # the size is read from the header before decoding
    except NotAnImage as exc:
        raise NotDecodable(str(exc)) from exc
    except RtdepthError as exc:
        raise UploadError(str(exc)) from exc
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
        self._stop = threading.Event()

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
            raise NotDecodable("not a video that can be decoded") from exc
        seconds = source.duration or (source.frame_count / source.fps if source.exact_frames else None)
        if seconds and seconds > self.limits.max_seconds + 0.5 / source.fps:
            source.close()
            upload.unlink(missing_ok=True)
            raise UploadError(f"video longer than {self.limits.max_seconds:g} s")
        job = Job(job_id, source.frame_count)
        job.thread = threading.Thread(target=self._run, args=(job, source, upload, viz), daemon=True)
        with self._lock:
            if any(j.state == "running" for j in self.jobs.values()):
                source.close()
                upload.unlink(missing_ok=True)
                raise Busy("a video is already being processed; try again when it is done")
            self.jobs[job_id] = job
        job.thread.start()
        return job

    def _run(self, job: Job, source: VideoSource, upload: Path, viz: Visualizer) -> None:
        out = self.folder / f"{job.id}-depth.mp4"
        try:
            with source:
                limit = int(self.limits.max_seconds * source.fps) + 1  # streams without a frame count
                stats = run_stream(source, self.estimator, viz, Sinks([VideoSink(out, source.fps, notice=lambda m: None)]),
                                   hud=False, max_frames=limit, stop=self._stop, stabilizer=TemporalStabilizer(),
                                   on_frame=lambda s, fps: setattr(job, "done", s.inferred))  # fmt: skip
            if self._stop.is_set():
                raise RtdepthError("stopped with the server")
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
        """Stop a running job after its frame in hand and wait for it (a thread still inside the encoder or
        the model when the interpreter exits aborts the process), then remove every upload and result."""
        self._stop.set()
        for job in list(self.jobs.values()):
            if job.thread is not None:
                job.thread.join()
        shutil.rmtree(self.folder, ignore_errors=True)
