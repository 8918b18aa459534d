"""``rtdepth eval``: metrics of a weights file on a dataset, raw and median-scaled, worst cases, pictures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.progress import track

from rtdepth.data import RGBDDataset, open_dataset
from rtdepth.data.splits import SplitSpec
from rtdepth.errors import RtdepthError
from rtdepth.estimator import DepthEstimator
from rtdepth.metrics import MetricAccumulator, compute_metrics
from rtdepth.sizes import DEPTH_RANGE
from rtdepth.stopping import stop_requests
from rtdepth.stream.depth_io import write_image
from rtdepth.stream.visualize import FixedRange, colorize


@dataclass
class EvalOptions:
    """How to evaluate: which part of the data, depth cap, crop, where to put pictures."""

    subset: str = "all"  # all | val | train (val/train use the same split as training)
    split: SplitSpec | None = None  # None: the split the weights were trained with (else the default)
    max_depth: float = DEPTH_RANGE[1]
    eigen_crop: bool = False
    save_dir: Path | None = None
    limit: int | None = None
    worst: int = 5
    per_image: bool = False  # also return each frame's median-scaled metrics (paired comparisons)
    per_image_raw: bool = False  # also each frame's metric (unscaled) metrics


def select(dataset: RGBDDataset, opts: EvalOptions) -> list[int]:
    """The sample indices an evaluation covers; train/val reproduce the training split exactly."""
    n = len(dataset)
    if opts.subset == "all":
        idx = list(range(n))
    elif opts.subset in ("train", "val"):
        train, val = (opts.split or SplitSpec()).indices(dataset)
        idx = val if opts.subset == "val" else train
    else:
        raise RtdepthError(f"unknown subset {opts.subset!r}; use all, train or val")
    return idx[: opts.limit] if opts.limit else idx


def with_training_split(opts: EvalOptions, summary: dict[str, Any]) -> EvalOptions:
    """Fill the split from the weights' training header, so ``--subset val`` is exactly the held-out part."""
    from dataclasses import replace

    if opts.split is not None:
        return opts
    return replace(opts, split=SplitSpec.from_header(summary))


def evaluate_dataset(
    estimator: DepthEstimator, data: str | RGBDDataset, opts: EvalOptions, progress: bool = True
) -> dict[str, Any]:
    """Predict every selected sample at the model's size, compare at ground-truth resolution.

    ``constant_floor`` is the median-scaled score of one flat depth everywhere: median scaling turns
    a constant into each frame's median depth, which scores well on scenes with a narrow depth range,
    so a model near this floor learned little about the geometry.
    """
    dataset = open_dataset(data) if isinstance(data, str) else data
    label = data if isinstance(data, str) else getattr(data, "name", "") or type(data).__name__
    opts = with_training_split(opts, estimator.info.training or {})
    indices = select(dataset, opts)
    if not indices:
        raise RtdepthError(f"{label}: the {opts.subset} subset is empty")
    raw, scaled, floor = MetricAccumulator(), MetricAccumulator(), MetricAccumulator()
    if opts.save_dir is not None:
        opts.save_dir.mkdir(parents=True, exist_ok=True)
    with stop_requests() as requested:  # Ctrl-C / SIGTERM stop after the sample in hand (exit 130 / 143)
        for i in track(indices, description="evaluating", disable=not progress, transient=True):
            if requested:
                break
            sample = dataset[i]
            pred = estimator.predict(sample.rgb, color="rgb", camera=sample.camera)  # the dataset's camera when known
            kw = {"max_depth": opts.max_depth, "eigen_crop": opts.eigen_crop}
            raw.add(compute_metrics(pred, sample.depth, **kw), i)
            scaled.add(compute_metrics(pred, sample.depth, median_scaling=True, **kw), i)
            floor.add(compute_metrics(np.ones_like(sample.depth), sample.depth, median_scaling=True, **kw), i)
            if opts.save_dir is not None:
                write_image(opts.save_dir / f"{i:06d}.png", side_by_side(sample.rgb, pred, sample.depth))
        requested.raise_if_any()
    if not len(raw):
        raise RtdepthError(f"{label}: no valid ground-truth pixels in the selected samples")
    result = {
        "samples": len(raw),
        "raw": raw.mean(),
        "median_scaled": scaled.mean(),
        "constant_floor": floor.mean(),
        "worst": [{"index": i, **m} for i, m in raw.worst("abs_rel", opts.worst)],
    }
    if opts.per_image:
        result["per_image"] = [{"index": i, **m} for i, m in zip(scaled.ids, scaled.per_image)]
    if opts.per_image_raw:
        result["per_image_raw"] = [{"index": i, **m} for i, m in zip(raw.ids, raw.per_image)]
    return result


def side_by_side(rgb: np.ndarray, pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """RGB | prediction | ground truth, both depths in one colour scale (black = no measurement)."""
    valid = gt > 0
    lo, hi = np.percentile(gt[valid], (2, 98)) if valid.any() else (pred.min(), pred.max())
    norm = FixedRange(float(lo) * 0.9, float(hi) * 1.1 + 1e-3)
    gt_img = colorize(norm(gt), "turbo")
    gt_img[~valid] = 0
    return np.hstack([cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), colorize(norm(pred), "turbo"), gt_img])
