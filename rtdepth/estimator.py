"""DepthEstimator: frames of any size and format in, metric depth at frame size out.

It owns the frame path, in three timed stages (as a detector's predictor times preprocess,
inference and postprocess): ``prepare`` (any frame -> uint8 RGB batch at the inference size),
``infer`` (the backend) and ``finish`` (depth back at each frame's size). Callers, the streaming
pipeline included, use these stages and never reach into the backend.

With ``flip`` (the default) ``infer`` also runs the mirrored frames in the same batch and averages the
two predictions, mirrored back: a better estimate for twice the model time (measured in the README's
model card). The streaming commands turn it off to keep the frame rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rtdepth.checkpoint import WeightsInfo
from rtdepth.runtime.backends import Backend
from rtdepth.runtime.preprocess import inference_size, resize_depth, resize_rgb, to_rgb8
from rtdepth.stream.timing import StageTimer


class DepthEstimator:
    """Wraps a backend with the frame handling every caller needs.

    ``size`` (width, height) is the inference resolution; default the size the model was trained at.
    Frames are BGR (OpenCV) unless ``color="rgb"``. ``timer`` collects the stage durations. ``flip``
    averages each prediction with the mirrored frame's (twice the model time).
    """

    def __init__(self, backend: Backend, info: WeightsInfo, size: tuple[int, int] | None = None, flip: bool = True) -> None:
        self._backend = backend
        self.info = info
        self.size = tuple(size) if size else tuple(info.input_size)
        self.flip = flip
        self.timer = StageTimer()

    @classmethod
    def from_weights(
        cls,
        weights: str | Path | None = None,
        backend: str = "auto",
        device: str = "auto",
        size: tuple[int, int] | None = None,
        precision: str | None = None,
        onnx_output: str | None = None,
        busy_wait: bool = True,
        flip: bool = True,
        engines_dir: str | Path | None = None,
    ) -> DepthEstimator:
        """Open weights (None: the bundled default) on the chosen backend and device; ``onnx_output``
        (metres or inverse) is needed only for a third-party ONNX file; ``flip=False`` for frame rate;
        ``engines_dir`` is the engine cache to look in (default: ``$RTDEPTH_ENGINES`` or the user cache)."""
        from rtdepth.runtime.open import open_backend

        folder = Path(engines_dir) if engines_dir is not None else None
        be, info = open_backend(weights, backend, device, precision, size, onnx_output, busy_wait, folder)
        return cls(be, info, size, flip)

    def with_flip(self, flip: bool) -> DepthEstimator:
        """The same model (backend shared, nothing reloaded) with flip averaging on or off: a server
        streams without it and answers still images with it."""
        return self if flip == self.flip else DepthEstimator(self._backend, self.info, self.size, flip)

    @property
    def backend_name(self) -> str:
        return self._backend.name

    @property
    def device(self) -> str:
        return self._backend.device

    @property
    def precision(self) -> str:
        return self._backend.precision

    def model_size_for(self, frame_wh: tuple[int, int]) -> tuple[int, int]:
        """Inference size for frames of this size (keeps their aspect ratio)."""
        return inference_size(frame_wh, self.size)

    def prepare(self, frames: Sequence[np.ndarray], color: str = "bgr") -> np.ndarray:
        """Frames of one size -> N x h x w x 3 uint8 RGB at the inference size."""
        with self.timer.time("prepare"):
            rgb = [to_rgb8(f, color) for f in frames]
            size = self.model_size_for((rgb[0].shape[1], rgb[0].shape[0]))
            return np.stack([resize_rgb(r, size) for r in rgb])

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Prepared batch -> N x h x w depth (metres) at the inference size."""
        with self.timer.time("infer"):
            if not self.flip:
                return self._backend.infer(batch)
            n = len(batch)
            both = self._backend.infer(np.concatenate([batch, batch[:, :, ::-1]]))
            return (both[:n] + both[n:, :, ::-1]) * np.float32(0.5)

    def finish(self, depth: np.ndarray, frame_sizes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
        """Depth maps back at each frame's (width, height)."""
        with self.timer.time("finish"):
            return [resize_depth(d, wh) for d, wh in zip(depth, frame_sizes)]

    def predict(self, frame: np.ndarray, color: str = "bgr") -> np.ndarray:
        """One frame -> H x W float32 depth in metres, at the frame's size."""
        return self.predict_batch([frame], color)[0]

    def predict_batch(self, frames: Sequence[np.ndarray], color: str = "bgr") -> list[np.ndarray]:
        """Frames of one size -> depth maps at that size."""
        depth = self.infer(self.prepare(frames, color))
        return self.finish(depth, [(f.shape[1], f.shape[0]) for f in frames])

    def describe(self) -> str:
        """Short label for HUDs and logs."""
        be = self._backend
        flip = " +flip" if self.flip else ""
        return f"{self.info.model} {be.name}/{be.device}/{be.precision} {self.size[0]}x{self.size[1]}{flip}"
