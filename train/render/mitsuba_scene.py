"""A ``Room`` as a Mitsuba 3 scene: path-traced RGB and exact planar z-depth per camera.

Mitsuba is imported lazily (it is a training-data extra, ``pip install "rtdepth[render]"``). On a CPU
its LLVM backend needs libLLVM >= 16: ``DRJIT_LIBLLVM_PATH`` is pointed at a system copy when one is
found. Depth is not taken from Mitsuba's depth AOV (distance along the ray, averaged over a pixel's
samples, which blends edges): one ray per pixel centre from the same sensor is intersected with the
scene and its distance turned into z along the optical axis.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

import numpy as np

from rtdepth.errors import RtdepthError
from train.render.geometry import Mesh, merge
from train.render.room import Camera, Room
from train.render.textures import PhotoCrops, Texture, for_surface

_LLVM_CANDIDATES = (
    "/usr/lib/*/libLLVM.so.*",
    "/usr/lib/*/libLLVM-*.so*",
    "/usr/lib/llvm-*/lib/libLLVM*.so*",
    "/usr/local/lib/libLLVM*.so*",
)


def import_mitsuba(threads: int | None = None):
    """Import Mitsuba with the CPU (LLVM) RGB variant, or fail with one line saying what is missing.

    An LLVM older than 16 is refused before Dr.Jit can load it: its JIT aborts the whole process at the
    first render (not at import), which no ``except`` can catch."""
    _choose_llvm()
    try:
        import drjit as dr
        import mitsuba as mi
    except ImportError as exc:
        raise RtdepthError('rendering needs Mitsuba 3: pip install "rtdepth[render]"') from exc
    try:
        mi.set_variant("llvm_ad_rgb")
    except Exception as exc:  # drjit raises a plain exception when libLLVM is missing or too old
        raise RtdepthError(_LLVM_HINT) from exc
    if threads:
        dr.set_thread_count(threads)
    return mi, dr


_LLVM_HINT = "Mitsuba's CPU backend needs libLLVM >= 16 (Debian: apt-get install libllvm19; or set DRJIT_LIBLLVM_PATH)"


def llvm_major(path: str) -> int | None:
    """The LLVM major version a library's file name carries (``libLLVM.so.19.1``, ``libLLVM-15.so.1``,
    ``/usr/lib/llvm-17/lib/libLLVM.so``), or None when the name does not say."""
    found = re.search(r"llvm-(\d+)/|libLLVM-(\d+)|libLLVM\.so\.(\d{2,})", path, re.IGNORECASE)
    return int(next(g for g in found.groups() if g)) if found else None


def _choose_llvm() -> None:
    """Point Dr.Jit at a libLLVM >= 16, or refuse (one line) when only older ones are at hand."""
    given = os.environ.get("DRJIT_LIBLLVM_PATH")
    if given:
        version = llvm_major(given)
        if version is not None and version < 16:
            raise RtdepthError(f"DRJIT_LIBLLVM_PATH names LLVM {version}; {_LLVM_HINT}")
        return
    found = sorted({p for pattern in _LLVM_CANDIDATES for p in glob.glob(pattern)})
    newer = sorted((llvm_major(p), p) for p in found if (llvm_major(p) or 0) >= 16)
    if not newer:
        raise RtdepthError(_LLVM_HINT)
    os.environ["DRJIT_LIBLLVM_PATH"] = newer[-1][1]


def write_ply(path: Path, mesh: Mesh) -> None:
    """Binary little-endian PLY with positions and UVs (Mitsuba's ``ply`` shape reads both)."""
    v = np.concatenate([mesh.vertices, mesh.uvs], 1).astype("<f4")
    f = np.concatenate([np.full((len(mesh.faces), 1), 3, np.uint8), mesh.faces.astype("<i4").view(np.uint8).reshape(-1, 12)], 1)
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(v)}\nproperty float x\nproperty float y\nproperty float z\nproperty float u\nproperty float v\n"
        f"element face {len(mesh.faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    with open(path, "wb") as fh:
        fh.write(header.encode())
        fh.write(v.tobytes())
        fh.write(f.tobytes())


