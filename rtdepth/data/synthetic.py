"""Synthetic rooms with exact depth: floor, walls, ceiling and boxes, seen by random perspective cameras.

A small vectorised ray caster in numpy. Surfaces are textured by tiling patches of real images
(the bundled sample frames by default) with Lambert shading, so the RGB has the kind of texture and
shading cues a real room has, while the depth is exact (no holes). Scene ``i`` is a pure function of
(seed, i), so the dataset is reproducible and needs no storage.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rtdepth.bundled_frames import sample_paths
from rtdepth.data.sample import Sample
from rtdepth.sizes import TRAINING_SIZE


def _load_textures(paths: list[Path] | None) -> list[np.ndarray]:
    paths = paths if paths is not None else sample_paths()
    tex = [cv2.cvtColor(img, cv2.COLOR_BGR2RGB) for p in paths if (img := cv2.imread(str(p))) is not None]
    if not tex:  # no images available: procedural noise still gives texture
        rng = np.random.default_rng(0)
        tex = [cv2.resize(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), (128, 128)) for _ in range(4)]
    return tex


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return ry @ rx @ rz


def _box_hits(origin: np.ndarray, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray, inside: bool):
    """Slab test against an axis-aligned box: (t, axis index, sign) per ray; t = inf where missed."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / dirs
        t0, t1 = (lo - origin) * inv, (hi - origin) * inv
    tmin, tmax = np.minimum(t0, t1), np.maximum(t0, t1)
    if inside:  # leaving the room: the nearest exit plane
        t = tmax.min(axis=1)
        axis = tmax.argmin(axis=1)
    else:
        t_enter, t_exit = tmin.max(axis=1), tmax.min(axis=1)
        hit = (t_enter <= t_exit) & (t_enter > 1e-4)
        t = np.where(hit, t_enter, np.inf)
        axis = tmin.argmax(axis=1)
    sign = -np.sign(np.take_along_axis(dirs, axis[:, None], 1)[:, 0])
    return t, axis, sign


class SyntheticRooms:
    """``n`` random rooms at ``size`` (width, height); indexable like every other reader."""

    sequential = False  # every room is independent

    def __init__(self, n: int, size: tuple[int, int] = TRAINING_SIZE, seed: int = 0, textures: list[Path] | None = None,
                 max_boxes: int = 6) -> None:  # fmt: skip
        self.n, self.size, self.seed, self.max_boxes = n, size, seed, max_boxes
        self.textures = _load_textures(textures)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < self.n:
            raise IndexError(index)
        rng = np.random.default_rng((self.seed, index))
        w, h = self.size
        room_lo = np.array([-rng.uniform(1.5, 4), 0.0, -rng.uniform(1.5, 4)])
        room_hi = np.array([rng.uniform(1.5, 4), rng.uniform(2.4, 3.2), rng.uniform(1.5, 4)])
        boxes = []
        for _ in range(rng.integers(1, self.max_boxes + 1)):
            half = rng.uniform(0.15, 0.7, 3)
            centre = rng.uniform(room_lo + half, room_hi - half)
            centre[1] = half[1] if rng.random() < 0.7 else centre[1]  # most boxes stand on the floor
            boxes.append((centre - half, centre + half))
        origin = np.array([rng.uniform(room_lo[0] + 0.5, room_hi[0] - 0.5), rng.uniform(0.8, 1.8),
                           rng.uniform(room_lo[2] + 0.5, room_hi[2] - 0.5)])  # fmt: skip
        rot = _rotation(rng.uniform(-np.pi, np.pi), rng.uniform(-0.5, 0.2), rng.uniform(-0.05, 0.05))
        f = w / (2 * np.tan(np.radians(rng.uniform(50, 75)) / 2))
        u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
        cam = np.stack([(u - w / 2) / f, -(v - h / 2) / f, np.ones_like(u)], -1).reshape(-1, 3)  # y up, z forward
        dirs = cam @ rot.T

        t, axis, sign = _box_hits(origin, dirs, room_lo, room_hi, inside=True)
        surface = np.zeros(len(t), int)
        for k, (lo, hi) in enumerate(boxes, start=1):
            tb, ab, sb = _box_hits(origin, dirs, lo, hi, inside=False)
            closer = tb < t
            t, axis, sign, surface = (np.where(closer, tb, t), np.where(closer, ab, axis),
                                      np.where(closer, sb, sign), np.where(closer, k, surface))  # fmt: skip
        depth = (t * cam[:, 2]).astype(np.float32)  # z-depth, as RGB-D sensors measure it
        points = origin + t[:, None] * dirs
        rgb = self._shade(points, axis, sign, surface, dirs, rng, len(boxes))
        return Sample(rgb.reshape(h, w, 3), depth.reshape(h, w))

    def _shade(self, points, axis, sign, surface, dirs, rng, n_boxes) -> np.ndarray:
        """Texture each surface from a random real-image patch; Lambert light from above the camera."""
        rgb = np.zeros((len(points), 3), np.float32)
        normals = np.zeros_like(points)
        normals[np.arange(len(points)), axis] = sign
        light = np.array([0.3, 1.0, 0.2]) / np.linalg.norm([0.3, 1.0, 0.2])
        lambert = 0.45 + 0.55 * np.abs(normals @ light)
        scale = 160.0  # texture pixels per metre
        for s in range(n_boxes + 1):
            for a in range(3):
                sel = (surface == s) & (axis == a)
                if not sel.any():
                    continue
                tex = self.textures[rng.integers(len(self.textures))]
                th, tw = tex.shape[:2]
                uv_axes = [i for i in range(3) if i != a]
                tu = (points[sel, uv_axes[0]] * scale + rng.uniform(0, tw)).astype(int) % tw
                tv = (points[sel, uv_axes[1]] * scale + rng.uniform(0, th)).astype(int) % th
                tint = rng.uniform(0.6, 1.2, 3)
                rgb[sel] = tex[tv, tu] * tint
        fog = np.clip(1.0 - 0.03 * np.linalg.norm(points - points.mean(0), axis=1), 0.7, 1.0)
        return np.clip(rgb * (lambert * fog)[:, None], 0, 255).astype(np.uint8)
