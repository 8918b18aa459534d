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
    # Auto-exposure meters the scene (geometric mean of luminance), as cameras do: a window or a lamp in
    # view blows out instead of darkening the room around it.
    key = np.exp(np.mean(np.log(img.mean(-1) + 1e-4)))
    img *= rng.uniform(0.15, 0.35) / max(float(key), 1e-6)
    # Path-tracing noise is not sensor noise: a non-local-means denoiser stands in for a render denoiser.
    tone = np.clip(img, 0, 1) ** (1 / 2.2)
    strength = float(rng.uniform(7, 13))
    clean = cv2.fastNlMeansDenoisingColored(np.uint8(tone * 255 + 0.5), None, strength, strength, 5, 15).astype(np.float32) / 255
    img = clean**2.2
    # Auto white balance (grey world over what is not blown out, mostly): tinted light and walls come out
    # near neutral, as cameras make them; a clipped window or lamp says nothing about the light's colour.
    unclipped = img.max(-1) < 0.9
    means = (img[unclipped] if unclipped.mean() > 0.05 else img.reshape(-1, 3)).mean(0) + 1e-6
    img *= ((means.mean() / means) ** rng.uniform(0.6, 1.0)).astype(np.float32)
    img *= rng.uniform(0.9, 1.1, 3).astype(np.float32)  # white balance error
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
    img *= (1 - rng.uniform(0, 0.45) * r2)[..., None].astype(np.float32)  # vignetting
    img = img / (1 + img * rng.uniform(0.0, 0.3))  # soft highlight roll-off
    img = np.clip(img, 0, 1) ** (1 / rng.uniform(2.0, 2.4))
    img += rng.uniform(0.3, 1.0) * (img * img * (3 - 2 * img) - img)  # a camera's S-shaped tone curve: real frames
    # have more contrast (8-bit std 0.27-0.34 on the OAK-D rooms and the desk) than flat path-traced light (0.20)
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


# Real cameras, measured by ``noise_sigma`` at 320x240: TUM's Kinect 0.8-1.8 (10th-90th percentile), the
# OAK-D rooms 1.2-2.5. ``develop`` leaves a quarter of its frames above 3 (up to 20: dark rooms whose
# path-tracing noise auto-exposure amplified) and a third below 0.6 (JPEG erased their sensor noise).
# Matching them (``refinish``) did not help on real rooms, so ``develop`` does not; see docs/model-card.md.
REAL_NOISE = (0.8, 2.5)


def noise_sigma(img: np.ndarray) -> float:
    """Standard deviation of the noise in an 8-bit frame (Immerkaer's fast estimate: a Laplacian-difference
    mask that cancels smooth shading and edges at first order), in 8-bit units."""
    grey = img.astype(np.float32) if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mask = np.float32([[1, -2, 1], [-2, 4, -2], [1, -2, 1]])
    response = np.abs(cv2.filter2D(grey, -1, mask))[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) * response.mean() / 6)


def match_sensor_noise(img: np.ndarray, rng: np.random.Generator, band: tuple[float, float] = REAL_NOISE,
                       quality: tuple[int, int] = (70, 96)) -> np.ndarray:  # fmt: skip
    """An 8-bit RGB frame as a camera's JPEG with noise in the band real cameras show, measured after
    compression (JPEG erases fine noise: what counts is what the network sees). A frame noisier than the
    band is denoised first (non-local means, as hard as its noise); then demosaiced-like sensor noise
    (slightly correlated, mostly luminance) is scaled until the compressed frame reaches a level drawn in
    the band. A network must not learn that grain means a rendered wall, nor that a clean image does."""
    sigma = noise_sigma(img)
    for _ in range(3):
        if sigma <= band[1]:
            break
        h = float(np.clip(1.2 * sigma, 3, 30))
        img = cv2.fastNlMeansDenoisingColored(img, None, h, h, 5, 15)
        sigma = noise_sigma(img)
    target, q = float(rng.uniform(*band)), int(rng.integers(*quality))
    grey = bool((img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all())
    field = rng.normal(0, 1, img.shape[:2] + (1,)) + rng.normal(0, 0.0 if grey else 0.3, img.shape)  # luma + chroma
    field = cv2.GaussianBlur(field.astype(np.float32), (0, 0), 0.6)
    field /= max(float(noise_sigma(field.mean(-1))), 1e-6)  # unit noise as the estimator sees it
    base = img.astype(np.float32)

    def compressed(amplitude: float) -> np.ndarray:
        frame = np.clip(base + amplitude * field + 0.5, 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy() if ok else frame

    amplitude = float(np.sqrt(max(target**2 - sigma**2, 0.0)))
    best = None
    for _ in range(4):  # compression eats some noise and its blocks add some: a few secant steps, keep the closest
        out = compressed(amplitude)
        got = noise_sigma(out)
        if best is None or abs(got - target) < best[0]:
            best = (abs(got - target), out)
        if abs(got - target) < 0.1 * target or amplitude >= 12 or (amplitude == 0 and got > target):
            break
        amplitude = float(np.clip(amplitude * target / max(got, 0.3), 0.0, 12.0)) if amplitude > 0 else 1.0
    return best[1]
