"""Where rendered frames go: an H.264 MP4 file, a window, per-frame raw depth, point clouds.

The file outputs share one protocol (``Sink``: ``put`` each finished frame, ``close`` at the end), so the
pipeline writes a list of them and a new output is a new class, not a new slot. Every sink is finalised on
close, so an interrupted run still leaves a playable video of the frames done.
"""

from __future__ import annotations

import os
import sys
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from rtdepth.camera import Intrinsics, camera_for
from rtdepth.errors import RtdepthError
from rtdepth.io import atomic_write_bytes, check_writable, partial_path
from rtdepth.stream.depth_io import save_depth

if TYPE_CHECKING:
    from rtdepth.stream.sources import Frame


class Sink(Protocol):
    """A file output of the stream, written off the inference thread in the order the run lists them."""

    def put(self, frame: Frame, depth: np.ndarray, image: np.ndarray) -> None:
        """One finished frame: the frame as captured, its depth in metres and the image as drawn."""

    def close(self) -> None:
        """Finalise (a playable file, whatever came before)."""


def _even(image: np.ndarray) -> np.ndarray:
    """H.264 in 4:2:0 needs even sides: repeat the last row/column when a side is odd."""
    h, w = image.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return image
    return cv2.copyMakeBorder(image, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)


def _write_errors() -> tuple[type[BaseException], ...]:
    try:
        import av

        return (OSError, av.FFmpegError)
    except ImportError:
        return (OSError,)


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc).strip().splitlines()[-1][:100]


# x264 settings for a pipeline whose model already uses every core: superfast costs 2.7 ms of CPU per
# 320x240 overlay frame against veryfast's 5.0 ms (files ~25% larger at the same CRF), and one encoder
# thread keeps x264's frame threads off the model's cores. Measured in the README's speed section.
PRESET = "superfast"
THREADS = 1


