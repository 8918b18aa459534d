"""The temporal stabiliser: steadier depth on a static shot, no smearing of what moves, a fresh start at a cut."""

from __future__ import annotations

import cv2
import numpy as np
from helpers import tum_rgb

from engines.flicker import noisy_copies, variation
from rtdepth.stream.stabilize import TemporalStabilizer


def fake_depth(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A model's answer to a frame: depth from its brightness, a per-frame scale jump and per-pixel noise."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
    base = 1.0 + 3.0 * cv2.GaussianBlur(grey, (31, 31), 0) / 255.0
    return (base * rng.normal(1.0, 0.02) * rng.normal(1.0, 0.01, base.shape)).astype(np.float32)


def test_a_static_shot_stops_shimmering(tum_dir):
    rng = np.random.default_rng(0)
    frames = noisy_copies(cv2.imread(str(tum_rgb(tum_dir, 3))), copies=12)
    raw = [fake_depth(f, rng) for f in frames]
    stab = TemporalStabilizer()
    smooth = [stab(f, d) for f, d in zip(frames, raw)]
    (pixel_raw, scale_raw), (pixel_smooth, scale_smooth) = variation(raw), variation(smooth)
    assert pixel_smooth < 0.5 * pixel_raw and scale_smooth < 0.5 * scale_raw
    assert abs(np.median(smooth[-1]) / np.median(raw).mean() - 1) < 0.05  # no drift in metres


def test_what_moves_is_not_smeared_and_a_cut_starts_again(tum_dir):
    rng = np.random.default_rng(1)
    frame = cv2.imread(str(tum_rgb(tum_dir, 3)))
    stab = TemporalStabilizer()
    for _ in range(5):
        stab(frame, fake_depth(frame, rng))
    moved = frame.copy()
    moved[80:160, 100:200] = 255  # something bright enters the middle
    depth = fake_depth(moved, rng)
    depth[80:160, 100:200] = 0.6  # and is near
    out = stab(moved, depth)
    inside = out[90:150, 110:190]
    assert np.allclose(inside / depth[90:150, 110:190], inside.mean() / depth[90:150, 110:190].mean(), atol=1e-4)
    assert abs(inside.mean() - 0.6) < 0.6 * 0.25  # the new object's depth, not the old background's
    other = cv2.imread(str(tum_rgb(tum_dir, 12)))[::-1].copy()  # another scene
    far = fake_depth(other, rng) * 2.5
    assert np.array_equal(stab(other, far), far)  # a cut: the new frame as it is
    stab.reset()
    assert np.array_equal(stab(frame, depth), depth)


def test_noise_sized_depth_changes_are_averaged_in_full(tum_dir):
    frame = cv2.imread(str(tum_rgb(tum_dir, 3)))
    stab = TemporalStabilizer()
    first = fake_depth(frame, np.random.default_rng(2))
    stab(frame, first)
    noise = np.clip(np.random.default_rng(4).normal(0, 0.02, first.shape), -0.045, 0.045).astype(np.float32)
    out = stab(frame, first * (1 + noise))  # per-pixel noise of a few percent, no change of scale
    # Full weight (0.9) on the running estimate: 10% of each pixel's noise passes. A weight that fell from the first
    # percent of change on would pass 0.1 + 3.6 x the change: 2x as much at 4%.
    assert (np.abs(out / first - 1) <= 0.1 * np.abs(noise) + 0.001).all()


def test_a_small_image_change_is_motion_and_its_depth_is_taken(tum_dir):
    frame = np.minimum(cv2.imread(str(tum_rgb(tum_dir, 3))), 240)  # room to brighten without clipping
    stab = TemporalStabilizer()
    depth = fake_depth(frame, np.random.default_rng(3))
    stab(frame, depth)
    moved = frame.copy()
    moved[60:180, 80:240] += 6  # a few grey levels: far above sensor noise after the blur
    new = depth.copy()
    new[60:180, 80:240] *= 1.04  # a slow camera move: a few levels of image change, 4% of depth
    out = stab(moved, new)
    assert np.allclose(out[:, 250:], depth[:, 250:], rtol=1e-4)  # the untouched part keeps its depth and scale
    assert np.allclose(out[70:170, 90:230], new[70:170, 90:230], rtol=1e-3)  # the moved part: the new depth
