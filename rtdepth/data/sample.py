"""What every RGB-D reader yields: one aligned pair, RGB uint8 and depth in metres (0 = no measurement)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class Sample:
    """One aligned RGB-D pair."""

    rgb: np.ndarray  # H x W x 3 uint8, RGB order
    depth: np.ndarray  # H x W float32 metres, 0 = invalid


class RGBDDataset(Protocol):
    """What every reader provides."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> Sample: ...