class VideoSink:
    """MP4 writer at the source fps: H.264 through PyAV (libx264) when installed, else OpenCV ``mp4v``.

    OpenCV's pip wheels cannot encode H.264, and ``mp4v`` does not play in browsers, hence PyAV first.
    Frames go to a hidden partial file of this run's own (``rtdepth.io.partial_path``), which ``close``
    finalises and renames over the target: a killed run or a full disk never replaces a previous output.
    Stale partials of killed runs are removed by the next run under the output's lock (``output_lock``).
    """

    def __init__(self, path: str | Path, fps: float, crf: int = 23, notice=print, preset: str = PRESET,
                 threads: int = THREADS) -> None:  # fmt: skip
        self.path = check_writable(path)
        self.partial = partial_path(self.path)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.crf, self.preset, self.threads = crf, preset, threads
        self.frames = 0
        self._container = self._stream = self._cv_writer = None
        try:
            import av  # noqa: F401

            self.encoder = "h264"
        except ImportError:
            self.encoder = "mp4v"
            notice("PyAV not installed: writing MPEG-4 Part 2 (mp4v), which browsers do not play; pip install av")

    def _open(self, width: int, height: int) -> None:
        if self.encoder == "h264":
            import av

            try:
                self._container = av.open(str(self.partial), mode="w")
            except (OSError, av.FFmpegError) as exc:
                raise RtdepthError(f"{self.path}: cannot create video ({exc})") from exc
            stream = self._container.add_stream("libx264", rate=self.fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.time_base = 1 / self.fps
            stream.options = {"crf": str(self.crf), "preset": self.preset}
            stream.codec_context.thread_count = self.threads
            self._stream = stream
        else:
            fourcc = cv2.VideoWriter_fourcc(*"mp4v")
            self._cv_writer = cv2.VideoWriter(str(self.partial), fourcc, float(self.fps), (width, height))
            if not self._cv_writer.isOpened():
                raise RtdepthError(f"{self.path}: cannot create video")

    def put(self, frame: Frame, depth: np.ndarray, image: np.ndarray) -> None:
        self.write(image)

    def write(self, image_bgr: np.ndarray) -> None:
        image_bgr = _even(image_bgr)
        if self._container is None and self._cv_writer is None:
            self._open(image_bgr.shape[1], image_bgr.shape[0])
        try:
            if self._stream is not None:
                import av

                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image_bgr), format="bgr24")
                frame.pts = self.frames
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
            else:
                self._cv_writer.write(image_bgr)
        except _write_errors() as exc:
            self._abandon()
            raise RtdepthError(f"{self.path}: cannot write video ({_reason(exc)}); previous file kept") from exc
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder, write the index (moov: without it an MP4 does not play) and rename into place."""
        if self._stream is None and self._cv_writer is None:
            return
        try:
            if self._stream is not None:
                for packet in self._stream.encode():
                    self._container.mux(packet)
                self._container.close()
            else:
                self._cv_writer.release()
        except _write_errors() as exc:
            self._abandon()
            raise RtdepthError(f"{self.path}: cannot finish video ({_reason(exc)}); previous file kept") from exc
        self._stream = self._container = self._cv_writer = None
        if self.frames:
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)

    def _abandon(self) -> None:
        """Drop the partial file after a write error (a full disk): the previous output stays."""
        for closer in (getattr(self._container, "close", None), getattr(self._cv_writer, "release", None)):
            try:
                if closer:
                    closer()
            except Exception:  # noqa: BLE001 - already failing; the error that matters is raised by the caller
                pass
        self._stream = self._container = self._cv_writer = None
        self.partial.unlink(missing_ok=True)

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def display_available() -> bool:
    """Whether a window can be shown. opencv-python's Qt build aborts the process without a display,
    so this must be asked before the first ``imshow``."""
    if sys.platform in ("darwin", "win32"):
        return True
    if os.environ.get("WAYLAND_DISPLAY"):
        return True
    display = os.environ.get("DISPLAY", "")
    if not display:
        return False
    if display.startswith(":"):  # local X server: its socket must exist
        number = display[1:].split(".")[0]
        return Path(f"/tmp/.X11-unix/X{number}").exists()
    return True


class WindowSink:
    """An OpenCV window; q or Esc quits, c cycles the colormap, l cycles the layout."""

    KEYS = {ord("q"): "quit", 27: "quit", ord("c"): "colormap", ord("l"): "layout"}

    def __init__(self, title: str = "rtdepth") -> None:
        if not display_available():
            raise RtdepthError("no display for a window: use --no-window (headless) or --record out.mp4")
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        self._shown = False

    def show(self, image_bgr: np.ndarray) -> str | None:
        """Show a frame; returns the action of a key pressed, if any."""
        cv2.imshow(self.title, image_bgr)
        key = cv2.waitKey(1) & 0xFF
        if self._shown and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return "quit"  # window closed with the mouse
        self._shown = True
        return self.KEYS.get(key)

    def show_and_handle(self, image_bgr: np.ndarray, view) -> bool:
        """Show a frame and act on its key: c and l change ``view`` (a Visualizer) here; returns whether to quit."""
        action = self.show(image_bgr)
        if action == "colormap":
            view.cycle_colormap()
        elif action == "layout":
            view.cycle_layout()
        return action == "quit"

    def close(self) -> None:
        cv2.destroyWindow(self.title)
        cv2.waitKey(1)


class RawDepthSink:
    """Per-frame raw depth: ``NNNNNN.png`` (16-bit mm) or ``NNNNNN.npy`` (float32 metres)."""

    def __init__(self, folder: str | Path, fmt: str = "png") -> None:
        if fmt not in ("png", "npy"):
            raise RtdepthError("--raw-format must be png or npy")
        self.folder, self.fmt = Path(folder), fmt
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RtdepthError(f"{folder}: cannot create folder ({exc.strerror})") from exc
        check_writable(self.folder / "probe")

    def put(self, frame: Frame, depth: np.ndarray, image: np.ndarray) -> None:
        save_depth(self.folder / f"{frame.index:06d}.{self.fmt}", depth)

    def close(self) -> None:
        """Each file was complete when written."""


class PointCloudSink:
    """Binary PLY point clouds (x, y, z in metres, colour) every ``every`` frames.

    Intrinsics are in pixels of the frame (or ``fov``, horizontal degrees); when not given, the documented
    default camera (``rtdepth.camera.DEFAULT_FX_RATIO``, principal point at the centre).
    """

    def __init__(self, folder: str | Path, every: int = 1, intrinsics: tuple[float | None, ...] = (None,) * 4,
                 stride: int = 2, fov: float | None = None) -> None:  # fmt: skip
        self.folder, self.every, self.intrinsics, self.stride = Path(folder), max(1, every), intrinsics, stride
        self.fov = fov
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RtdepthError(f"{folder}: cannot create folder ({exc.strerror})") from exc
        check_writable(self.folder / "probe")

    def put(self, frame: Frame, depth: np.ndarray, image: np.ndarray) -> None:
        self.write(frame.index, depth, frame.image)

    def close(self) -> None:
        """Each file was complete when written."""

    def write(self, index: int, depth: np.ndarray, frame_bgr: np.ndarray) -> None:
        if index % self.every:
            return
        h, w = depth.shape
        fx, fy, cx, cy = self.intrinsics
        fx = fx or (camera_for(w, h, None, self.fov) or Intrinsics.default(w, h)).fx
        fy, cx, cy = fy or fx, cx if cx is not None else (w - 1) / 2, cy if cy is not None else (h - 1) / 2
        s = self.stride
        v, u = np.mgrid[0:h:s, 0:w:s]
        z = depth[::s, ::s]
        pts = np.empty(z.size, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
        pts["x"] = ((u - cx) * z / fx).ravel()
        pts["y"] = ((v - cy) * z / fy).ravel()
        pts["z"] = z.ravel()
        rgb = frame_bgr[::s, ::s].reshape(-1, 3)
        pts["red"], pts["green"], pts["blue"] = rgb[:, 2], rgb[:, 1], rgb[:, 0]
        header = (
            "ply\nformat binary_little_endian 1.0\n"
            f"element vertex {z.size}\n"
            "property float x\nproperty float y\nproperty float z\n"
            "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
        )
        path = self.folder / f"{index:06d}.ply"
        try:
            atomic_write_bytes(path, header.encode() + pts.tobytes())
        except OSError as exc:
            raise RtdepthError(f"{path}: cannot write ({exc.strerror or exc})") from exc
