"""The one parser for frame sizes written ``WxH`` (``320x240``), used by every command and by training, and the
defaults every part shares: the training size and the depth range a model's head spans."""

from __future__ import annotations

from rtdepth.errors import RtdepthError

TRAINING_SIZE = (320, 240)  # (width, height): the paper's training size, every model's default and every check's
DEPTH_RANGE = (0.1, 10.0)  # metres a model's output spans unless its weights say otherwise (their header does)
MAX_SIDE = 8192  # larger frames are a typo, not a camera: refuse before allocating gigabytes


def parse_size(text: str, option: str = "--size") -> tuple[int, int]:
    """'320x240' -> (320, 240); a clear one-line error for anything else."""
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise RtdepthError(f"{option} must look like 320x240, got {text!r}") from None
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        raise RtdepthError(f"{option} {text}: each side must be 1..{MAX_SIDE}")
    return w, h
