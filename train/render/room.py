"""Random rooms: a floor plan (rectangle or L), walls with doors and windows, lights, furniture, cameras.

Everything here is geometry and numbers, no renderer: a ``Room`` lists meshes by surface and the
lights; ``cameras`` places viewpoints where a person would stand and look. A room is a pure function
of (seed, index): each feature draws from its own generator, ``feature_rng(seed, index, FEATURE)``, so an
edit to how one feature is drawn leaves every other feature of every room as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from train.render import furniture
from train.render.geometry import Mesh, centred_box, polygon_floor, quad

OPEN_DOOR_SHARE = 0.5  # of doors: open onto a corridor or the next room
HALL_SHARE = 0.25  # of rooms: an open-plan office or hall, its plan 1.6-2.2x larger (9-20 m across), twice as full

# One random stream per feature of a room. The numbers are identities: never renumber, only add.
FEATURE_STREAMS = {"plan": 1, "walls": 2, "openings": 3, "lights": 4, "furniture": 5, "decor": 6, "rugs": 7,
                   "clutter": 8, "materials": 9, "cameras": 10, "develop": 11, "hall": 12}  # fmt: skip


def feature_rng(seed: int, index: int, feature: str) -> np.random.Generator:
    """The generator of one feature of room ``index`` of ``seed``."""
    return np.random.default_rng((seed, index, FEATURE_STREAMS[feature]))


@dataclass
class Light:
    """An area light: a rectangle (corner, two edges, emitting along their cross product) or a sphere."""

    kind: str  # "rect" | "sphere"
    radiance: np.ndarray  # linear RGB
    corner: np.ndarray | None = None
    edge_u: np.ndarray | None = None
    edge_v: np.ndarray | None = None
    centre: np.ndarray | None = None
    radius: float = 0.0


@dataclass
class SpaceBeyond:
    """A corridor or next room behind an open door, in plan: the doorway's centre, a corner, unit vectors along
    the wall and out of the room, and the extent along each."""

    door: np.ndarray
    corner: np.ndarray
    along: np.ndarray
    out: np.ndarray
    width: float
    depth: float

    def contains(self, p: np.ndarray, margin: float = 0.1) -> bool:
        u, v = (p - self.corner) @ self.along, (p - self.corner) @ self.out
        return -margin <= u <= self.width + margin and -margin <= v <= self.depth + margin


@dataclass
class Room:
    """Meshes grouped by surface (one material each) and lights; ``rects`` is the floor plan."""

    rects: list[tuple[float, float, float, float]]
    height: float
    surfaces: dict[str, list[Mesh]] = field(default_factory=dict)
    lights: list[Light] = field(default_factory=list)
    footprints: list[tuple[float, float, float]] = field(default_factory=list)  # (x, z, radius) of furniture
    tops: list[np.ndarray] = field(default_factory=list)  # centres of table and cabinet tops: what close-ups look at
    beyond: list[SpaceBeyond] = field(default_factory=list)  # spaces behind open doors

    def add(self, surface: str, mesh: Mesh) -> None:
        self.surfaces.setdefault(surface, []).append(mesh)

    def inside(self, x: float, z: float, margin: float = 0.0) -> bool:
        return any(x0 + margin <= x <= x1 - margin and z0 + margin <= z <= z1 - margin for x0, z0, x1, z1 in self.rects)


def floor_plan(rng: np.random.Generator) -> list[tuple[float, float, float, float]]:
    """One rectangle, or two that make an L; sides 2.5-9 m."""
    w, d = rng.uniform(2.5, 9.0), rng.uniform(2.5, 9.0)
    if rng.random() < 0.35 and min(w, d) > 3.5:
        cx, cz = rng.uniform(0.45, 0.7) * w, rng.uniform(0.45, 0.7) * d
        return [(0.0, 0.0, w, cz), (0.0, cz, cx, d)]
    return [(0.0, 0.0, w, d)]


def wall_segments(rects: list[tuple[float, float, float, float]]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Boundary edges of the plan as (start, end, inward normal) in the xz plane."""
    if len(rects) == 1:
        x0, z0, x1, z1 = rects[0]
        poly = [(x0, z0), (x1, z0), (x1, z1), (x0, z1)]
    else:
        (_, _, w, cz), (_, _, cx, d) = rects
        poly = [(0, 0), (w, 0), (w, cz), (cx, cz), (cx, d), (0, d)]
    segs = []
    for a, b in zip(poly, poly[1:] + poly[:1]):
        a, b = np.array(a, float), np.array(b, float)
        t = (b - a) / np.linalg.norm(b - a)
        normal = np.array([-t[1], t[0]])  # left of the edge; the polygon is counter-clockwise in (x, z)
        mid = (a + b) / 2 + 0.05 * normal
        if not any(r[0] <= mid[0] <= r[2] and r[1] <= mid[1] <= r[3] for r in rects):
            normal = -normal
        segs.append((a, b, normal))
    return segs