def _srgb_to_linear(img: np.ndarray) -> np.ndarray:
    return np.where(img <= 0.04045, img / 12.92, ((img + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _texture(mi, tex: Texture) -> dict:
    return {
        "type": "bitmap",
        "bitmap": mi.Bitmap(_srgb_to_linear(np.ascontiguousarray(tex.image, np.float32))),
        "raw": True,
        "to_uv": mi.ScalarTransform4f().scale([1.0 / tex.metres, 1.0 / tex.metres, 1.0]),
    }


def _surface_kind(surface: str) -> str:
    slot = surface.split(":")[-1]
    return {"door": "body", "trim": "body"}.get(slot, slot)


def material(mi, surface: str, rng: np.random.Generator, photos: PhotoCrops) -> dict:
    """A BSDF for a surface: textured diffuse or glossy plastic, metal, screen glass, leaves."""
    kind = _surface_kind(surface)
    if kind == "metal":
        bsdf = {"type": "roughconductor", "material": str(rng.choice(["Al", "Cr", "Ag", "Cu"])), "alpha": rng.uniform(0.1, 0.4)}
    elif kind == "screen":
        bsdf = {"type": "roughplastic", "diffuse_reflectance": {"type": "rgb", "value": [0.01, 0.01, 0.012]}, "alpha": 0.03}
    elif kind == "leaf":
        green = np.array([rng.uniform(0.05, 0.2), rng.uniform(0.2, 0.45), rng.uniform(0.03, 0.12)])
        bsdf = {"type": "diffuse", "reflectance": {"type": "rgb", "value": green.tolist()}}
    else:
        tex = _texture(mi, for_surface(kind, rng, photos))
        glossy = {"floor": 0.45, "body": 0.35, "accent": 0.35, "clutter": 0.3, "wall": 0.1}.get(kind, 0.05)
        if rng.random() < glossy:
            bsdf = {"type": "roughplastic", "diffuse_reflectance": tex, "alpha": rng.uniform(0.05, 0.35)}
        else:
            bsdf = {"type": "diffuse", "reflectance": tex}
    return {"type": "twosided", "bsdf": bsdf}


def _rect_transform(mi, corner: np.ndarray, edge_u: np.ndarray, edge_v: np.ndarray):
    """Maps Mitsuba's [-1, 1]^2 rectangle (normal +z) onto corner + [0, 1] edges."""
    normal = np.cross(edge_u, edge_v)
    normal /= np.linalg.norm(normal)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2] = edge_u / 2, edge_v / 2, normal
    m[:3, 3] = corner + (edge_u + edge_v) / 2
    return mi.ScalarTransform4f(m.tolist())


def scene_dict(mi, room: Room, rng: np.random.Generator, photos: PhotoCrops, workdir: Path, max_bounces: int = 5) -> dict:
    """The Mitsuba scene of a room; meshes go to PLY files in ``workdir``."""
    scene: dict = {"type": "scene", "integrator": {"type": "path", "max_depth": max_bounces}}
    for k, (surface, meshes) in enumerate(sorted(room.surfaces.items())):
        path = workdir / f"s{k}.ply"
        write_ply(path, merge(meshes))
        scene[f"s{k}"] = {"type": "ply", "filename": str(path), "face_normals": True,
                          "bsdf": material(mi, surface, rng, photos)}  # fmt: skip
    for k, light in enumerate(room.lights):
        emitter = {"type": "area", "radiance": {"type": "rgb", "value": np.asarray(light.radiance).tolist()}}
        if light.kind == "rect":
            scene[f"l{k}"] = {"type": "rectangle", "to_world": _rect_transform(mi, light.corner, light.edge_u, light.edge_v),
                              "emitter": emitter}  # fmt: skip
        else:
            scene[f"l{k}"] = {"type": "sphere", "center": light.centre.tolist(), "radius": light.radius, "emitter": emitter}
    return scene


def sensor_dict(mi, cam: Camera, size: tuple[int, int], spp: int) -> dict:
    """A perspective sensor for ``cam`` with a box pixel filter (no blur across pixels) and ``spp`` samples."""
    w, h = size
    return {
        "type": "perspective",
        "fov": cam.fov,
        "fov_axis": "x",
        "near_clip": 0.01,
        "to_world": mi.ScalarTransform4f().look_at(origin=cam.origin.tolist(), target=cam.target.tolist(), up=cam.up.tolist()),
        "film": {"type": "hdrfilm", "width": w, "height": h, "rfilter": {"type": "box"}, "pixel_format": "rgb"},
        "sampler": {"type": "independent", "sample_count": spp},
    }


def z_depth(mi, dr, scene, sensor, cam: Camera, size: tuple[int, int]) -> np.ndarray:
    """Planar z-depth (metres along the optical axis) at pixel centres; 0 where a ray escapes."""
    w, h = size
    u, v = np.meshgrid((np.arange(w) + 0.5) / w, (np.arange(h) + 0.5) / h)
    pos = mi.Point2f(u.ravel().astype(np.float32), v.ravel().astype(np.float32))
    ray, _ = sensor.sample_ray(0.0, 0.5, pos, mi.Point2f(0.5, 0.5))
    si = scene.ray_intersect(ray)
    t = np.array(si.t, dtype=np.float64)
    d = np.stack([np.array(ray.d.x), np.array(ray.d.y), np.array(ray.d.z)], 1)
    o = np.stack([np.array(ray.o.x), np.array(ray.o.y), np.array(ray.o.z)], 1)
    forward = (cam.target - cam.origin) / np.linalg.norm(cam.target - cam.origin)
    # Rays start on the near plane, not at the camera: measure the hit point from the camera itself.
    with np.errstate(invalid="ignore"):  # rays out of a window miss everything: t is inf, and 0 * inf is nan
        z = (o + t[:, None] * d - cam.origin) @ forward
    z[~np.isfinite(z)] = 0.0
    return z.reshape(h, w).astype(np.float32)


def render_views(mi, dr, scene_desc: dict, cams: list[Camera], size: tuple[int, int], spp: int, seed: int):
    """Yield (linear RGB H x W x 3, z-depth H x W) for each camera of one scene (compiled once)."""
    scene = mi.load_dict(scene_desc)
    for i, cam in enumerate(cams):
        sensor = mi.load_dict(sensor_dict(mi, cam, size, spp))
        depth = z_depth(mi, dr, scene, sensor, cam, size)
        img = np.array(mi.render(scene, sensor=sensor, spp=spp, seed=seed * 1000 + i), dtype=np.float32)[..., :3]
        yield img, depth
