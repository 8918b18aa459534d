"""Frame sources. Files deliver every frame in order; cameras and streams keep only the newest frame.

``open_source`` picks the kind from the spec: a camera index, an rtsp/http(s) URL, a video file, an
image folder or a glob. Every source yields ``Frame`` objects and is a context manager.
"""

from __future__ import annotations

import glob
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rtdepth.errors import RtdepthError
from rtdepth.io import IMAGE_SUFFIXES

DEFAULT_FPS = 30.0


@dataclass
class Frame:
    """A decoded frame, its index in the source, and when it was captured (perf_counter seconds)."""

    image: np.ndarray
    index: int
    captured: float


class Source:
    """Base: iteration yields frames until the source ends; ``error`` explains an early end."""

    fps: float = DEFAULT_FPS
    frame_count: int | None = None
    live: bool = False
    error: str | None = None

    def read(self) -> Frame | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file."""

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fps_of(cap: cv2.VideoCapture) -> float:
    fps = cap.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and 1.0 <= fps <= 1000.0 else DEFAULT_FPS


class _OpenedVideo:
    """A video file, checked on opening by decoding its first frame, which ``read`` then returns first.

    A file that cannot give a frame fails here with one line, before any model loads."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise RtdepthError(f"{path}: no such file")
        self.cap = cv2.VideoCapture(str(path))
        if not self.cap.isOpened():
            raise RtdepthError(f"{path}: not a video OpenCV can decode")
        ok, image = self.cap.read()
        if not ok or image is None:
            self.cap.release()
            raise RtdepthError(f"{path}: contains no decodable frames")
        self._first: np.ndarray | None = image

    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoCapture's interface
        return self.cap.isOpened()

    def get(self, prop: int) -> float:
        return self.cap.get(prop)

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self._first is not None:
            image, self._first = self._first, None
            return True, image
        return self.cap.read()

    def release(self) -> None:
        self.cap.release()


def container_facts(path: Path) -> tuple[int | None, float | None]:
    """(frames the container counts exactly, duration in seconds) as the container states them, either None
    when it does not say: OpenCV's frame count is duration x fps, an estimate that is wrong for a
    variable-frame-rate file, so it is never evidence of truncation."""
    try:
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            frames = int(stream.frames) if stream.frames else None
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = container.duration / 1e6 if container.duration else None
            return frames, duration
    except Exception:  # noqa: BLE001 - no PyAV, or a file only OpenCV reads: nothing stated
        return None, None