def _wall_point(seg, s: float, h: float, inset: float = 0.0) -> np.ndarray:
    a, b, n = seg
    p = a + (b - a) * s + n * inset
    return np.array([p[0], h, p[1]])


def _yaw_facing(normal: np.ndarray) -> float:
    """Yaw that turns a piece's +z front towards ``normal`` (xz)."""
    return float(np.arctan2(normal[0], normal[1]))


def build_room(seed: int, index: int) -> Room:
    """A furnished, lit room: room ``index`` of ``seed``, each feature from its own stream."""
    plan, hall = feature_rng(seed, index, "plan"), feature_rng(seed, index, "hall")
    rects = floor_plan(plan)
    height = plan.uniform(2.4, 3.2)
    if hall.random() < HALL_SHARE:  # real rooms have desks 5-9 m behind the nearest one; most plans end sooner
        grow = hall.uniform(1.6, 2.2)
        rects = [(x0 * grow, z0 * grow, x1 * grow, z1 * grow) for x0, z0, x1, z1 in rects]
    room = Room(rects, height)
    room.add("floor", polygon_floor(rects, 0.0, True))
    room.add("ceiling", polygon_floor(rects, height, False))
    segs = wall_segments(rects)
    skirting = feature_rng(seed, index, "walls").random() < 0.5
    used: list[tuple[int, float, float]] = []  # (segment, start, end) taken on walls
    doorways = _doors_and_windows(room, segs, feature_rng(seed, index, "openings"), used)
    for i, (a, b, n) in enumerate(segs):  # walls go round the open doorways
        gaps = sorted((s0, s1, h) for j, s0, s1, h in doorways if j == i)
        length = float(np.linalg.norm(b - a))
        along = np.array([b[0] - a[0], 0, b[1] - a[1]]) / length
        start = np.array([a[0], 0.0, a[1]])
        for s0, s1, bottom, top in wall_pieces(length, height, gaps):
            room.add("wall", quad(start + along * s0 + [0, bottom, 0], along * (s1 - s0), np.array([0, top - bottom, 0])))
            if skirting and bottom == 0.0:
                mid = _wall_point((a, b, n), (s0 + s1) / 2 / length, 0.0, 0.0075)
                room.add("trim", centred_box(s1 - s0, 0.08, 0.015).transformed(_yaw_facing(n), tuple(mid)))
    _lights(room, feature_rng(seed, index, "lights"))
    _furnish(room, segs, feature_rng(seed, index, "furniture"), used)
    _wall_decor(room, segs, feature_rng(seed, index, "decor"), used)
    _rugs(room, feature_rng(seed, index, "rugs"))
    _floor_clutter(room, feature_rng(seed, index, "clutter"))
    return room


def wall_pieces(length: float, height: float, gaps: list[tuple[float, float, float]]) -> list[tuple[float, float, float, float]]:
    """Rectangles (start, end, bottom, top) that cover a wall of ``length`` x ``height`` except doorway gaps
    (start, end, height) along it, sorted and apart: full-height spans between them, a lintel above each."""
    pieces, at = [], 0.0
    for s0, s1, h in gaps:
        if s0 > at:
            pieces.append((at, s0, 0.0, height))
        pieces.append((s0, s1, h, height))
        at = s1
    if at < length:
        pieces.append((at, length, 0.0, height))
    return pieces


