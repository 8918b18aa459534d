"""DepthEstimator: frames of any size and format in, metric depth at frame size out.

It owns the frame path, in three timed stages (as a detector's predictor times preprocess,
inference and postprocess): ``prepare`` (any frame -> uint8 RGB batch at the inference size),
``infer`` (the backend) and ``finish`` (depth back at each frame's size). Callers, the streaming
pipeline included, use these stages and never reach into the backend.

With ``flip`` (the default) ``infer`` also runs the mirrored frames in the same batch and averages the
two predictions, mirrored back: a better estimate for twice the model time (measured in the README's
model card). The streaming commands turn it off to keep the frame rate.

With ``multi_size`` (off by default; ``image`` and ``eval`` offer it) still images are also predicted at 0.8x
the inference size and the two depths averaged geometrically: the model reads scale partly from how large
things look in pixels, and the smaller view sees more of the room per receptive field. On seven real sources
it raised median-scaled delta1 by 0.028 (0.018 over the four of 10+ frames; metres unchanged there), for
1.35-1.8x the time of one size on a 2-core CPU (model card).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rtdepth.camera import Intrinsics, camera_for
from rtdepth.checkpoint import WeightsInfo
from rtdepth.runtime.backends import Backend
from rtdepth.runtime.preprocess import inference_size, resize_depth, resize_rgb, scaled_size, to_rgb8
from rtdepth.stream.timing import StageTimer

SECOND_SIZE = 0.8  # multi_size's second view, as a fraction of the inference size's sides (256x192 for 320x240)


class DepthEstimator:
    """Wraps a backend with the frame handling every caller needs.

    ``size`` (width, height) is the inference resolution; default the size the model was trained at.
    Frames are BGR (OpenCV) unless ``color="rgb"``. ``timer`` collects the stage durations. ``flip``
    averages each prediction with the mirrored frame's (twice the model time); ``multi_size`` also predicts
    ``predict``'s frames at 0.8x the size and averages the two (0.64x more pixels to run).
    """

    def __init__(self, backend: Backend, info: WeightsInfo, size: tuple[int, int] | None = None, flip: bool = True,
                 fx: float | None = None, fov: float | None = None, multi_size: bool = False) -> None:  # fmt: skip
        self._backend = backend
        self.info = info
        self.size = tuple(size) if size else tuple(info.input_size)
        self.flip = flip
        self.multi_size = multi_size
        self.timer = StageTimer()
        self.fx, self.fov = fx, fov  # the camera, when the caller knows it: fx in pixels of the frame, or its FOV
        if fx is not None or fov is not None:
            camera_for(64, 48, fx, fov)  # bad values fail here, in one line

    @property
    def canonical(self) -> float | None:
        """The focal length (as a fraction of the width) of the canonical camera these weights predict for;
        None for weights that predict metres directly."""
        ratio = self.info.camera.get("canonical_fx_ratio") if self.info.camera else None
        return float(ratio) if ratio else None

    def camera_for(self, width: int, height: int, camera: Intrinsics | None = None) -> Intrinsics:
        """The camera of a frame: the one given, else the estimator's --fx / --fov, else the documented default."""
        return camera or camera_for(width, height, self.fx, self.fov) or Intrinsics.default(width, height)

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
        fx: float | None = None,
        fov: float | None = None,
        multi_size: bool = False,
    ) -> DepthEstimator:
        """Open weights (None: the bundled default) on the chosen backend and device; ``onnx_output``
        (metres or inverse) is needed only for a third-party ONNX file; ``flip=False`` for frame rate;
        ``engines_dir`` is the engine cache to look in (default: ``$RTDEPTH_ENGINES`` or the user cache);
        ``fx`` (pixels of the frame) or ``fov`` (horizontal degrees) name the camera when known; ``multi_size``
        for still images (see the module's docstring)."""
        from rtdepth.runtime.open import open_backend

        folder = Path(engines_dir) if engines_dir is not None else None
        be, info = open_backend(weights, backend, device, precision, size, onnx_output, busy_wait, folder)
        return cls(be, info, size, flip, fx, fov, multi_size)

    def with_flip(self, flip: bool, multi_size: bool | None = None) -> DepthEstimator:
        """The same model (backend shared, nothing reloaded) with flip averaging on or off, and ``multi_size`` set
        (None: as it is): a server streams without them and answers still images with them."""
        multi_size = self.multi_size if multi_size is None else multi_size
        if flip == self.flip and multi_size == self.multi_size:
            return self
        return DepthEstimator(self._backend, self.info, self.size, flip, self.fx, self.fov, multi_size)

    @property
    def backend_name(self) -> str:
        return self._backend.name

    @property
    def device(self) -> str:
        return self._backend.device

    @property
    def precision(self) -> str:
        return self._backend.precision

    def model_size_for(self, frame_wh: tuple[int, int], scale: float = 1.0) -> tuple[int, int]:
        """Inference size for frames of this size (keeps their aspect ratio); ``scale`` shrinks the sides."""
        size = inference_size(frame_wh, self.size)
        return size if scale == 1 else scaled_size(size, scale)

    def prepare(self, frames: Sequence[np.ndarray], color: str = "bgr", scale: float = 1.0) -> np.ndarray:
        """Frames of one size -> N x h x w x 3 uint8 RGB at the inference size (times ``scale``)."""
        with self.timer.time("prepare"):
            rgb = [to_rgb8(f, color) for f in frames]
            size = self.model_size_for((rgb[0].shape[1], rgb[0].shape[0]), scale)
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

    def predict(self, frame: np.ndarray, color: str = "bgr", camera: Intrinsics | None = None) -> np.ndarray:
        """One frame -> H x W float32 depth in metres, at the frame's size; ``camera`` (its intrinsics) turns
        a canonical-camera model's output into metres (else the estimator's --fx / --fov or the default)."""
        return self.predict_batch([frame], color, camera)[0]

    def predict_batch(self, frames: Sequence[np.ndarray], color: str = "bgr",
                      camera: Intrinsics | None = None) -> list[np.ndarray]:  # fmt: skip
        """Frames of one size -> depth maps at that size."""
        sizes = [(f.shape[1], f.shape[0]) for f in frames]
        out = self.finish(self.infer(self.prepare(frames, color)), sizes)
        if self.multi_size:
            second = self.finish(self.infer(self.prepare(frames, color, SECOND_SIZE)), sizes)
            out = [np.sqrt(a * b) for a, b in zip(out, second)]
        if self.canonical is not None:  # canonical camera -> this camera: depth scales with the focal length
            h, w = frames[0].shape[:2]
            scale = np.float32(self.camera_for(w, h, camera).fx_ratio / self.canonical)
            out = [d * scale for d in out]
        return out

    def describe(self) -> str:
        """Short label for HUDs and logs."""
        be = self._backend
        extras = (" +flip" if self.flip else "") + (" +0.8x size" if self.multi_size else "")
        return f"{self.info.model} {be.name}/{be.device}/{be.precision} {self.size[0]}x{self.size[1]}{extras}"
