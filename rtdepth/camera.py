"""The camera behind a frame: pinhole intrinsics that travel with samples and frames, and what to assume
when nothing says.

Focal lengths are in pixels of the image they belong to; resizing or cropping an image changes them, so
every resize and crop goes through ``scaled`` / ``cropped``. A model trained in canonical camera space
(Metric3D's idea: depth as a camera of one canonical focal length would see it) turns its output into metres
with the true focal length: ``depth = prediction * (fx / width) / canonical_fx_ratio``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

from rtdepth.errors import RtdepthError

# What is assumed when nothing tells the camera: fx = 0.82 x width, a 62.7 degree horizontal field of view,
# a Kinect or a typical webcam (TUM RGB-D fr1: 517 px at 640 wide = 0.81).
DEFAULT_FX_RATIO = 0.82
FOV_RANGE = (10.0, 170.0)

# Colour intrinsics of known sensors at 640 x 480 (TUM RGB-D per sequence family; NYU Depth V2's Kinect).
TUM_640 = {"freiburg1": (517.3, 516.5, 318.6, 255.3), "freiburg2": (520.9, 521.0, 325.1, 249.7),
           "freiburg3": (535.4, 539.2, 320.1, 247.6)}  # fmt: skip
NYU_640 = (518.857901, 519.469611, 325.582449, 253.736166)


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels of an image ``width`` x ``height``."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_fov(cls, hfov_deg: float, width: int, height: int) -> Intrinsics:
        """Square pixels, principal point at the centre, horizontal field of view in degrees."""
        fx = width / (2.0 * math.tan(math.radians(hfov_deg) / 2.0))
        return cls(fx, fx, (width - 1) / 2.0, (height - 1) / 2.0, width, height)

    @classmethod
    def default(cls, width: int, height: int) -> Intrinsics:
        """The documented assumption when nothing tells the camera (``DEFAULT_FX_RATIO``)."""
        fx = DEFAULT_FX_RATIO * width
        return cls(fx, fx, (width - 1) / 2.0, (height - 1) / 2.0, width, height)

    @classmethod
    def from_json(cls, path: Path) -> Intrinsics:
        """A ``camera.json`` beside ``rgb/`` and ``depth/`` (fx, fy, cx, cy, width, height)."""
        try:
            d = json.loads(Path(path).read_text())
            cam = cls(float(d["fx"]), float(d.get("fy", d["fx"])), float(d["cx"]), float(d["cy"]), int(d["width"]),
                      int(d["height"]))  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RtdepthError(f"{path}: not a camera file (fx, fy, cx, cy, width, height)") from exc
        check_focal(cam.fx, str(path))
        return cam

    @property
    def hfov_deg(self) -> float:
        return math.degrees(2.0 * math.atan(self.width / (2.0 * self.fx)))

    @property
    def fx_ratio(self) -> float:
        """Focal length as a fraction of the width: what stays the same when the image is resized."""
        return self.fx / self.width

    def scaled(self, width: int, height: int) -> Intrinsics:
        """The same camera for the image resized to ``width`` x ``height``."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5, width, height)

    def cropped(self, x0: int, y0: int, width: int, height: int) -> Intrinsics:
        """The same camera for a window of the image starting at (x0, y0)."""
        return replace(self, cx=self.cx - x0, cy=self.cy - y0, width=width, height=height)

    def mirrored(self) -> Intrinsics:
        """The same camera for the image flipped left to right."""
        return replace(self, cx=self.width - 1 - self.cx)


def check_focal(fx: float, what: str = "--fx") -> float:
    """A focal length in pixels must be a finite positive number."""
    if not (isinstance(fx, (int, float)) and math.isfinite(fx) and fx > 0):
        raise RtdepthError(f"{what}: a focal length is a finite positive number of pixels, got {fx}")
    return float(fx)


def camera_for(width: int, height: int, fx: float | None = None, fov: float | None = None) -> Intrinsics | None:
    """The camera the user named for frames of this size (``--fx`` in pixels at this size or ``--fov``
    horizontal degrees); None when neither was given. Bad values are one clear line."""
    if fx is not None and fov is not None:
        raise RtdepthError("give --fx or --fov, not both")
    if fx is not None:
        fx = check_focal(fx)
        return Intrinsics(fx, fx, (width - 1) / 2.0, (height - 1) / 2.0, width, height)
    if fov is not None:
        check_fov(fov)
        return Intrinsics.from_fov(fov, width, height)
    return None


def check_fov(fov: float) -> float:
    """A horizontal field of view in degrees within 10..170."""
    if not (math.isfinite(fov) and FOV_RANGE[0] <= fov <= FOV_RANGE[1]):
        raise RtdepthError(f"--fov {fov}: a horizontal field of view in degrees within {FOV_RANGE[0]:g}..{FOV_RANGE[1]:g}")
    return float(fov)


def from_exif(tags: dict[int, float], width: int, height: int) -> Intrinsics | None:
    """A photo's camera from EXIF: ``FocalLengthIn35mmFilm`` (36 mm wide film: fx = width * f35 / 36 on the long
    side), else ``FocalLength`` with the sensor width from ``FocalPlaneXResolution``; None when absent."""
    from rtdepth.imageinfo import FOCAL_35MM

    f35 = tags.get(FOCAL_35MM)
    if not f35 or f35 <= 0:
        return None
    fx = max(width, height) * float(f35) / 36.0
    return Intrinsics(fx, fx, (width - 1) / 2.0, (height - 1) / 2.0, width, height)


def tum_intrinsics(name: str) -> tuple[float, float, float, float] | None:
    """The 640 x 480 intrinsics of a TUM RGB-D sequence named like ``rgbd_dataset_freiburg1_xyz`` or
    ``tum_fr1_xyz``; None for other names."""
    found = re.search(r"(?:freiburg|fr)([123])", name.lower())
    return TUM_640[f"freiburg{found.group(1)}"] if found else None