def _free_span(segs, rng, used, width: float) -> tuple[int, float] | None:
    for _ in range(20):
        i = int(rng.integers(len(segs)))
        length = np.linalg.norm(segs[i][1] - segs[i][0])
        if length < width + 0.3:
            continue
        start = rng.uniform(0.15, length - width - 0.15)
        if all(j != i or start + width < s0 or start > s1 for j, s0, s1 in used):
            used.append((i, start - 0.05, start + width + 0.05))
            return i, (start + width / 2) / length
    return None


def _doors_and_windows(room: Room, segs, rng: np.random.Generator, used) -> list[tuple[int, float, float, float]]:
    """Doors (closed, or open onto a space beyond) and daylit windows; returns the open doorways as
    (segment, start, end, height), which the walls leave out."""
    doorways = []
    for k in range(int(rng.integers(0, 3))):
        w = rng.uniform(0.8, 1.0)
        spot = _free_span(segs, rng, used, w + 0.1)
        if spot is None:
            continue
        seg = segs[spot[0]]
        yaw = _yaw_facing(seg[2])
        h = min(2.1, room.height - 0.1)
        base = tuple(_wall_point(seg, spot[1], 0.0, 0.02))
        # Real rooms are seen through open doors: a corridor or the next room behind, depth past the wall.
        if rng.random() < OPEN_DOOR_SHARE and _space_beyond(room, seg, spot[1], w, h, rng, f"beyond{k}"):
            centre = spot[1] * float(np.linalg.norm(seg[1] - seg[0]))
            doorways.append((spot[0], centre - w / 2, centre + w / 2, h))
        else:
            room.add("door", centred_box(w, h, 0.04).transformed(yaw, base))
        for sx in (-1, 1):
            room.add("trim", centred_box(0.06, h + 0.06, 0.05, sx * (w / 2 + 0.03)).transformed(yaw, base))
        room.add("trim", centred_box(w + 0.12, 0.06, 0.05, 0, h).transformed(yaw, base))
    for _ in range(int(rng.integers(0, 4))):
        w, h = rng.uniform(0.6, 2.2), rng.uniform(0.8, 1.6)
        sill = rng.uniform(0.6, 1.0)
        h = min(h, room.height - sill - 0.2)
        spot = _free_span(segs, rng, used, w + 0.2)
        if spot is None or h < 0.4:
            continue
        seg = segs[spot[0]]
        a, b, n = seg
        t = (b - a) / np.linalg.norm(b - a)
        centre = _wall_point(seg, spot[1], sill, 0.005)
        corner = centre - np.array([t[0], 0, t[1]]) * w / 2
        edge_u, edge_v = np.array([t[0], 0, t[1]]) * w, np.array([0, h, 0])
        if np.dot(np.cross(edge_u, edge_v), np.array([n[0], 0, n[1]])) < 0:
            corner, edge_u = corner + edge_u, -edge_u
        sky = np.array([0.9, 0.95, 1.05]) * rng.uniform(0.85, 1.15, 3)
        room.lights.append(Light("rect", sky * rng.uniform(3, 25), corner, edge_u, edge_v))
        yaw = _yaw_facing(n)
        base = tuple(_wall_point(seg, spot[1], 0.0, 0.0))
        for sx in (-1, 1):
            room.add("trim", centred_box(0.05, h, 0.08, sx * (w / 2 + 0.025), sill).transformed(yaw, base))
        room.add("trim", centred_box(w + 0.1, 0.05, 0.08, 0, sill + h).transformed(yaw, base))
        room.add("trim", centred_box(w + 0.16, 0.04, rng.uniform(0.12, 0.25), 0, sill - 0.04).transformed(yaw, base))
        if rng.random() < 0.5:  # mullion
            room.add("trim", centred_box(0.04, h, 0.04, 0, sill).transformed(yaw, base))
    return doorways


