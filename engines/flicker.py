"""How much a stream's depth shimmers: ``rtdepth bench --flicker``.

Static: one frame fed again and again with mild sensor noise (Gaussian sigma 2 levels, then JPEG 90), as a
camera on a tripod gives it; per-pixel temporal variation (std / mean) at the median pixel, and how much of
it is the whole frame's scale (the std / mean of each frame's median depth). Moving: on a clip, the median
relative change of depth from one frame to the next (lower is steadier; motion sets a floor).
Both with and without the temporal stabiliser, in the same run.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from rtdepth.estimator import DepthEstimator
from rtdepth.stream.stabilize import TemporalStabilizer


@dataclass
class FlickerRow:
    source: str
    frames: int
    pixel_raw_pct: float
    pixel_smooth_pct: float
    scale_raw_pct: float
    scale_smooth_pct: float

    def as_dict(self) -> dict:
        return asdict(self)


def noisy_copies(frame_bgr: np.ndarray, copies: int = 12, sigma: float = 2.0, quality: int = 90,
                 seed: int = 0) -> list[np.ndarray]:  # fmt: skip
    """The same frame as a static camera delivers it: fresh sensor noise each time, then JPEG."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(copies):
        noisy = np.clip(frame_bgr.astype(np.float32) + rng.normal(0, sigma, frame_bgr.shape), 0, 255).astype(np.uint8)
        out.append(cv2.imdecode(cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR))
    return out


def variation(depths: list[np.ndarray]) -> tuple[float, float]:
    """(median per-pixel std/mean, std/mean of the frames' median depths), both in percent."""
    stack = np.stack(depths).astype(np.float64)
    pixel = np.median(stack.std(axis=0) / np.maximum(stack.mean(axis=0), 1e-6)) * 100
    medians = np.median(stack.reshape(len(depths), -1), axis=1)
    return float(pixel), float(medians.std() / medians.mean() * 100)


def static_flicker(est: DepthEstimator, frame_bgr: np.ndarray, name: str, copies: int = 12) -> FlickerRow:
    """Static-shot variation of one frame, raw and stabilised (the same noisy copies, the same predictions)."""
    frames = noisy_copies(frame_bgr, copies)
    raw = [est.predict(f) for f in frames]
    stab = TemporalStabilizer()
    smooth = [stab(f, d) for f, d in zip(frames, raw)]
    (p_raw, s_raw), (p_smooth, s_smooth) = variation(raw), variation(smooth)
    return FlickerRow(name, copies, p_raw, p_smooth, s_raw, s_smooth)


def moving_consistency(est: DepthEstimator, clip: Path, frames: int = 60) -> dict:
    """Median frame-to-frame relative change of depth on a moving clip, raw and stabilised, and the
    stabiliser's own cost per frame."""
    from rtdepth.stream.sources import VideoSource

    stab, changes_raw, changes_smooth, cost = TemporalStabilizer(), [], [], []
    prev_raw = prev_smooth = None
    with VideoSource(clip) as source:
        for _ in range(frames):
            frame = source.read()
            if frame is None:
                break
            depth = est.predict(frame.image)
            t0 = time.perf_counter()
            smooth = stab(frame.image, depth)
            cost.append((time.perf_counter() - t0) * 1000)
            if prev_raw is not None:
                changes_raw.append(float(np.median(np.abs(depth - prev_raw) / prev_raw)))
                changes_smooth.append(float(np.median(np.abs(smooth - prev_smooth) / prev_smooth)))
            prev_raw, prev_smooth = depth, smooth
    return {"clip": clip.name, "frames": len(cost), "change_raw_pct": float(np.median(changes_raw) * 100),
            "change_smooth_pct": float(np.median(changes_smooth) * 100), "stabilise_ms": float(np.median(cost))}  # fmt: skip


def streaming_accuracy(est: DepthEstimator, data: str, subset: str = "val") -> dict:
    """delta1 and abs rel of each frame alone and as the stabilised stream gives it, on the held-out blocks of a
    video dataset played in order (the stabiliser starts again at each block): smoothing must not cost accuracy."""
    from rtdepth.data import open_dataset
    from rtdepth.evaluate import EvalOptions, select, with_training_split
    from rtdepth.metrics import MetricAccumulator, compute_metrics

    dataset = open_dataset(data)
    indices = select(dataset, with_training_split(EvalOptions(subset=subset), est.info.training or {}))
    stab, raw, smooth, prev = TemporalStabilizer(), MetricAccumulator(), MetricAccumulator(), None
    for i in indices:
        if prev is None or i != prev + 1:
            stab.reset()
        sample = dataset[i]
        bgr = cv2.cvtColor(sample.rgb, cv2.COLOR_RGB2BGR)
        depth = est.predict(bgr)
        for acc, d in ((raw, depth), (smooth, stab(bgr, depth))):
            acc.add(compute_metrics(d, sample.depth))
        prev = i
    r, s = raw.mean(), smooth.mean()
    return {"data": Path(data).name, "frames": len(indices), "delta1_raw": r["delta1"], "delta1_smooth": s["delta1"],
            "abs_rel_raw": r["abs_rel"], "abs_rel_smooth": s["abs_rel"]}  # fmt: skip
