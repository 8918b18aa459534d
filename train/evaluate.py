"""``rtdepth eval``: metrics of a weights file on a dataset, raw and median-scaled, worst cases, pictures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.progress import track

from rtdepth.errors import RtdepthError
from rtdepth.estimator import DepthEstimator
from rtdepth.metrics import MetricAccumulator, compute_metrics
from rtdepth.visualize import FixedRange, colorize

from .data import resolve_split, split_indices
from .datasets import RGBDDataset, open_dataset


@dataclass
class EvalOptions:
    """How to evaluate: which part of the data, depth cap, crop, where to put pictures."""

    subset: str = "all"  # all | val | train (val/train use the same split as training)
    split: str = "auto"  # as in training: blocks for sequences, random otherwise
    val_fraction: float = 0.3
    max_depth: float = 10.0
    eigen_crop: bool = False
    save_dir: Path | None = None
    limit: int | None = None
    worst: int = 5


def select(dataset: RGBDDataset, opts: EvalOptions) -> list[int]:
    """The sample indices an evaluation covers; train/val reproduce the training split exactly."""
    n = len(dataset)
    if opts.subset == "all":
        idx = list(range(n))
    elif opts.subset in ("train", "val"):
        train, val = split_indices(n, opts.val_fraction, resolve_split(opts.split, dataset))
        idx = val if opts.subset == "val" else train
    else:
        raise RtdepthError(f"unknown subset {opts.subset!r}; use all, train or val")
    return idx[: opts.limit] if opts.limit else idx


def evaluate_dataset(estimator: DepthEstimator, data: str, opts: EvalOptions, progress: bool = True) -> dict[str, Any]:
    """Predict every selected sample at the model's size, compare at ground-truth resolution.

    ``constant_floor`` is the median-scaled score of one flat depth everywhere: median scaling turns
    a constant into each frame's median depth, which scores well on scenes with a narrow depth range,
    so a model near this floor learned little about the geometry.
    """
    dataset = open_dataset(data)
    indices = select(dataset, opts)
    if not indices:
        raise RtdepthError(f"{data}: the {opts.subset} subset is empty")
    raw, scaled, floor = MetricAccumulator(), MetricAccumulator(), MetricAccumulator()
    if opts.save_dir is not None:
        opts.save_dir.mkdir(parents=True, exist_ok=True)
    for i in track(indices, description="evaluating", disable=not progress, transient=True):
        sample = dataset[i]
        pred = estimator.predict(sample.rgb, color="rgb")
        kw = {"max_depth": opts.max_depth, "eigen_crop": opts.eigen_crop}
        raw.add(compute_metrics(pred, sample.depth, **kw), i)
        scaled.add(compute_metrics(pred, sample.depth, median_scaling=True, **kw), i)
        floor.add(compute_metrics(np.ones_like(sample.depth), sample.depth, median_scaling=True, **kw), i)
        if opts.save_dir is not None:
            cv2.imwrite(str(opts.save_dir / f"{i:06d}.png"), side_by_side(sample.rgb, pred, sample.depth))
    if not len(raw):
        raise RtdepthError(f"{data}: no valid ground-truth pixels in the selected samples")
    return {
        "samples": len(raw),
        "raw": raw.mean(),
        "median_scaled": scaled.mean(),
        "constant_floor": floor.mean(),
        "worst": [{"index": i, **m} for i, m in raw.worst("abs_rel", opts.worst)],
    }


def side_by_side(rgb: np.ndarray, pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """RGB | prediction | ground truth, both depths in one colour scale (black = no measurement)."""
    valid = gt > 0
    lo, hi = np.percentile(gt[valid], (2, 98)) if valid.any() else (pred.min(), pred.max())
    norm = FixedRange(float(lo) * 0.9, float(hi) * 1.1 + 1e-3)
    gt_img = colorize(norm(gt), "turbo")
    gt_img[~valid] = 0
    return np.hstack([cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), colorize(norm(pred), "turbo"), gt_img])