def _space_beyond(room: Room, seg, s: float, w: float, h: float, rng: np.random.Generator, name: str) -> bool:
    """A closed box behind a doorway at fraction ``s`` of wall ``seg``: a corridor or the next room,
    1-5 m deep, sometimes lit; False (nothing added) where it would reach into this room."""
    a, b, n = seg
    along = (b - a) / np.linalg.norm(b - a)
    out = -np.asarray(n, float)
    door = a + (b - a) * s
    depth, left, right = rng.uniform(1.0, 5.0), rng.uniform(0.2, 2.5), rng.uniform(0.2, 2.5)
    left, right = left + w / 2, right + w / 2
    across = np.linspace(-left, right, 9)
    ahead = np.linspace(0.05, depth, 9)
    points = [door + along * u + out * v for u in across for v in ahead]
    if any(room.inside(*p) or any(space.contains(p) for space in room.beyond) for p in points):
        return False
    height = rng.uniform(max(h + 0.1, 2.3), max(h + 0.2, room.height))
    lo = door - along * left
    corner = np.array([lo[0], 0.0, lo[1]])
    u3 = np.array([along[0], 0.0, along[1]]) * (left + right)
    v3 = np.array([out[0], 0.0, out[1]]) * depth
    up = np.array([0.0, height, 0.0])
    room.beyond.append(SpaceBeyond(door, lo, along, out, left + right, depth))
    room.add(f"{name}:floor", quad(corner, u3, v3))
    room.add(f"{name}:ceiling", quad(corner + up, u3, v3))
    for c, e in ((corner + v3, u3), (corner, v3), (corner + u3, v3)):  # back wall and the two sides
        room.add(f"{name}:wall", quad(c, e, up))
    if rng.random() < 0.6:  # a ceiling light beyond; otherwise lit only by what comes through the door
        size = np.array([min(0.8, left + right - 0.2), min(0.6, depth - 0.2)])
        centre = corner + (u3 + v3) / 2 + [0, height - 0.01, 0]
        eu, ev = u3 / np.linalg.norm(u3) * size[0], v3 / np.linalg.norm(v3) * size[1]
        if np.cross(eu, ev)[1] > 0:  # a rectangle emits along its edges' cross product: down, into the space
            eu, ev = ev, eu
        room.lights.append(Light("rect", _lamp_colour(rng) * rng.uniform(4, 20), centre - (eu + ev) / 2, eu, ev))
    return True


def _floor_clutter(room: Room, rng: np.random.Generator) -> None:
    """Things left on floors (boxes, bins, bags, shoes, toys): real rooms are rarely clear between the
    furniture, and each is a small depth edge on the floor's gradient."""
    area = sum((x1 - x0) * (z1 - z0) for x0, z0, x1, z1 in room.rects)
    for k in range(int(rng.integers(0, 2 + int(area / 4)))):
        item, radius = furniture.floor_item(rng)
        x0, z0, x1, z1 = room.rects[int(rng.integers(len(room.rects)))]
        x, z = rng.uniform(x0 + 0.15, x1 - 0.15), rng.uniform(z0 + 0.15, z1 - 0.15)
        if not room.inside(x, z, radius) or _overlaps(room, x, z, radius):
            continue
        room.add(f"floor{k}:clutter", item.transformed(rng.uniform(-np.pi, np.pi), (x, 0.0, z)))
        room.footprints.append((x, z, radius))


def _lamp_colour(rng: np.random.Generator) -> np.ndarray:
    """Warm white six times in ten, else cool white (linear RGB, unit brightness)."""
    return np.array([1.0, 0.85, 0.65]) if rng.random() < 0.6 else np.array([0.95, 0.97, 1.0])


def _lights(room: Room, rng: np.random.Generator) -> None:
    warm = _lamp_colour(rng)
    for x0, z0, x1, z1 in room.rects:
        area = (x1 - x0) * (z1 - z0)
        for _ in range(max(1, int(area / rng.uniform(8, 20)))):
            x, z = rng.uniform(x0 + 0.5, x1 - 0.5), rng.uniform(z0 + 0.5, z1 - 0.5)
            if rng.random() < 0.5:  # ceiling panel, emitting down
                w, d = rng.uniform(0.3, 1.2), rng.uniform(0.3, 0.6)
                corner = np.array([x - w / 2, room.height - 0.01, z - d / 2])
                room.lights.append(Light("rect", warm * rng.uniform(4, 20), corner, np.array([w, 0, 0]), np.array([0, 0, d])))
                room.add("trim", centred_box(w + 0.04, 0.02, d + 0.04, x, room.height - 0.005, z))
            else:  # pendant or ceiling bulb
                drop = rng.uniform(0.05, 0.8)
                r = rng.uniform(0.05, 0.15)
                room.lights.append(
                    Light("sphere", warm * rng.uniform(10, 60), centre=np.array([x, room.height - drop - r, z]), radius=r)
                )
                if drop > 0.1:
                    room.add("trim", centred_box(0.01, drop, 0.01, x, room.height - drop, z))


