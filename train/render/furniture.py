"""Furniture families as small mesh generators.

Each generator takes a random generator and returns a ``Piece``: meshes grouped by material slot
(``body``, ``accent``, ``metal``, ``fabric``, ``screen``, ``leaf``, ``clutter``), in local coordinates
with the floor at y = 0, the front facing +z and the back at z = -depth / 2, plus its footprint.
Sizes follow real furniture (a table top at 0.72-0.78 m, a seat at 0.42-0.48 m).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from train.render.geometry import Mesh, centred_box, cylinder, merge, sphere


@dataclass
class Piece:
    """One piece of furniture: meshes by material slot, footprint (width, depth), wall-standing or free."""

    parts: dict[str, list[Mesh]] = field(default_factory=dict)
    width: float = 1.0
    depth: float = 1.0
    against_wall: bool = True
    tops: list[tuple[float, float, float, float]] = field(default_factory=list)  # (height, width, depth, z) surfaces

    def add(self, slot: str, mesh: Mesh) -> None:
        self.parts.setdefault(slot, []).append(mesh)


def _legs(piece: Piece, slot: str, w: float, d: float, h: float, t: float, rng: np.random.Generator) -> None:
    round_legs = rng.random() < 0.4
    for sx in (-1, 1):
        for sz in (-1, 1):
            x, z = sx * (w / 2 - t), sz * (d / 2 - t)
            piece.add(slot, cylinder(t / 2, h, x, 0, z, 8) if round_legs else centred_box(t, h, t, x, 0, z))


def table(rng: np.random.Generator) -> Piece:
    w, d, h = rng.uniform(0.8, 1.8), rng.uniform(0.6, 1.0), rng.uniform(0.72, 0.78)
    p = Piece(width=w, depth=d, against_wall=rng.random() < 0.3)
    top = rng.uniform(0.025, 0.05)
    p.add("body", centred_box(w, top, d, 0, h - top))
    _legs(p, "metal" if rng.random() < 0.3 else "body", w, d, h - top, rng.uniform(0.04, 0.07), rng)
    p.tops.append((h, w, d, 0.0))
    return p


def desk(rng: np.random.Generator) -> Piece:
    w, d, h = rng.uniform(1.0, 1.8), rng.uniform(0.55, 0.8), rng.uniform(0.72, 0.76)
    p = Piece(width=w, depth=d)
    top = 0.03
    p.add("body", centred_box(w, top, d, 0, h - top))
    side = 0.025
    for sx in (-1, 1):
        p.add("body", centred_box(side, h - top, d, sx * (w / 2 - side / 2)))
    if rng.random() < 0.6:  # drawer block
        dw = rng.uniform(0.35, 0.45)
        p.add("accent", centred_box(dw, h - top - 0.02, d - 0.04, w / 2 - side - dw / 2, 0.02))
    if rng.random() < 0.7:
        mon = monitor(rng)
        for slot, meshes in mon.parts.items():
            for m in meshes:
                p.add(slot, m.transformed(0, (rng.uniform(-w / 4, w / 4), h, -d / 2 + 0.15)))
    p.tops.append((h, w * 0.9, d * 0.5, d * 0.2))
    return p


def monitor(rng: np.random.Generator) -> Piece:
    w = rng.uniform(0.45, 0.75)
    sh = w * rng.uniform(0.56, 0.62)
    p = Piece(width=w, depth=0.2)
    p.add("metal", centred_box(0.2, 0.015, 0.18, 0, 0, 0))
    p.add("metal", centred_box(0.04, 0.12, 0.03, 0, 0, -0.03))
    p.add("screen", centred_box(w, sh, 0.03, 0, 0.1, 0))
    return p


def chair(rng: np.random.Generator) -> Piece:
    w, d, seat = rng.uniform(0.42, 0.55), rng.uniform(0.42, 0.55), rng.uniform(0.42, 0.48)
    p = Piece(width=w, depth=d, against_wall=False)
    p.add("body", centred_box(w, 0.05, d, 0, seat - 0.05))
    _legs(p, "metal" if rng.random() < 0.5 else "body", w, d, seat - 0.05, 0.035, rng)
    back = rng.uniform(0.35, 0.5)
    p.add("fabric" if rng.random() < 0.4 else "body", centred_box(w, back, 0.04, 0, seat, -d / 2 + 0.02))
    return p


def sofa(rng: np.random.Generator) -> Piece:
    w, d = rng.uniform(1.5, 2.4), rng.uniform(0.8, 1.0)
    p = Piece(width=w, depth=d)
    seat, arm = rng.uniform(0.4, 0.46), rng.uniform(0.12, 0.22)
    p.add("fabric", centred_box(w, seat - 0.12, d, 0, 0.1))
    p.add("metal", centred_box(w - 0.1, 0.1, d - 0.1, 0, 0))
    p.add("fabric", centred_box(w, rng.uniform(0.35, 0.5), 0.2, 0, seat - 0.12, -d / 2 + 0.1))
    for sx in (-1, 1):
        p.add("fabric", centred_box(arm, rng.uniform(0.18, 0.28) + seat - 0.1, d, sx * (w / 2 - arm / 2), 0.1))
    n = int(rng.integers(2, 4))
    cw = (w - 2 * arm) / n
    for i in range(n):  # seat cushions
        x = -w / 2 + arm + cw * (i + 0.5)
        p.add("fabric", centred_box(cw - 0.02, 0.12, d - 0.25, x, seat - 0.02, 0.1))
    return p


def bed(rng: np.random.Generator) -> Piece:
    w, d = rng.choice([0.9, 1.4, 1.6, 1.8]) + rng.uniform(0, 0.1), rng.uniform(2.0, 2.2)
    p = Piece(width=w, depth=d)
    frame = rng.uniform(0.2, 0.35)
    p.add("body", centred_box(w, frame, d, 0, 0))
    p.add("fabric", centred_box(w - 0.04, rng.uniform(0.18, 0.25), d - 0.05, 0, frame, 0.02))
    p.add("body", centred_box(w, rng.uniform(0.8, 1.2), 0.06, 0, 0, -d / 2 + 0.03))
    for sx in (-0.25, 0.25) if w > 1.2 else (0.0,):
        p.add("accent", sphere(0.25, sx * w, frame + 0.3, -d / 2 + 0.3, (1.2 if w > 1.2 else 1.6, 0.35, 0.7)))
    return p


def shelf(rng: np.random.Generator) -> Piece:
    w, d, h = rng.uniform(0.6, 1.6), rng.uniform(0.28, 0.42), rng.uniform(0.8, 2.2)
    p = Piece(width=w, depth=d)
    t = 0.02
    for sx in (-1, 1):
        p.add("body", centred_box(t, h, d, sx * (w / 2 - t / 2)))
    p.add("body", centred_box(w, h, 0.01, 0, 0, -d / 2 + 0.005))
    n = max(2, int(h / rng.uniform(0.3, 0.4)))
    for i in range(n + 1):
        y = min(i * h / n, h - t)
        p.add("body", centred_box(w - 2 * t, t, d, 0, y))
        if i < n and y + 0.3 < h:
            _shelf_objects(p, rng, w - 2 * t, d, y + t, h / n - t)
    return p


def _shelf_objects(p: Piece, rng: np.random.Generator, w: float, d: float, y: float, room: float) -> None:
    x = -w / 2 + rng.uniform(0, 0.08)
    while x < w / 2 - 0.05:
        kind = rng.random()
        if kind < 0.55:  # a run of books
            bw = rng.uniform(0.02, 0.05)
            bh = min(room - 0.02, rng.uniform(0.15, 0.3))
            p.add("clutter", centred_box(bw, bh, d * rng.uniform(0.6, 0.9), x + bw / 2, y, 0))
            x += bw + rng.uniform(0, 0.01)
        elif kind < 0.75:
            s = min(room - 0.02, rng.uniform(0.08, 0.25))
            p.add("clutter", centred_box(s, s * rng.uniform(0.4, 1.0), d * 0.7, x + s / 2, y, 0))
            x += s + rng.uniform(0.02, 0.1)
        elif kind < 0.85:
            r = rng.uniform(0.03, 0.07)
            p.add("accent", cylinder(r, min(room - 0.02, rng.uniform(0.08, 0.25)), x + r, y, 0, 10))
            x += 2 * r + 0.03
        else:
            x += rng.uniform(0.05, 0.3)  # a gap


def cabinet(rng: np.random.Generator) -> Piece:
    w, d, h = rng.uniform(0.5, 1.8), rng.uniform(0.4, 0.6), rng.uniform(0.5, 1.0)
    if rng.random() < 0.25:
        h = rng.uniform(1.6, 2.1)  # wardrobe
    p = Piece(width=w, depth=d)
    p.add("body", centred_box(w, h, d, 0, 0))
    doors = max(1, int(round(w / 0.5)))
    for i in range(doors):
        x = -w / 2 + w * (i + 0.5) / doors
        p.add("accent", centred_box(w / doors - 0.01, h - 0.04, 0.015, x, 0.02, d / 2 + 0.0075))
        p.add("metal", centred_box(0.015, 0.12, 0.025, x + (w / doors) * 0.35 * (-1) ** i, h * 0.6, d / 2 + 0.02))
    p.tops.append((h, w, d, 0.0))
    return p


def plant(rng: np.random.Generator) -> Piece:
    r, ph = rng.uniform(0.1, 0.25), rng.uniform(0.2, 0.5)
    p = Piece(width=2.5 * r, depth=2.5 * r, against_wall=rng.random() < 0.5)
    p.add("accent", cylinder(r * 0.8, ph, 0, 0, 0, 14, radius_top=r))
    for _ in range(int(rng.integers(3, 8))):
        s = rng.uniform(0.1, 0.25)
        c = rng.uniform(-r, r, 2)
        p.add("leaf", sphere(s, c[0], ph + rng.uniform(0.1, 0.6), c[1], tuple(rng.uniform(0.6, 1.4, 3)), 10))
    return p


def boxes(rng: np.random.Generator) -> Piece:
    p = Piece(width=0.8, depth=0.6, against_wall=rng.random() < 0.6)
    y = 0.0
    for _ in range(int(rng.integers(1, 4))):
        w, h, d = rng.uniform(0.25, 0.7), rng.uniform(0.15, 0.45), rng.uniform(0.25, 0.55)
        p.add(
            "clutter",
            centred_box(w, h, d, rng.uniform(-0.05, 0.05), y, rng.uniform(-0.05, 0.05)).transformed(rng.uniform(-0.3, 0.3)),
        )
        y += h
    return p


def floor_lamp(rng: np.random.Generator) -> Piece:
    h = rng.uniform(1.3, 1.8)
    p = Piece(width=0.4, depth=0.4, against_wall=False)
    p.add("metal", cylinder(0.15, 0.03, 0, 0, 0, 12))
    p.add("metal", cylinder(0.015, h, 0, 0, 0, 8))
    p.add("fabric", cylinder(0.2, 0.25, 0, h - 0.1, 0, 16, radius_top=0.12))
    return p


FAMILIES: dict[str, tuple[Callable[[np.random.Generator], Piece], float]] = {
    # name: (generator, relative frequency)
    "table": (table, 1.0),
    "desk": (desk, 1.0),
    "chair": (chair, 1.5),
    "sofa": (sofa, 0.8),
    "bed": (bed, 0.5),
    "shelf": (shelf, 1.2),
    "cabinet": (cabinet, 1.2),
    "plant": (plant, 0.8),
    "boxes": (boxes, 0.8),
    "floor_lamp": (floor_lamp, 0.4),
}


def clutter_item(rng: np.random.Generator) -> Mesh:
    """A small object for a table or cabinet top: box, book stack, bottle, bowl or mug."""
    kind = rng.random()
    if kind < 0.4:
        return centred_box(rng.uniform(0.08, 0.35), rng.uniform(0.02, 0.2), rng.uniform(0.08, 0.3))
    if kind < 0.7:
        r = rng.uniform(0.03, 0.08)
        return cylinder(r, rng.uniform(0.08, 0.3), segments=12, radius_top=r * rng.uniform(0.5, 1.0))
    return cylinder(rng.uniform(0.06, 0.15), rng.uniform(0.04, 0.1), segments=14, radius_top=rng.uniform(0.08, 0.18))


def floor_item(rng: np.random.Generator) -> tuple[Mesh, float]:
    """Something left on a floor (box, bin, bag or laundry, a pair of shoes, a ball), with its footprint radius."""
    kind = rng.random()
    if kind < 0.3:
        w, h, d = rng.uniform(0.15, 0.6), rng.uniform(0.1, 0.5), rng.uniform(0.15, 0.5)
        return centred_box(w, h, d), 0.5 * np.hypot(w, d)
    if kind < 0.5:
        r = rng.uniform(0.1, 0.25)
        return cylinder(r, rng.uniform(0.2, 0.6), segments=14, radius_top=r * rng.uniform(1.0, 1.2)), r * 1.2
    if kind < 0.75:
        r = rng.uniform(0.15, 0.4)
        squash = rng.uniform(0.3, 0.7)
        return sphere(r, 0, r * squash * 0.8, 0, (rng.uniform(0.8, 1.2), squash, rng.uniform(0.8, 1.2)), 10), r * 1.2
    if kind < 0.9:
        gap = rng.uniform(0.02, 0.08)
        shoe = [centred_box(0.1, rng.uniform(0.06, 0.12), 0.28, sx * (0.05 + gap / 2)) for sx in (-1, 1)]
        return merge(shoe), 0.2
    r = rng.uniform(0.05, 0.2)
    return sphere(r, 0, r, 0, (1, 1, 1), 12), r
