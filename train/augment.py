"""Paired augmentation: every geometric change is applied to RGB and depth together.

Depth is only ever resampled with nearest-neighbour, so a valid pixel is never blended with an
invalid (0) one. Randomness comes from a generator the caller seeds, so runs are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from rtdepth.data.sample import Sample
from rtdepth.estimator import SECOND_SIZE
from rtdepth.runtime.preprocess import scaled_size


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges; ``AugmentConfig.off()`` disables everything (validation)."""

    flip: float = 0.5
    scale: tuple[float, float] = (1.0, 1.5)  # zoom factor range for scale-crop
    scale_prob: float = 0.5
    scale_depth: bool = True  # divide depth by the zoom (Eigen et al. 2014): keeps size cues consistent
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.25
    channel_swap: float = 0.25  # DenseDepth's colour-channel permutation

    @classmethod
    def off(cls) -> AugmentConfig:
        return cls(flip=0.0, scale_prob=0.0, brightness=0.0, contrast=0.0, saturation=0.0, channel_swap=0.0)


def resize_pair(sample: Sample, size: tuple[int, int]) -> Sample:
    """Resize to ``size`` = (width, height): RGB with area/bilinear filtering, depth nearest."""
    w, h = size
    if sample.rgb.shape[:2] == (h, w):
        return sample
    shrink = w < sample.rgb.shape[1]
    rgb = cv2.resize(sample.rgb, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    depth = cv2.resize(sample.depth, (w, h), interpolation=cv2.INTER_NEAREST)
    return Sample(rgb, depth, sample.camera.scaled(w, h) if sample.camera else None)


def scale_crop(sample: Sample, zoom: float, rng: np.random.Generator, scale_depth: bool) -> Sample:
    """Zoom in by ``zoom`` and crop a random window of the original size."""
    h, w = sample.depth.shape
    zw, zh = round(w * zoom), round(h * zoom)
    rgb = cv2.resize(sample.rgb, (zw, zh), interpolation=cv2.INTER_LINEAR)
    depth = cv2.resize(sample.depth, (zw, zh), interpolation=cv2.INTER_NEAREST)
    x0, y0 = int(rng.integers(0, zw - w + 1)), int(rng.integers(0, zh - h + 1))
    rgb, depth = rgb[y0 : y0 + h, x0 : x0 + w], depth[y0 : y0 + h, x0 : x0 + w]
    camera = sample.camera.scaled(zw, zh).cropped(x0, y0, w, h) if sample.camera else None  # a longer lens
    if scale_depth:  # as if the camera walked closer instead: the focal length stays (same canonical depth)
        depth = depth / zoom
        if camera is not None:
            camera = replace(camera, fx=camera.fx / zoom, fy=camera.fy / zoom)
    return Sample(np.ascontiguousarray(rgb), np.ascontiguousarray(depth), camera)


def jitter_colour(rgb: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation and channel order; RGB only, depth untouched."""
    x = rgb.astype(np.float32)
    if cfg.brightness:
        x *= rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
    if cfg.contrast:
        mean = x.mean()
        x = (x - mean) * rng.uniform(1 - cfg.contrast, 1 + cfg.contrast) + mean
    if cfg.saturation:
        grey = x.mean(axis=2, keepdims=True)
        x = (x - grey) * rng.uniform(1 - cfg.saturation, 1 + cfg.saturation) + grey
    if cfg.channel_swap and rng.random() < cfg.channel_swap:
        x = x[..., rng.permutation(3)]
    return np.clip(x, 0, 255).astype(np.uint8)


def augment(sample: Sample, cfg: AugmentConfig, rng: np.random.Generator) -> Sample:
    """Apply the configured paired augmentations to one sample."""
    rgb, depth, camera = sample.rgb, sample.depth, sample.camera
    if cfg.flip and rng.random() < cfg.flip:
        rgb, depth = rgb[:, ::-1], depth[:, ::-1]
        camera = camera.mirrored() if camera else None
    sample = Sample(np.ascontiguousarray(rgb), np.ascontiguousarray(depth), camera)
    if cfg.scale_prob and rng.random() < cfg.scale_prob:
        sample = scale_crop(sample, float(rng.uniform(*cfg.scale)), rng, cfg.scale_depth)
    return Sample(jitter_colour(sample.rgb, cfg, rng), sample.depth, sample.camera)


def small_view(images: torch.Tensor, depths: torch.Tensor, scale: float = SECOND_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch at ``scale`` times its sides (multiples of 8; by default the second size of ``--multi-size``): the same
    scene through the same lens at fewer pixels, so the depth stays as it is. Images by area averaging; depth by
    nearest neighbour, so no invalid zero is blended."""
    w, h = scaled_size((images.shape[-1], images.shape[-2]), scale)
    return F.interpolate(images, size=(h, w), mode="area"), F.interpolate(depths, size=(h, w), mode="nearest")