def _furnish(room: Room, segs, rng: np.random.Generator, used) -> None:
    names = list(furniture.FAMILIES)
    weights = np.array([furniture.FAMILIES[n][1] for n in names])
    area = sum((x1 - x0) * (z1 - z0) for x0, z0, x1, z1 in room.rects)
    # Real rooms are full: one piece per 1.5-4 m^2 of floor (an empty box teaches "walls are far"); halls hold more.
    for k in range(int(np.clip(area / rng.uniform(1.5, 4.0), 3, 24 if area < 90 else 48))):
        piece = furniture.FAMILIES[names[rng.choice(len(names), p=weights / weights.sum())]][0](rng)
        placed = _place_on_wall(room, piece, segs, rng, used) if piece.against_wall else _place_free(room, piece, rng)
        if placed is None:
            continue
        x, z, yaw = placed
        for slot, meshes in piece.parts.items():
            for m in meshes:
                room.add(f"piece{k}:{slot}", m.transformed(yaw, (x, 0, z)))
        for top_h, tw, td, tz in piece.tops:  # clutter on tables and cabinets
            room.tops.append(np.array([x + np.sin(yaw) * tz, top_h, z + np.cos(yaw) * tz]))
            for _ in range(int(rng.integers(0, 8))):
                item = furniture.clutter_item(rng)
                lx, lz = rng.uniform(-tw / 2 + 0.1, tw / 2 - 0.1), tz + rng.uniform(-td / 2 + 0.1, td / 2 - 0.1)
                item = item.transformed(rng.uniform(0, np.pi), (lx, top_h, lz))
                room.add(f"piece{k}:clutter", item.transformed(yaw, (x, 0, z)))
        room.footprints.append((x, z, 0.5 * np.hypot(piece.width, piece.depth)))


def _wall_decor(room: Room, segs, rng: np.random.Generator, used) -> None:
    """Pictures, posters, wall shelves and screens: texture and small depth steps on otherwise bare walls."""
    for k in range(int(rng.integers(1, 7))):
        kind = rng.random()
        w = rng.uniform(0.3, 1.4) if kind < 0.7 else rng.uniform(0.6, 1.4)
        spot = _free_span(segs, rng, used, w)
        if spot is None:
            continue
        seg = segs[spot[0]]
        parts: list[tuple[str, Mesh]] = []  # (material slot, mesh) with the wall at z = 0 and the room at +z
        if kind < 0.7:  # a framed picture or a poster
            h = min(rng.uniform(0.3, 1.0), room.height - 1.2)
            y = rng.uniform(1.0, max(1.05, room.height - h - 0.25))
            t = rng.uniform(0.01, 0.05)
            parts.append(("picture", centred_box(w, h, t, 0, y, t / 2)))
            if rng.random() < 0.7:
                f = rng.uniform(0.015, 0.05)
                ft, fz = t + 0.01, (t + 0.01) / 2  # frame depth and centre, a little proud of the picture
                for dy in (0.0, h - f):
                    parts.append(("accent", centred_box(w + 2 * f, f, ft, 0, y + dy, fz)))
                for sx in (-1, 1):
                    parts.append(("accent", centred_box(f, h, ft, sx * (w + f) / 2, y, fz)))
        elif kind < 0.85:  # a wall shelf with objects
            d, y = rng.uniform(0.18, 0.3), rng.uniform(1.1, min(2.0, room.height - 0.4))
            parts.append(("body", centred_box(w, 0.025, d, 0, y, d / 2)))
            for _ in range(int(rng.integers(1, 6))):
                item = furniture.clutter_item(rng).transformed(rng.uniform(0, np.pi))
                half = np.abs(item.vertices[:, [0, 2]]).max(0)
                if 2 * half[1] > d or 2 * half[0] > w:  # deeper than the board: would go into the wall
                    continue
                x = rng.uniform(-w / 2 + half[0], w / 2 - half[0])
                parts.append(("clutter", item.transformed(0.0, (x, y + 0.025, d / 2))))
        else:  # a wall-mounted screen
            h, y = w * 0.58, rng.uniform(1.0, 1.5)
            parts.append(("metal", centred_box(w, h, 0.05, 0, y, 0.025)))
            parts.append(("screen", centred_box(w - 0.03, h - 0.03, 0.005, 0, y + 0.015, 0.052)))
        yaw, base = _yaw_facing(seg[2]), tuple(_wall_point(seg, spot[1], 0.0, 0.0))
        for slot, mesh in parts:
            room.add(f"decor{k}:{slot}", mesh.transformed(yaw, base))


