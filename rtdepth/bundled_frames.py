"""The bundled held-out real frames: used to verify exports and engines, and as the default texture photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rtdepth.checkpoint import ASSETS

SAMPLES = ASSETS / "samples"


def sample_paths() -> list[Path]:
    """Paths of the bundled sample frames."""
    return sorted(SAMPLES.glob("*.jpg"))


def sample_frames() -> list[np.ndarray]:
    """The bundled sample frames (BGR)."""
    frames = [cv2.imread(str(p)) for p in sample_paths()]
    return [f for f in frames if f is not None]
