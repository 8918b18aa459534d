"""Standard monocular-depth metrics (Eigen et al.): delta1..3, abs rel, sq rel, RMSE, log10.

Computed per image on valid pixels (ground truth inside [min_depth, max_depth]) and averaged over
images, as the NYU v2 literature reports them. Median scaling rescales each prediction by
median(gt) / median(pred), the usual protocol for models whose scale is not trusted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rtdepth.sizes import DEPTH_RANGE

METRIC_NAMES = ("delta1", "delta2", "delta3", "abs_rel", "sq_rel", "rmse", "log10")
HIGHER_IS_BETTER = {"delta1", "delta2", "delta3"}


def eigen_crop_mask(height: int, width: int) -> np.ndarray:
    """The Eigen crop for NYU (the valid-projection window of the 640x480 frames), scaled to any size."""
    mask = np.zeros((height, width), dtype=bool)
    y0, y1 = round(45 / 480 * height), round(471 / 480 * height)
    x0, x1 = round(41 / 640 * width), round(601 / 640 * width)
    mask[y0:y1, x0:x1] = True
    return mask


def compute_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    min_depth: float = 1e-3,
    max_depth: float = DEPTH_RANGE[1],
    median_scaling: bool = False,
    eigen_crop: bool = False,
) -> dict[str, float] | None:
    """Metrics of one prediction against ground truth of the same size; None if no pixel is valid.

    Beside the standard ones, ``scale`` is median(gt) / median(pred) before any scaling: how far off the
    prediction's metres are (2 = it says half the true distance), which the delta scores alone do not say;
    ``depth_median`` is the truth's median, so that a check can ask whether predicted distances follow true ones."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    valid = np.isfinite(gt) & (gt > min_depth) & (gt < max_depth)
    if eigen_crop:
        valid &= eigen_crop_mask(*gt.shape)
    if not valid.any():
        return None
    p, g = pred[valid].astype(np.float64), gt[valid].astype(np.float64)
    scale = float(np.median(g) / max(np.median(p), 1e-9))
    if median_scaling:
        p = p * scale
    p = np.clip(p, min_depth, max_depth)
    ratio = np.maximum(p / g, g / p)
    return {
        "delta1": float((ratio < 1.25).mean()),
        "delta2": float((ratio < 1.25**2).mean()),
        "delta3": float((ratio < 1.25**3).mean()),
        "abs_rel": float((np.abs(p - g) / g).mean()),
        "sq_rel": float(((p - g) ** 2 / g).mean()),
        "rmse": float(np.sqrt(((p - g) ** 2).mean())),
        "log10": float(np.abs(np.log10(p) - np.log10(g)).mean()),
        "scale": scale,
        "depth_median": float(np.median(g)),
    }


@dataclass
class MetricAccumulator:
    """Averages per-image metrics; keeps each image's values to list the worst cases."""

    per_image: list[dict[str, float]] = field(default_factory=list)
    ids: list[object] = field(default_factory=list)

    def add(self, metrics: dict[str, float] | None, image_id: object = None) -> None:
        if metrics is not None:
            self.per_image.append(metrics)
            self.ids.append(image_id)

    def __len__(self) -> int:
        return len(self.per_image)

    def mean(self) -> dict[str, float]:
        if not self.per_image:
            return {}
        return {k: float(np.mean([m[k] for m in self.per_image])) for k in METRIC_NAMES}

    def worst(self, key: str = "abs_rel", n: int = 5) -> list[tuple[object, dict[str, float]]]:
        """The ``n`` images with the worst value of ``key``."""
        sign = 1 if key in HIGHER_IS_BETTER else -1
        order = sorted(range(len(self.per_image)), key=lambda i: sign * self.per_image[i][key])
        return [(self.ids[i], self.per_image[i]) for i in order[:n]]
