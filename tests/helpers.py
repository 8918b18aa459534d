"""Helpers shared by test modules (conftest is for fixtures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_clip(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """Write a real H.264 MP4 with PyAV."""
    from rtdepth.sinks import VideoSink

    with VideoSink(path, fps) as sink:
        for f in frames:
            sink.write(f)
    return path
