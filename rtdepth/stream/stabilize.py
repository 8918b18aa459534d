"""Steady metres in a stream: a temporal stabiliser for per-frame depth.

A single-image model re-estimates the whole scene every frame, so on a static shot its output shimmers
(2-3% per pixel, most of it the whole frame's scale jumping). Two steps remove most of it without smearing
what moves:
1. Scale: each frame's scale is pulled towards the running estimate, measured robustly (a median ratio) on
   pixels whose image did not change; only part of the gap is closed each frame, so a real change of scale
   (walking towards a wall) is followed within a few frames and no error is ever locked in.
2. Pixels: where the image did not change, depth is blended with the running estimate (an exponential
   average); where it changed, the new frame's depth is taken as it is (motion gate). A change of 4 grey
   levels after the blur counts as motion, so a slowly moving camera is followed rather than averaged; sensor
   noise of sigma 2 levels stays within 2 at 99% of pixels, while at sigma 8 a tenth of them pass 4 and are
   not averaged (measured on a realcheck frame). The running estimate keeps its full weight while a pixel's depth
   stays within the network's own frame-to-frame noise (a few percent) and loses it as the change grows.
A scene cut (most pixels changed, or the median depth jumped) starts again from the new frame. Single images
are never stabilised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class TemporalStabilizer:
    """``__call__(frame_bgr, depth) -> depth``: call once per frame of one stream, in order."""

    keep: float = 0.9  # weight of the running estimate on pixels that did not change
    scale_keep: float = 0.8  # share of the scale gap closed towards the running estimate each frame
    motion_levels: float = 4.0  # grey-level change (after a 5x5 blur) that counts as motion
    cut_share: float = 0.6  # more than this share of moving pixels, or a median jump of 50%: a new scene
    noise_change: float = 0.05  # relative depth change (after scale alignment) still taken for the network's noise
    depth_change: float = 0.25  # relative depth change at which the running estimate stops counting
    _grey: np.ndarray | None = field(default=None, init=False, repr=False)
    _depth: np.ndarray | None = field(default=None, init=False, repr=False)

    def reset(self) -> None:
        """Forget the running estimate (a new scene, a new source)."""
        self._grey = self._depth = None

    def __call__(self, frame_bgr: np.ndarray, depth: np.ndarray) -> np.ndarray:
        grey = _small_grey(frame_bgr, depth.shape)
        depth = depth.astype(np.float32, copy=False)
        if self._depth is None or self._depth.shape != depth.shape:
            return self._start(grey, depth)
        still = cv2.absdiff(grey, self._grey) < self.motion_levels
        if still.mean() < 1.0 - self.cut_share:
            return self._start(grey, depth)
        sample = still[::4, ::4]
        prev, cur = self._depth[::4, ::4][sample], depth[::4, ::4][sample]
        ok = (prev > 0) & (cur > 0)
        if ok.sum() < 64:
            return self._start(grey, depth)
        ratio = float(np.median(prev[ok] / cur[ok]))
        if not 0.67 < ratio < 1.5:  # the median depth jumped: another scene
            return self._start(grey, depth)
        aligned = depth * np.float32(ratio**self.scale_keep)
        # The running estimate's weight is full within the network's noise and falls off beyond it: noise is
        # averaged away, slow camera motion that the image barely shows is followed at once.
        change = cv2.absdiff(aligned, self._depth) / np.maximum(self._depth, 1e-6)
        ramp = (self.depth_change - change) / np.float32(self.depth_change - self.noise_change)
        weight = np.clip(ramp, 0.0, 1.0) * np.float32(self.keep) * still
        out = (aligned + weight * (self._depth - aligned)).astype(np.float32, copy=False)
        self._grey, self._depth = grey, out
        return out

    def _start(self, grey: np.ndarray, depth: np.ndarray) -> np.ndarray:
        self._grey, self._depth = grey, depth
        return depth


def _small_grey(frame_bgr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The frame as blurred grey at the depth map's size (noise of a few levels is not motion)."""
    frame = frame_bgr
    if frame.dtype != np.uint8:  # 16-bit or float frames: their own range, as 8 bits
        frame = cv2.convertScaleAbs(frame, alpha=255.0 / max(float(frame.max()), 1))
    grey = frame if frame.ndim == 2 else cv2.cvtColor(frame[..., :3], cv2.COLOR_BGR2GRAY)
    if grey.shape != shape[:2]:
        grey = cv2.resize(grey, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(grey, (5, 5), 0).astype(np.float32)