def _rugs(room: Room, rng: np.random.Generator) -> None:
    for k in range(int(rng.integers(0, 3))):
        x0, z0, x1, z1 = room.rects[int(rng.integers(len(room.rects)))]
        yaw = rng.uniform(-0.3, 0.3)
        c, s = abs(np.cos(yaw)), abs(np.sin(yaw))
        w, d = rng.uniform(0.8, min(3.0, x1 - x0 - 0.2)), rng.uniform(0.6, min(2.5, z1 - z0 - 0.2))
        ex, ez = (w * c + d * s) / 2, (w * s + d * c) / 2  # half extents once turned
        if 2 * ex > x1 - x0 - 0.2 or 2 * ez > z1 - z0 - 0.2:
            continue
        x, z = rng.uniform(x0 + ex + 0.1, x1 - ex - 0.1), rng.uniform(z0 + ez + 0.1, z1 - ez - 0.1)
        rug = centred_box(w, rng.uniform(0.005, 0.015), d).transformed(yaw, (x, 0.0, z))
        room.add(f"rug{k}:fabric", rug)


def _overlaps(room: Room, x: float, z: float, r: float) -> bool:
    return any(np.hypot(x - fx, z - fz) < r + fr * 0.9 for fx, fz, fr in room.footprints)


def _place_on_wall(room: Room, piece, segs, rng, used) -> tuple[float, float, float] | None:
    spot = _free_span(segs, rng, used, piece.width)
    if spot is None:
        return None
    seg = segs[spot[0]]
    p = seg[0] + (seg[1] - seg[0]) * spot[1] + seg[2] * (piece.depth / 2 + 0.02)
    r = 0.5 * min(piece.width, piece.depth)
    if not room.inside(p[0], p[1], 0.05) or _overlaps(room, p[0], p[1], r):
        return None
    return float(p[0]), float(p[1]), _yaw_facing(seg[2])


def _place_free(room: Room, piece, rng) -> tuple[float, float, float] | None:
    r = 0.5 * np.hypot(piece.width, piece.depth)
    for _ in range(15):
        x0, z0, x1, z1 = room.rects[int(rng.integers(len(room.rects)))]
        if x1 - x0 < 2 * r + 0.2 or z1 - z0 < 2 * r + 0.2:
            continue
        x, z = rng.uniform(x0 + r + 0.1, x1 - r - 0.1), rng.uniform(z0 + r + 0.1, z1 - r - 0.1)
        if room.inside(x, z, r * 0.7) and not _overlaps(room, x, z, r):
            return float(x), float(z), float(rng.uniform(-np.pi, np.pi))
    return None


@dataclass
class Camera:
    """A pinhole camera: position, look-at target, up vector and horizontal field of view (degrees)."""

    origin: np.ndarray
    target: np.ndarray
    up: np.ndarray
    fov: float
    close_up: bool = False  # a look at a table or cabinet top at arm's length (its views may be nearer)
    near: bool = False  # a close-up from 0.2-0.5 m (nearer still)


def random_camera(room: Room, rng: np.random.Generator) -> Camera | None:
    """A viewpoint where a person could stand: 0.4-1.9 m high, pitch -35..+15, roll +-5, FOV 45-90."""
    for _ in range(30):
        x0, z0, x1, z1 = room.rects[int(rng.integers(len(room.rects)))]
        x, z = rng.uniform(x0 + 0.3, x1 - 0.3), rng.uniform(z0 + 0.3, z1 - 0.3)
        if _standable(room, x, z):
            break
    else:
        return None
    height = float(np.clip(rng.normal(1.35, 0.35), 0.4, 1.9))
    # Look across the room more often than at the nearest wall: aim at a far point of the plan.
    bx0, bz0 = min(r[0] for r in room.rects), min(r[1] for r in room.rects)
    bx1, bz1 = max(r[2] for r in room.rects), max(r[3] for r in room.rects)
    far = np.array([rng.uniform(bx0, bx1), rng.uniform(bz0, bz1)]) - np.array([x, z])
    yaw = np.arctan2(far[0], far[1]) + rng.normal(0, 0.5)
    pitch = np.radians(np.clip(rng.normal(-10, 12), -35, 15))
    return _camera(np.array([x, height, z]), yaw, pitch, rng)


