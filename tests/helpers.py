"""Helpers shared by test modules (conftest is for fixtures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_clip(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """Write a real H.264 MP4 with PyAV."""
    from rtdepth.stream.sinks import VideoSink

    with VideoSink(path, fps) as sink:
        for f in frames:
            sink.write(f)
    return path


def tum_rgb(folder: Path, i: int) -> Path:
    """The i-th RGB frame of a TUM-layout folder (cycling, so any index works on the 16-frame fixture)."""
    frames = sorted((folder / "rgb").glob("*.jpg"))
    return frames[i % len(frames)]


def tum_depth(folder: Path, i: int) -> Path:
    """The depth PNG that pairs with ``tum_rgb(folder, i)``."""
    return folder / "depth" / f"{tum_rgb(folder, i).stem}.png"
