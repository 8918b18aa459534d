"""Frame conversion and sizing: any decoded frame -> uint8 RGB at the inference size."""

from __future__ import annotations

import cv2
import numpy as np

from rtdepth.errors import RtdepthError


def to_rgb8(frame: np.ndarray, color: str = "bgr") -> np.ndarray:
    """Convert grayscale, 16-bit, float or 4-channel frames to H x W x 3 uint8 RGB.

    ``color`` says the channel order of 3/4-channel input: ``bgr`` (OpenCV) or ``rgb``.
    """
    if frame is None or frame.ndim not in (2, 3) or frame.size == 0:
        raise RtdepthError(f"not an image: shape {getattr(frame, 'shape', None)}")
    if frame.dtype == np.uint16:
        frame = (frame >> 8).astype(np.uint8)
    elif frame.dtype != np.uint8:
        f = frame.astype(np.float32)
        scale = 255.0 if f.max(initial=0) <= 1.0 else 1.0
        frame = np.clip(f * scale, 0, 255).astype(np.uint8)
    if frame.ndim == 2 or frame.shape[2] == 1:
        return cv2.cvtColor(frame.reshape(frame.shape[:2]), cv2.COLOR_GRAY2RGB)
    channels = frame.shape[2]
    if channels == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB if color == "bgr" else cv2.COLOR_RGBA2RGB)
    if channels != 3:
        raise RtdepthError(f"unsupported frame with {channels} channels")
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if color == "bgr" else np.ascontiguousarray(frame)


def scaled_size(wh: tuple[int, int], scale: float, multiple: int = 8) -> tuple[int, int]:
    """(width, height) times ``scale``, each side rounded to ``multiple`` and at least one ``multiple``."""
    return tuple(max(multiple, round(side * scale / multiple) * multiple) for side in wh)


def inference_size(frame_wh: tuple[int, int], target_wh: tuple[int, int], multiple: int = 8) -> tuple[int, int]:
    """Size to run the model at: ``target`` when the aspect ratio matches (within 5%), else the frame's
    aspect ratio at the target's pixel count, rounded to ``multiple`` (so wide frames are not squashed)."""
    fw, fh = frame_wh
    tw, th = target_wh
    if abs((fw / fh) / (tw / th) - 1) <= 0.05:
        return target_wh
    return scaled_size(frame_wh, ((tw * th) / (fw * fh)) ** 0.5, multiple)


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (width, height); area filter when shrinking avoids aliasing."""
    h, w = rgb.shape[:2]
    if (w, h) == tuple(size):
        return rgb
    interp = cv2.INTER_AREA if size[0] < w else cv2.INTER_LINEAR
    return cv2.resize(rgb, tuple(size), interpolation=interp)


def resize_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a depth map back to frame size (bilinear: predictions have no invalid pixels)."""
    h, w = depth.shape[:2]
    if (w, h) == tuple(size):
        return depth
    return cv2.resize(depth, tuple(size), interpolation=cv2.INTER_LINEAR)


def to_bgr8(frame: np.ndarray, color: str = "bgr") -> np.ndarray:
    """The frame as H x W x 3 uint8 BGR for drawing (no copy when it already is)."""
    if frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3 and color == "bgr":
        return frame
    return cv2.cvtColor(to_rgb8(frame, color), cv2.COLOR_RGB2BGR)
