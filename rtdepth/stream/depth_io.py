"""Writing depth maps: 16-bit PNG in millimetres (what RGB-D tools read) or float32 .npy in metres."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

from rtdepth.errors import RtdepthError
from rtdepth.io import atomic_write_bytes


def save_depth(path: str | Path, depth: np.ndarray) -> Path:
    """Save metres as ``.png`` (uint16 mm, clipped to 65.535 m) or ``.npy`` (float32 metres), atomically."""
    path = Path(path)
    if path.suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, depth.astype(np.float32))
        return write_bytes(path, buf.getvalue())
    if path.suffix != ".png":
        raise RtdepthError(f"{path}: raw depth must be .png (16-bit mm) or .npy")
    return write_image(path, depth_to_mm16(depth))


def depth_to_mm16(depth: np.ndarray) -> np.ndarray:
    """Metres -> uint16 millimetres (clipped to 65.535 m), what RGB-D tools read from a 16-bit PNG."""
    return np.clip(np.round(depth * 1000.0), 0, 65535).astype(np.uint16)


def write_image(path: str | Path, image: np.ndarray, params: list[int] | None = None) -> Path:
    """Encode by the file's extension and write it atomically; a clear error instead of a silent False."""
    path = Path(path)
    if not path.parent.is_dir():
        raise RtdepthError(f"{path}: folder {path.parent} does not exist")
    try:
        ok, buf = cv2.imencode(path.suffix, image, params or [])
    except cv2.error as exc:
        raise RtdepthError(f"{path}: cannot write image ({str(exc).strip().splitlines()[-1][:80]})") from exc
    if not ok:
        raise RtdepthError(f"{path}: cannot write image (unknown extension)")
    return write_bytes(path, buf.tobytes())


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write encoded bytes (an image already compressed) atomically; a clear error when the disk says no."""
    path = Path(path)
    if not path.parent.is_dir():
        raise RtdepthError(f"{path}: folder {path.parent} does not exist")
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise RtdepthError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    return path