class VideoSource(Source):
    """A video file read sequentially: every frame, in order; a decode failure ends it with ``error``.

    ``frame_count`` is for progress (exact when the container counts frames, else OpenCV's estimate);
    ``duration`` is the container's. A file counts as truncated only by what its container states."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.cap = _OpenedVideo(self.path)
        self.fps = _fps_of(self.cap)
        self.exact_frames, self.duration = container_facts(self.path)
        count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = self.exact_frames or (count if count > 0 else None)
        self._next = 0
        self._last_ms = 0.0

    def read(self) -> Frame | None:
        ok, image = self.cap.read()
        if not ok or image is None:
            self.error = self._truncation()
            return None
        self._last_ms = self.cap.get(cv2.CAP_PROP_POS_MSEC)
        frame = Frame(image, self._next, time.perf_counter())
        self._next += 1
        return frame

    def _truncation(self) -> str | None:
        if self.exact_frames and self._next < self.exact_frames - 1:
            return f"decoding stopped at frame {self._next} of {self.exact_frames} (truncated or corrupt file)"
        if not self.exact_frames and self.duration and self._last_ms / 1000 < self.duration - max(1.0, 0.1 * self.duration):
            return (f"decoding stopped at {self._last_ms / 1000:.1f} s of {self.duration:.1f} s "
                    "(truncated or corrupt file)")  # fmt: skip
        return None

    def close(self) -> None:
        self.cap.release()


class ImageFolderSource(Source):
    """Images from a folder or a glob, in name order; unreadable files are an error, not a skip."""

    def __init__(self, spec: str | Path, fps: float = DEFAULT_FPS) -> None:
        path = Path(spec)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files = sorted(Path(p) for p in glob.glob(str(spec)) if Path(p).suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise RtdepthError(f"{spec}: no images found")
        self.files, self.fps, self.frame_count = files, fps, len(files)
        self._next = 0

    def read(self) -> Frame | None:
        if self._next >= len(self.files):
            return None
        path = self.files[self._next]
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            self.error = f"{path}: not an image OpenCV can decode"
            return None
        frame = Frame(image, self._next, time.perf_counter())
        self._next += 1
        return frame


CaptureFactory = Callable[..., cv2.VideoCapture]


class LiveSource(Source):
    """Camera or network stream read by a background thread; ``read`` returns the newest frame only.

    A slow consumer therefore never works through a backlog of stale frames. A device that stops
    delivering is reopened up to ``retries`` times before the source ends with ``error``.
    """

    live = True

    def __init__(
        self,
        target: int | str,
        open_timeout: float = 5.0,
        read_timeout: float = 5.0,
        retries: int = 3,
        capture_factory: CaptureFactory | None = None,
    ) -> None:
        self.target, self.read_timeout, self.retries = target, read_timeout, retries
        self._factory = capture_factory or self._default_capture(open_timeout)
        self.cap = self._open_with_timeout(open_timeout)
        self.fps = _fps_of(self.cap)
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._taken = -1
        self._stopped = False
        self.dropped = 0
        self._thread = threading.Thread(target=self._reader, name="rtdepth-capture", daemon=True)
        self._thread.start()

    def _default_capture(self, timeout: float) -> CaptureFactory:
        if isinstance(self.target, str):  # network stream: bound FFmpeg's own waits too
            ms = int(timeout * 1000)
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
            return lambda: cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, params)
        return lambda: cv2.VideoCapture(self.target)

    def _describe(self) -> str:
        return f"camera {self.target}" if isinstance(self.target, int) else f"stream {self.target}"

    def _open_with_timeout(self, timeout: float) -> cv2.VideoCapture:
        box: dict[str, cv2.VideoCapture] = {}
        opener = threading.Thread(target=lambda: box.setdefault("cap", self._factory()), daemon=True)
        opener.start()
        opener.join(timeout)
        cap = box.get("cap")
        if cap is None:
            raise RtdepthError(f"{self._describe()} did not open within {timeout:.0f} s")
        if not cap.isOpened():
            cap.release()
            raise RtdepthError(f"{self._describe()} cannot be opened (no such device or no answer)")
        return cap

    def _reader(self) -> None:
        index, failures = 0, 0
        while not self._stopped:
            ok, image = self.cap.read()
            if ok and image is not None:
                failures = 0
                with self._cond:
                    if self._latest is not None and self._latest.index > self._taken:
                        self.dropped += 1
                    self._latest = Frame(image, index, time.perf_counter())
                    self._cond.notify_all()
                index += 1
                continue
            if getattr(self.cap, "ended", False):  # a paced file played to its end: a normal end
                break
            failures += 1
            if failures > self.retries:
                self.error = f"{self._describe()} stopped delivering frames (gave up after {self.retries} retries)"
                break
            time.sleep(min(0.2 * 2**failures, 2.0))
            self.cap.release()
            try:
                self.cap = self._factory()
            except Exception:  # noqa: BLE001 - a device that fails to reopen counts as one more failure
                continue
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def read(self) -> Frame | None:
        deadline = time.monotonic() + self.read_timeout
        with self._cond:
            while self._latest is None or self._latest.index <= self._taken:
                if self._stopped:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    self.error = f"{self._describe()}: no frame for {self.read_timeout:.0f} s"
                    return None
                self._cond.wait(left)
            self._taken = self._latest.index
            return self._latest

    def close(self) -> None:
        self._stopped = True
        self._thread.join(timeout=2.0)
        self.cap.release()


class _PacedCapture:
    """A video file that delivers each frame at its time (start + index / fps), as a camera does."""

    def __init__(self, video: _OpenedVideo) -> None:
        self.video = video
        self.fps = _fps_of(video)
        self.start: float | None = None
        self.index = 0
        self.ended = False

    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoCapture's interface
        return self.video.isOpened()

    def get(self, prop: int) -> float:
        return self.video.get(prop)

    def read(self) -> tuple[bool, np.ndarray | None]:
        ok, image = self.video.read()
        if not ok:
            self.ended = True
            return False, None
        if self.start is None:
            self.start = time.perf_counter()
        delay = self.start + self.index / self.fps - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        self.index += 1
        return True, image

    def release(self) -> None:
        self.video.release()


class PacedFileSource(LiveSource):
    """A video file replayed at its own fps as a live camera: newest frame only, drops counted.

    Measures the ``live`` path (glass-to-glass latency, frames dropped) without a camera."""

    def __init__(self, path: str | Path) -> None:
        capture = _PacedCapture(_OpenedVideo(Path(path)))
        super().__init__(str(path), retries=0, capture_factory=lambda: capture)  # retries=0: never reopened
        self.frame_count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None


def open_source(spec: str | int, paced: bool = False, **live_kw: object) -> Source:
    """Camera index (int or digits), rtsp/http(s) URL, video file, image folder or glob.

    ``paced``: a video file plays at its own fps with newest-frame-only reads, as a camera would."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        return LiveSource(int(spec), **live_kw)
    text = str(spec)
    if text.lstrip("-").isdigit() and not Path(text).exists():
        raise RtdepthError(f"camera {text}: a camera index is 0 or more")
    if text.split("://", 1)[0].lower() in ("rtsp", "rtsps", "http", "https", "rtmp", "udp", "tcp"):
        return LiveSource(text, **live_kw)
    path = Path(text)
    if path.is_dir() or any(ch in text for ch in "*?["):
        return ImageFolderSource(text)
    if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
        return ImageFolderSource(text)
    return PacedFileSource(path) if paced else VideoSource(path)
