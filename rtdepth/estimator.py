"""DepthEstimator: frames of any size and format in, metric depth at frame size out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .backends import Backend
from .checkpoint import WeightsInfo
from .preprocess import inference_size, resize_depth, resize_rgb, to_rgb8


class DepthEstimator:
    """Wraps a backend with the frame handling every caller needs.

    ``size`` (width, height) is the inference resolution; default the size the model was trained at.
    Frames are BGR (OpenCV) unless ``color="rgb"``.
    """

    def __init__(self, backend: Backend, info: WeightsInfo, size: tuple[int, int] | None = None) -> None:
        self.backend = backend
        self.info = info
        self.size = tuple(size) if size else tuple(info.input_size)

    @classmethod
    def from_weights(
        cls,
        weights: str | Path | None = None,
        backend: str = "auto",
        device: str = "auto",
        size: tuple[int, int] | None = None,
        precision: str | None = None,
    ) -> DepthEstimator:
        """Open weights (None: the bundled default) on the chosen backend and device."""
        from .runtime import open_backend

        be, info = open_backend(weights, backend, device, precision)
        return cls(be, info, size)

    def model_size_for(self, frame_wh: tuple[int, int]) -> tuple[int, int]:
        """Inference size for frames of this size (keeps their aspect ratio)."""
        return inference_size(frame_wh, self.size)

    def prepare(self, frame: np.ndarray, color: str = "bgr") -> np.ndarray:
        """Frame -> uint8 RGB at the inference size."""
        rgb = to_rgb8(frame, color)
        return resize_rgb(rgb, self.model_size_for((rgb.shape[1], rgb.shape[0])))

    def predict(self, frame: np.ndarray, color: str = "bgr") -> np.ndarray:
        """One frame -> H x W float32 depth in metres, at the frame's size."""
        return self.predict_batch([frame], color)[0]

    def predict_batch(self, frames: Sequence[np.ndarray], color: str = "bgr") -> list[np.ndarray]:
        """Frames of one size -> depth maps at that size."""
        batch = np.stack([self.prepare(f, color) for f in frames])
        depth = self.backend.infer(batch)
        return [resize_depth(d, (f.shape[1], f.shape[0])) for d, f in zip(depth, frames)]

    def describe(self) -> str:
        """Short label for HUDs and logs."""
        be = self.backend
        return f"{self.info.model} {be.name}/{be.device}/{be.precision} {self.size[0]}x{self.size[1]}"
