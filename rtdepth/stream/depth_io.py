"""Writing depth maps: 16-bit PNG in millimetres (what RGB-D tools read) or float32 .npy in metres."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rtdepth.errors import RtdepthError


def save_depth(path: str | Path, depth: np.ndarray) -> Path:
    """Save metres as ``.png`` (uint16 mm, clipped to 65.535 m) or ``.npy`` (float32 metres)."""
    path = Path(path)
    if path.suffix == ".npy":
        np.save(path, depth.astype(np.float32))
        return path
    if path.suffix != ".png":
        raise RtdepthError(f"{path}: raw depth must be .png (16-bit mm) or .npy")
    mm = np.clip(np.round(depth * 1000.0), 0, 65535).astype(np.uint16)
    if not cv2.imwrite(str(path), mm):
        raise RtdepthError(f"{path}: cannot write")
    return path


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """cv2.imwrite with a clear error instead of a silent False."""
    path = Path(path)
    if not path.parent.is_dir():
        raise RtdepthError(f"{path}: folder {path.parent} does not exist")
    try:
        ok = cv2.imwrite(str(path), image)
    except cv2.error as exc:
        raise RtdepthError(f"{path}: cannot write image ({str(exc).strip().splitlines()[-1][:80]})") from exc
    if not ok:
        raise RtdepthError(f"{path}: cannot write image (unwritable path or unknown extension)")
    return path
