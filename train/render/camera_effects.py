"""From linear radiance to a camera-like 8-bit frame: exposure, white balance, tone curve, vignetting,
denoise, blur, sensor noise and JPEG. Real frames carry these; a network that never saw them learns
the renderer instead of the room."""

from __future__ import annotations

import cv2
import numpy as np


def develop(radiance: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Linear H x W x 3 radiance -> uint8 RGB as a consumer camera would record it."""
    img = remove_fireflies(np.nan_to_num(radiance.astype(np.float32), nan=0.0, posinf=0.0))
    h, w = img.shape[:2]
    key = np.percentile(img.mean(-1), rng.uniform(85, 97))  # auto-exposure on a bright percentile
    img *= rng.uniform(0.55, 1.1) / max(float(key), 1e-6)
    # Path-tracing noise is not sensor noise: a non-local-means denoiser stands in for a render denoiser.
    tone = np.clip(img, 0, 1) ** (1 / 2.2)
    strength = float(rng.uniform(7, 13))
    clean = cv2.fastNlMeansDenoisingColored(np.uint8(tone * 255 + 0.5), None, strength, strength, 5, 15).astype(np.float32) / 255
    img = clean**2.2
    img *= rng.uniform(0.85, 1.15, 3).astype(np.float32)  # white balance error
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
    img *= (1 - rng.uniform(0, 0.45) * r2)[..., None].astype(np.float32)  # vignetting
    img = img / (1 + img * rng.uniform(0.0, 0.3))  # soft highlight roll-off
    img = np.clip(img, 0, 1) ** (1 / rng.uniform(2.0, 2.4))
    if rng.random() < 0.4:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.2))
    img = img + rng.normal(0, rng.uniform(0.0, 0.02), img.shape).astype(np.float32) * np.sqrt(np.clip(img, 0.05, 1))
    out = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.1:  # greyscale sensors exist (IR / mono stereo cameras)
        out = np.repeat(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[..., None], 3, -1)
    ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 96))])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy() if ok else out


def remove_fireflies(img: np.ndarray, ratio: float = 3.0) -> np.ndarray:
    """Replace isolated over-bright pixels (rare light paths at low sample counts) by their 3x3 median.

    A denoiser smears them into bright blotches that no camera records; real highlights cover more
    than one pixel, so they survive the median comparison.
    """
    lum = img.mean(-1)
    med = cv2.medianBlur(img, 3)
    spikes = lum > ratio * med.mean(-1) + 0.02
    out = img.copy()
    out[spikes] = med[spikes]
    return out
