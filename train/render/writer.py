"""Rendering rooms into an RGB-D folder: one room per call, so worker processes can share the work."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from rtdepth.errors import RtdepthError
from rtdepth.stream.depth_io import save_depth, write_image

# Bumped when the same (seed, room) would render differently: 2 = furnished densely, wall decor, rugs,
# fireflies removed (1: the first 297 rooms); 3 = close-ups of table and cabinet tops among the views;
# 4 = photo textures drawn evenly from each photo folder (with one folder it renders exactly as 3); 5 = developed
# as a camera does (exposure on the scene, grey-world white balance, tone curve), pale walls; 6 = half the doors
# open onto a corridor or the next room, things left on floors; 7 = the same rooms' kinds, each feature (plan,
# openings, lights, furniture, materials, cameras, development...) drawn from its own stream (room.feature_rng), so
# changing one feature no longer reshuffles the rest; 8 = 40% close-ups, half of them a phone held 0.2-0.5 m over
# the top; 9 = a quarter of the rooms are halls and open-plan offices, 9-20 m across (room.HALL_SHARE, drawn from a
# stream of its own: every other room renders exactly as 8); 10 = generator 9's halls with generator 7's cameras
# (near views measured to push real near scenes farther: now asked for with --near, off by default; with the
# defaults every room that is not a hall has generator 7's geometry and cameras: the same depth to the millimetre).
GENERATOR = 10
CLOSE_UP_SHARE = 0.3  # real footage is often a desk or a shelf at arm's length, not only a room across


def render_room(out: Path, room_index: int, seed: int, views: int, size: tuple[int, int], spp: int,
                photo_paths: list[Path], close_ups: float = CLOSE_UP_SHARE, near: float = 0.0) -> int:  # fmt: skip
    """Render one room's views into ``out`` (``close_ups`` of the views look at a top, ``near`` of those from
    0.2-0.5 m); returns the number of frames written."""
    import numpy as np

    from train.render.camera_effects import develop
    from train.render.mitsuba_scene import import_mitsuba, render_views, scene_dict, sensor_dict, z_depth
    from train.render.room import build_room, close_up_camera, feature_rng, random_camera

    mi, dr = import_mitsuba()
    room = build_room(seed, room_index)
    rng, developing = feature_rng(seed, room_index, "cameras"), feature_rng(seed, room_index, "develop")
    photos = _photos_cache(photo_paths)
    with tempfile.TemporaryDirectory() as tmp:
        desc = scene_dict(mi, room, feature_rng(seed, room_index, "materials"), photos, Path(tmp))
        scene = mi.load_dict(desc)
        cams = []
        for _ in range(views * 4):  # keep views that see the room, not a wall at arm's length
            if len(cams) == views:
                break
            cam = close_up_camera(room, rng, near) if rng.random() < close_ups else random_camera(room, rng)
            if cam is None:
                continue
            depth = z_depth(mi, dr, scene, mi.load_dict(sensor_dict(mi, cam, size, 1)), cam, size)
            valid = depth[depth > 0]
            closest, median = (0.1, 0.15) if cam.near else (0.3, 0.5) if cam.close_up else (0.5, 0.9)
            if valid.size < depth.size * 0.99 or np.median(valid) < median or (valid < closest).mean() > 0.3:
                continue
            cams.append(cam)
        del scene
        written = []
        for v, (radiance, depth) in enumerate(render_views(mi, dr, desc, cams, size, spp, seed * 100003 + room_index)):
            name = f"{room_index:05d}_{v:02d}"
            rgb = develop(radiance, developing)
            write_image(out / "rgb" / f"{name}.jpg", rgb[..., ::-1], [1, 95])  # cv2.IMWRITE_JPEG_QUALITY = 1
            save_depth(out / "depth" / f"{name}.png", depth)
            written.append({"name": name, "fov": cams[v].fov, "origin": cams[v].origin.round(3).tolist(),
                            "target": cams[v].target.round(3).tolist(), "up": cams[v].up.round(4).tolist(),
                            "close_up": cams[v].close_up, "near": cams[v].near})  # fmt: skip
    meta = {"generator": GENERATOR, "seed": seed, "room": room_index, "plan": [list(map(float, r)) for r in room.rects],
            "height": room.height, "lights": len(room.lights), "surfaces": len(room.surfaces), "spp": spp,
            "close_ups": close_ups, "near": near,
            "views": written}  # fmt: skip
    tmp_meta = out / "meta" / f"{room_index:05d}.json.tmp"
    tmp_meta.write_text(json.dumps(meta))
    os.replace(tmp_meta, out / "meta" / f"{room_index:05d}.json")
    return len(written)


def make_dataset_folders(root: Path, subfolders: tuple[str, ...] = ("rgb", "depth", "meta")) -> None:
    """The dataset's subfolders under ``root`` (``rgb/``, ``depth/``, ``meta/`` unless told), before any work; one
    clear line when the disk says no."""
    try:
        for sub in subfolders:
            (root / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RtdepthError(f"{root}: cannot create the dataset folders ({exc.strerror})") from exc


_PHOTOS: dict[tuple, object] = {}


def _photos_cache(paths: list[Path]):
    from train.render.textures import PhotoCrops

    key = tuple(paths)
    if key not in _PHOTOS:
        _PHOTOS[key] = PhotoCrops(list(paths))
    return _PHOTOS[key]


def worker_init(threads: int) -> None:
    from train.render.mitsuba_scene import import_mitsuba

    import_mitsuba(threads)


def render_job(args: tuple) -> int:
    """``render_room`` over one argument tuple (for a process pool)."""
    return render_room(*args)
