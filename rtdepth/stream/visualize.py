"""Depth -> colours: stable normalisers, colormaps, layouts (overlay, side-by-side, depth) and the HUD.

Live colour never stretches each frame to its own min-max (that flickers as objects move): the
default is a fixed metric range, or an exponential moving average of robust percentiles that
resets on a scene cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from rtdepth.errors import RtdepthError

COLORMAPS = {
    "turbo": cv2.COLORMAP_TURBO,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "plasma": cv2.COLORMAP_PLASMA,
    "gray": None,
}
LAYOUTS = ("overlay", "side-by-side", "depth")


class FixedRange:
    """Map a fixed metric range [near, far] to [1, 0] (near is bright/warm)."""

    def __init__(self, near: float = 0.5, far: float = 6.0) -> None:
        if not (math.isfinite(near) and math.isfinite(far) and 0 <= near < far):
            raise RtdepthError(f"--range needs finite 0 <= near < far, got {near} {far}")
        self.near, self.far = float(near), float(far)

    def __call__(self, depth: np.ndarray) -> np.ndarray:
        return np.clip((self.far - depth) / (self.far - self.near), 0.0, 1.0)

    def reset(self) -> None:
        """Nothing to forget."""

    def span(self) -> tuple[float, float] | None:
        """The metric range the colours stand for now."""
        return self.near, self.far


@dataclass
class EmaPercentiles:
    """Range from the 2nd/98th percentiles, smoothed over frames; a jump beyond ``cut`` resets it.

    ``cut`` is the relative change of the median depth that counts as a new scene.
    """

    momentum: float = 0.9
    low: float = 2.0
    high: float = 98.0
    cut: float = 0.5
    _range: tuple[float, float] | None = field(default=None, init=False)
    _median: float | None = field(default=None, init=False)

    def __call__(self, depth: np.ndarray) -> np.ndarray:
        sample = depth[::4, ::4]
        lo, med, hi = (float(v) for v in np.percentile(sample, (self.low, 50, self.high)))
        if self._median is not None and abs(med - self._median) > self.cut * max(self._median, 1e-6):
            self.reset()
        if self._range is None:
            self._range = (lo, hi)
        else:
            m = self.momentum
            self._range = (m * self._range[0] + (1 - m) * lo, m * self._range[1] + (1 - m) * hi)
        self._median = med
        near, far = self._range
        return np.clip((far - depth) / max(far - near, 1e-6), 0.0, 1.0)

    def reset(self) -> None:
        self._range, self._median = None, None

    def span(self) -> tuple[float, float] | None:
        """The metric range the colours stand for now (None before the first frame)."""
        return self._range


def make_normalizer(range_: tuple[float, float] | None) -> FixedRange | EmaPercentiles:
    """A fixed range when given, else the adaptive EMA of percentiles."""
    return FixedRange(*range_) if range_ else EmaPercentiles()


def colorize(unit: np.ndarray, colormap: str = "turbo") -> np.ndarray:
    """[0,1] map -> H x W x 3 uint8 BGR."""
    if colormap not in COLORMAPS:
        raise RtdepthError(f"unknown colormap {colormap!r}; use one of {', '.join(COLORMAPS)}")
    grey = (unit * 255).astype(np.uint8)
    cmap = COLORMAPS[colormap]
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR) if cmap is None else cv2.applyColorMap(grey, cmap)


def compose(frame_bgr: np.ndarray, depth_bgr: np.ndarray, layout: str = "overlay", alpha: float = 0.6) -> np.ndarray:
    """Combine a frame and its colour depth: ``overlay`` (blend), ``side-by-side`` or ``depth`` only."""
    if layout == "depth":
        return depth_bgr
    if layout == "overlay":
        return cv2.addWeighted(depth_bgr, alpha, frame_bgr, 1.0 - alpha, 0.0)
    if layout == "side-by-side":
        return np.hstack([frame_bgr, depth_bgr])
    raise RtdepthError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")


def draw_legend(image: np.ndarray, span: tuple[float, float] | None, colormap: str) -> np.ndarray:
    """A colour bar in metres on the right edge (near at the top), so a reader knows what a colour means."""
    if span is None:
        return image
    near, far = span
    h, w = image.shape[:2]
    bar_h, bar_w = max(32, int(h * 0.6)), max(8, w // 40)
    scale = max(0.3, h / 1000)
    label_w = cv2.getTextSize(f"{far:.1f} m", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0]
    x1 = w - 6 - label_w - 4
    x0, y0 = x1 - bar_w, (h - bar_h) // 2
    if x0 < 0:
        return image
    unit = np.linspace(1.0, 0.0, bar_h, dtype=np.float32)[:, None].repeat(bar_w, 1)
    image[y0 : y0 + bar_h, x0:x1] = colorize(unit, colormap)
    cv2.rectangle(image, (x0 - 1, y0 - 1), (x1, y0 + bar_h), (255, 255, 255), 1)
    for frac in (0.0, 0.5, 1.0):
        y = y0 + int(frac * (bar_h - 1))
        metres = near + frac * (far - near)
        org = (x1 + 4, min(h - 3, max(12, y + 4)))
        cv2.putText(image, f"{metres:.1f} m", org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(image, f"{metres:.1f} m", org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def draw_hud(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """Text lines at the top-left on a dark band, scaled to the image height. Draws in place."""
    scale = max(0.35, image.shape[0] / 900)
    thick = 1 if scale < 0.8 else 2
    step = int(22 * scale / 0.6)
    width = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)[0][0] for t in lines) + 12
    band = image[: step * len(lines) + 8, :width]
    band[:] = (band * 0.4).astype(np.uint8)
    for i, text in enumerate(lines):
        org = (6, step * (i + 1))
        cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return image


@dataclass
class Visualizer:
    """Normaliser + colormap + layout: the whole depth -> picture step, with settings that can cycle."""

    colormap: str = "turbo"
    layout: str = "overlay"
    alpha: float = 0.6
    range_: tuple[float, float] | None = None
    legend: bool = False  # a colour bar in metres on the right edge
    normalizer: FixedRange | EmaPercentiles = field(init=False)

    def __post_init__(self) -> None:
        if self.colormap not in COLORMAPS:
            raise RtdepthError(f"unknown colormap {self.colormap!r}; use one of {', '.join(COLORMAPS)}")
        if self.layout not in LAYOUTS:
            raise RtdepthError(f"unknown layout {self.layout!r}; use one of {', '.join(LAYOUTS)}")
        if not 0.0 <= self.alpha <= 1.0:
            raise RtdepthError("--alpha must be within 0..1")
        self.normalizer = make_normalizer(self.range_)

    def render(self, frame_bgr: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Frame (BGR) + depth (metres, frame size) -> output image (BGR)."""
        image = compose(frame_bgr, colorize(self.normalizer(depth), self.colormap), self.layout, self.alpha)
        return draw_legend(image, self.normalizer.span(), self.colormap) if self.legend else image

    def cycle_colormap(self) -> None:
        names = list(COLORMAPS)
        self.colormap = names[(names.index(self.colormap) + 1) % len(names)]

    def cycle_layout(self) -> None:
        self.layout = LAYOUTS[(LAYOUTS.index(self.layout) + 1) % len(LAYOUTS)]
