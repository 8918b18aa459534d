"""What every RGB-D reader yields: one aligned pair, RGB uint8 and depth in metres (0 = no measurement)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from rtdepth.camera import Intrinsics


@dataclass
class Sample:
    """One aligned RGB-D pair."""

    rgb: np.ndarray  # H x W x 3 uint8, RGB order
    depth: np.ndarray  # H x W float32 metres, 0 = invalid
    camera: Intrinsics | None = None  # at this sample's size; None when the reader does not know it


class RGBDDataset(Protocol):
    """What every reader provides."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> Sample: ...
