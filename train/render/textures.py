"""Surface textures: crops of real photos and procedural wood, tile, fabric, carpet, plaster and paint.

Every texture comes with the real size one repeat covers (metres), so planks, tiles and weave keep
a true scale whatever the object. Images are float32 RGB in [0, 1], sRGB-encoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rtdepth.data.splits import spread_evenly

SIZE = 256


@dataclass
class Texture:
    """An image and the metres one repeat of it covers."""

    image: np.ndarray  # SIZE x SIZE x 3 float32 sRGB
    metres: float


def _noise(rng: np.random.Generator, cells: int, size: int = SIZE) -> np.ndarray:
    """Smooth value noise in [0, 1] that tiles (wraps at the borders)."""
    grid = rng.random((cells, cells)).astype(np.float32)
    big = cv2.resize(np.tile(grid, (3, 3)), (size * 3, size * 3), interpolation=cv2.INTER_CUBIC)
    return np.clip(big[size : 2 * size, size : 2 * size], 0, 1)


def _colour(rng: np.random.Generator, hue: tuple[float, float], sat: tuple[float, float], val: tuple[float, float]) -> np.ndarray:
    hsv = np.uint8([[[rng.uniform(*hue) / 2, rng.uniform(*sat) * 255, rng.uniform(*val) * 255]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255


def wood(rng: np.random.Generator) -> Texture:
    base = _colour(rng, (15, 40), (0.3, 0.75), (0.25, 0.85))
    y = np.linspace(0, 1, SIZE, endpoint=False)[:, None]
    grain = _noise(rng, 8) * 0.6 + _noise(rng, 32) * 0.4
    rings = 0.5 + 0.5 * np.sin(2 * np.pi * (y * rng.integers(6, 20) + grain * rng.uniform(1, 3)))
    planks = int(rng.integers(2, 7))
    stripe = (np.floor(y * planks) % 2) * rng.uniform(-0.08, 0.08)
    shade = 0.75 + 0.25 * rings + stripe
    shade = np.broadcast_to(shade, (SIZE, SIZE))
    gap = (np.abs((y * planks) % 1 - 0.5) > 0.485)[..., 0]
    img = base * shade[..., None]
    img[np.broadcast_to(gap[:, None], (SIZE, SIZE))] *= 0.45
    return Texture(img, rng.uniform(0.6, 1.6))


def tile(rng: np.random.Generator) -> Texture:
    n = int(rng.choice([2, 3, 4, 6, 8]))
    base = _colour(rng, (0, 360), (0.0, 0.35), (0.45, 0.95))
    cell = SIZE // n
    img = np.empty((SIZE, SIZE, 3), np.float32)
    for i in range(n):
        for j in range(n):
            img[i * cell : (i + 1) * cell, j * cell : (j + 1) * cell] = base * rng.uniform(0.9, 1.1)
    if n * cell < SIZE:
        img[n * cell :] = base
        img[:, n * cell :] = base
    grout = _colour(rng, (0, 60), (0.0, 0.2), (0.3, 0.8))
    t = max(1, int(SIZE * rng.uniform(0.004, 0.012)))
    idx = np.arange(SIZE)
    lines = (idx % cell) < t
    img[lines] = grout
    img[:, lines] = grout
    img *= (0.92 + 0.08 * _noise(rng, 16))[..., None]
    return Texture(img, rng.uniform(0.25, 0.6) * n)


def fabric(rng: np.random.Generator) -> Texture:
    base = _colour(rng, (0, 360), (0.1, 0.8), (0.2, 0.85))
    x = np.arange(SIZE)
    period = int(rng.choice([4, 8, 16]))
    weave = 0.9 + 0.1 * np.sin(2 * np.pi * x / period)[:, None] * np.sin(2 * np.pi * x / period)[None, :]
    pattern = np.ones((SIZE, SIZE), np.float32)
    if rng.random() < 0.3:  # stripes or checks
        k = int(rng.integers(2, 8))
        pattern = 0.75 + 0.25 * ((x[:, None] * k // SIZE + (x[None, :] * k // SIZE) * (rng.random() < 0.5)) % 2)
    img = base * (weave * pattern * (0.85 + 0.15 * _noise(rng, 64)))[..., None]
    return Texture(img.astype(np.float32), rng.uniform(0.3, 0.8))


def carpet(rng: np.random.Generator) -> Texture:
    base = _colour(rng, (0, 360), (0.05, 0.6), (0.2, 0.75))
    fine = np.random.default_rng(rng.integers(1 << 31)).random((SIZE, SIZE)).astype(np.float32)
    img = base * (0.75 + 0.15 * fine + 0.1 * _noise(rng, 16))[..., None]
    return Texture(img, rng.uniform(0.5, 1.5))


def plaster(rng: np.random.Generator, saturation: tuple[float, float] = (0.0, 0.25),
            value: tuple[float, float] = (0.65, 0.97)) -> Texture:  # fmt: skip
    base = _colour(rng, (0, 360), saturation, value)
    img = base * (0.9 + 0.06 * _noise(rng, 6) + 0.04 * _noise(rng, 48))[..., None]
    return Texture(img, rng.uniform(1.5, 4.0))


def paint(rng: np.random.Generator, saturation: float = 0.9, value: tuple[float, float] = (0.1, 0.95)) -> Texture:
    base = _colour(rng, (0, 360), (0.0, saturation), value)
    return Texture(np.broadcast_to(base, (SIZE, SIZE, 3)).astype(np.float32) * (0.97 + 0.03 * _noise(rng, 8))[..., None], 1.0)


class PhotoCrops:
    """Random crops of real photographs (one small cache of decoded images, loaded lazily).

    Each folder of photos is one source, drawn as often as any other: a video's 789 frames of one desk
    beside a dozen photos of other things would otherwise leave the dozen unseen.
    """

    def __init__(self, paths: list[Path], max_images: int = 400) -> None:
        groups: dict[Path, list[Path]] = {}
        for path in sorted(paths):
            groups.setdefault(path.parent, []).append(path)
        self.groups = [spread_evenly(group, max_images) for _, group in sorted(groups.items())]
        self.paths = [path for group in self.groups for path in group]
        self._cache: dict[Path, np.ndarray] = {}

    def __bool__(self) -> bool:
        return bool(self.paths)

    def _image(self, path: Path) -> np.ndarray | None:
        if path not in self._cache:
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            self._cache[path] = None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        return self._cache[path]

    def pick(self, rng: np.random.Generator) -> Path:
        """A source, then a photo of it (one draw only when there is one source: generator 3's draws)."""
        group = self.groups[int(rng.integers(len(self.groups)))] if len(self.groups) > 1 else self.groups[0]
        return group[int(rng.integers(len(group)))]

    def __call__(self, rng: np.random.Generator) -> Texture:
        img = self._image(self.pick(rng))
        if img is None:
            return plaster(rng)
        h, w = img.shape[:2]
        s = int(rng.uniform(0.15, 0.6) * min(h, w))
        y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        crop = cv2.resize(img[y : y + s, x : x + s], (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
        crop = crop.astype(np.float32) / 255
        if rng.random() < 0.5:  # mirror-tile so repeats have no seams
            top = np.concatenate([crop, crop[:, ::-1]], 1)
            crop = cv2.resize(np.concatenate([top, top[::-1]], 0), (SIZE, SIZE))
        tint = rng.uniform(0.8, 1.2, 3).astype(np.float32)
        return Texture(np.clip(crop * tint, 0, 1), rng.uniform(0.3, 1.5))


def _pale_paint(rng: np.random.Generator) -> Texture:
    return paint(rng, saturation=0.3, value=(0.4, 0.95))  # walls are mostly pale, rarely dark


def _muted_paint(rng: np.random.Generator) -> Texture:
    return paint(rng, saturation=0.45)  # furniture is mostly white, grey, black or muted; rarely bright


def _white_plaster(rng: np.random.Generator) -> Texture:
    """Near-white walls and ceilings, as most real rooms have (light bouncing between tinted walls saturates)."""
    return plaster(rng, saturation=(0.0, 0.08), value=(0.75, 0.97))


def for_surface(kind: str, rng: np.random.Generator, photos: PhotoCrops) -> Texture:
    """A texture suited to a surface kind (floor, wall, ceiling, body, fabric, clutter, ...)."""
    options = {
        "floor": [(wood, 4), (tile, 3), (carpet, 2), (photos, 1)],
        "wall": [(_white_plaster, 6), (plaster, 2), (_pale_paint, 2), (photos, 0.4), (tile, 0.4), (wood, 0.3)],
        "ceiling": [(_white_plaster, 5), (plaster, 1)],
        "body": [(wood, 4), (_muted_paint, 3), (photos, 2), (plaster, 1)],
        "accent": [(paint, 3), (wood, 2), (photos, 2), (fabric, 1)],
        "fabric": [(fabric, 4), (carpet, 1), (photos, 1)],
        "clutter": [(photos, 4), (paint, 2), (fabric, 1)],
        "picture": [(photos, 6), (paint, 1), (fabric, 0.5)],
    }.get(kind, [(paint, 1)])
    options = [(f, w) for f, w in options if f is not photos or photos]
    weights = np.array([w for _, w in options], float)
    maker = options[int(rng.choice(len(options), p=weights / weights.sum()))][0]
    return maker(rng)