def close_up_camera(room: Room, rng: np.random.Generator, near_share: float = 0.0) -> Camera | None:
    """A look at a table or cabinet top, as people film desks and shelves: from 0.5-1.4 m (pitch down to -55), or
    for ``near_share`` of them a phone held 0.2-0.5 m from the top, over it (pitch down to -65). Near views are off
    unless asked for: trained on, they pushed real near scenes farther (model card, "Nearer and farther rendered
    views"). With ``near_share`` 0 the stream draws exactly as before near views existed."""
    if not room.tops:
        return None
    for _ in range(30):
        top = room.tops[int(rng.integers(len(room.tops)))]
        if near_share and rng.random() < near_share:
            cam = _near_camera(room, top, rng)
            if cam is not None:
                return cam
            continue
        angle, distance = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.4)
        x, z = top[0] + distance * np.sin(angle), top[2] + distance * np.cos(angle)
        height = float(np.clip(top[1] + rng.uniform(0.1, 0.9), 0.4, 1.9))
        look = top + rng.normal(0, 0.15, 3) - np.array([x, height, z])
        pitch = np.arctan2(look[1], np.hypot(look[0], look[2]))
        if _standable(room, x, z) and np.radians(-55) <= pitch <= np.radians(15):
            return _camera(np.array([x, height, z]), np.arctan2(look[0], look[2]), pitch, rng, close_up=True)
    return None


def _near_camera(room: Room, top: np.ndarray, rng: np.random.Generator) -> Camera | None:
    """A camera 0.2-0.5 m from a point of ``top``, 15-65 degrees above it; it may hang over its own piece of
    furniture (the footprint nearest the top) but not inside another one."""
    distance, elevation, angle = rng.uniform(0.2, 0.5), np.radians(rng.uniform(15, 65)), rng.uniform(0, 2 * np.pi)
    aim = top + np.array([rng.normal(0, 0.1), 0.0, rng.normal(0, 0.1)])
    x = aim[0] + distance * np.cos(elevation) * np.sin(angle)
    z = aim[2] + distance * np.cos(elevation) * np.cos(angle)
    height = float(aim[1] + distance * np.sin(elevation))
    own = min(range(len(room.footprints)), key=lambda i: np.hypot(top[0] - room.footprints[i][0], top[2] - room.footprints[i][1]))
    others = [f for i, f in enumerate(room.footprints) if i != own]
    if not (room.inside(x, z, 0.1) and 0.3 <= height <= 1.9 and _clear_of(others, x, z)):
        return None
    look = aim - np.array([x, height, z])
    pitch = np.arctan2(look[1], np.hypot(look[0], look[2]))
    return _camera(np.array([x, height, z]), np.arctan2(look[0], look[2]), pitch, rng, close_up=True, near=True)


def _standable(room: Room, x: float, z: float) -> bool:
    return room.inside(x, z, 0.3) and _clear_of(room.footprints, x, z)


def _clear_of(footprints: list[tuple[float, float, float]], x: float, z: float) -> bool:
    """Whether (x, z) stands outside every furniture footprint (x, z, radius), allowing for their corners."""
    return not any(np.hypot(x - fx, z - fz) < fr * 0.8 for fx, fz, fr in footprints)


def _camera(origin: np.ndarray, yaw: float, pitch: float, rng: np.random.Generator, close_up: bool = False,
            near: bool = False) -> Camera:  # fmt: skip
    """Camera at ``origin`` looking along (yaw, pitch), rolled by +-5 degrees, FOV 45-90."""
    roll = np.radians(rng.uniform(-5, 5))
    forward = np.array([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)])
    right = np.cross(forward, [0, 1, 0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    up = np.cos(roll) * up + np.sin(roll) * right
    return Camera(origin, origin + forward, up, float(rng.uniform(45, 90)), close_up, near)
