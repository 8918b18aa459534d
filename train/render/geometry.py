"""Triangle meshes for rooms and furniture: boxes, cylinders, spheres and quads with UVs in metres.

Coordinates: y up, floor at y = 0, metres. UVs are in metres too (texture size is applied later, per
material), so a plank or a tile has the same real size on every object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Mesh:
    """Vertices (N x 3), faces (M x 3, int), UVs in metres (N x 2)."""

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray

    def transformed(self, yaw: float = 0.0, offset: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Mesh:
        """Rotate about the vertical axis by ``yaw`` (radians), then translate."""
        c, s = np.cos(yaw), np.sin(yaw)
        rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
        return Mesh(self.vertices @ rot.T + np.asarray(offset), self.faces, self.uvs)


def merge(meshes: list[Mesh]) -> Mesh:
    """One mesh from many (faces re-indexed)."""
    verts, faces, uvs, base = [], [], [], 0
    for m in meshes:
        verts.append(m.vertices)
        faces.append(m.faces + base)
        uvs.append(m.uvs)
        base += len(m.vertices)
    return Mesh(np.concatenate(verts), np.concatenate(faces), np.concatenate(uvs))


def quad(corner: np.ndarray, edge_u: np.ndarray, edge_v: np.ndarray) -> Mesh:
    """A parallelogram from ``corner`` spanned by two edges; UVs follow the edges' lengths."""
    corner, edge_u, edge_v = (np.asarray(a, float) for a in (corner, edge_u, edge_v))
    verts = np.stack([corner, corner + edge_u, corner + edge_u + edge_v, corner + edge_v])
    lu, lv = np.linalg.norm(edge_u), np.linalg.norm(edge_v)
    uvs = np.array([[0, 0], [lu, 0], [lu, lv], [0, lv]], float)
    return Mesh(verts, np.array([[0, 1, 2], [0, 2, 3]]), uvs)


def box(lo: tuple[float, float, float], hi: tuple[float, float, float]) -> Mesh:
    """An axis-aligned box (outward faces), each face with its own UVs."""
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    dx, dy, dz = np.array([x1 - x0, 0, 0]), np.array([0, y1 - y0, 0]), np.array([0, 0, z1 - z0])
    p = np.array([x0, y0, z0], float)
    faces = [
        quad(p, dz, dy),  # x0 side
        quad(p + dx, dy, dz),  # x1 side
        quad(p, dx, dz),  # bottom
        quad(p + dy, dz, dx),  # top
        quad(p, dy, dx),  # z0 side
        quad(p + dz, dx, dy),  # z1 side
    ]
    return merge(faces)


def centred_box(width: float, height: float, depth: float, x: float = 0.0, y: float = 0.0, z: float = 0.0) -> Mesh:
    """Box of size (width, height, depth) whose bottom centre sits at (x, y, z)."""
    return box((x - width / 2, y, z - depth / 2), (x + width / 2, y + height, z + depth / 2))


def cylinder(radius: float, height: float, x: float = 0.0, y: float = 0.0, z: float = 0.0, segments: int = 16,
             radius_top: float | None = None) -> Mesh:  # fmt: skip
    """Vertical (possibly tapered) cylinder with caps, bottom centre at (x, y, z)."""
    r1 = radius if radius_top is None else radius_top
    a = np.linspace(0, 2 * np.pi, segments + 1)
    ring0 = np.stack([x + radius * np.cos(a), np.full_like(a, y), z + radius * np.sin(a)], 1)
    ring1 = np.stack([x + r1 * np.cos(a), np.full_like(a, y + height), z + r1 * np.sin(a)], 1)
    verts = np.concatenate([ring0, ring1])
    arc = a * radius
    uvs = np.concatenate([np.stack([arc, np.zeros_like(a)], 1), np.stack([arc, np.full_like(a, height)], 1)])
    n = segments + 1
    faces = []
    for i in range(segments):
        faces += [[i, i + n + 1, i + 1], [i, i + n, i + n + 1]]
    side = Mesh(verts, np.array(faces), uvs)
    caps = []
    for ring, yy, r in ((ring0, y, radius), (ring1, y + height, r1)):
        centre = np.array([[x, yy, z]])
        cv = np.concatenate([centre, ring[:-1]])
        cuv = cv[:, [0, 2]] - np.array([x - r, z - r])
        cf = np.array([[0, i + 1, (i + 1) % segments + 1] for i in range(segments)])
        caps.append(Mesh(cv, cf, cuv))
    return merge([side, *caps])


def sphere(radius: float, x: float, y: float, z: float, scale: tuple[float, float, float] = (1, 1, 1),
           segments: int = 12) -> Mesh:  # fmt: skip
    """UV sphere (or ellipsoid through ``scale``) centred at (x, y, z)."""
    th = np.linspace(0, np.pi, segments // 2 + 1)
    ph = np.linspace(0, 2 * np.pi, segments + 1)
    t, p = np.meshgrid(th, ph, indexing="ij")
    verts = np.stack([np.sin(t) * np.cos(p), np.cos(t), np.sin(t) * np.sin(p)], -1).reshape(-1, 3)
    verts = verts * radius * np.asarray(scale) + np.array([x, y, z])
    uvs = np.stack([p * radius, t * radius], -1).reshape(-1, 2)
    cols = segments + 1
    faces = []
    for i in range(len(th) - 1):
        for j in range(segments):
            a, b = i * cols + j, (i + 1) * cols + j
            faces += [[a, b, b + 1], [a, b + 1, a + 1]]
    return Mesh(verts, np.array(faces), uvs)


def polygon_floor(rects: list[tuple[float, float, float, float]], y: float, facing_up: bool) -> Mesh:
    """Floor or ceiling over a union of axis-aligned rectangles (x0, z0, x1, z1) at height ``y``."""
    parts = []
    for x0, z0, x1, z1 in rects:
        corner = np.array([x0, y, z0])
        du, dv = np.array([x1 - x0, 0, 0]), np.array([0, 0, z1 - z0])
        m = quad(corner, dv, du) if facing_up else quad(corner, du, dv)
        m.uvs = m.vertices[:, [0, 2]].copy()  # world-aligned, so tiles continue across rectangles
        parts.append(m)
    return merge(parts)
