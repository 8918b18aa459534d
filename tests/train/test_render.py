"""The path-traced room generator: exact planar depth from a real renderer, and a readable dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rtdepth.data import open_dataset


def _mitsuba():
    import importlib.util

    # Found, not imported: Mitsuba is imported only once import_mitsuba has a libLLVM >= 16 for it. Imported
    # beside an older one, its Ctrl-C handler crashes the whole test process at the next SIGINT.
    if importlib.util.find_spec("mitsuba") is None:
        pytest.skip('Mitsuba 3 not installed (pip install "rtdepth[render]")')
    from rtdepth.errors import RtdepthError
    from train.render.mitsuba_scene import import_mitsuba

    try:
        return import_mitsuba(threads=2)
    except RtdepthError as exc:
        pytest.skip(str(exc))


def _empty_room():
    from train.render.geometry import polygon_floor, quad
    from train.render.room import Light, Room, wall_segments

    rects = [(0.0, 0.0, 4.0, 4.0)]
    room = Room(rects, 3.0)
    room.add("floor", polygon_floor(rects, 0.0, True))
    room.add("ceiling", polygon_floor(rects, 3.0, False))
    for a, b, _ in wall_segments(rects):
        room.add("wall", quad(np.array([a[0], 0, a[1]]), np.array([b[0] - a[0], 0, b[1] - a[1]]), np.array([0, 3.0, 0])))
    room.lights.append(Light("sphere", np.array([20.0, 20.0, 20.0]), centre=np.array([2.0, 2.7, 2.0]), radius=0.1))
    return room


def test_planar_depth_matches_the_geometry(tmp_path):
    mi, dr = _mitsuba()
    from train.render.mitsuba_scene import render_views, scene_dict
    from train.render.room import Camera
    from train.render.textures import PhotoCrops

    room = _empty_room()
    rng = np.random.default_rng(0)
    desc = scene_dict(mi, room, rng, PhotoCrops([]), tmp_path)
    # 1: facing the wall z = 4 from 2 m away, rolled 5 degrees: every pixel sees the wall at z = 2 m.
    roll = np.radians(5)
    facing = Camera(np.array([2.0, 1.5, 2.0]), np.array([2.0, 1.5, 3.0]), np.array([np.sin(roll), np.cos(roll), 0.0]), 40.0)
    # 2: pitched down 30 degrees towards the floor.
    pitch = np.radians(-30)
    fwd = np.array([0.0, np.sin(pitch), np.cos(pitch)])
    down = Camera(
        np.array([2.0, 1.2, 0.5]), np.array([2.0, 1.2, 0.5]) + fwd, np.array([0.0, np.cos(pitch), -np.sin(pitch)]), 60.0
    )
    (rgb1, z1), (rgb2, z2) = list(render_views(mi, dr, desc, [facing, down], (64, 48), 4, seed=0))
    assert rgb1.shape == (48, 64, 3) and np.isfinite(rgb1).all() and rgb1.mean() > 0
    np.testing.assert_allclose(z1, 2.0, atol=1e-3)  # distance along the ray would grow to 2.13 at the corners
    # Rows below the horizon see the floor: there z = h / (sin(-pitch) cos(v) ... ) -- check against a ray cast by hand.
    w, h, f = 64, 48, 32 / np.tan(np.radians(30))
    v = (np.arange(h) + 0.5 - h / 2) / f  # image y, down positive
    ray_y = np.sin(pitch) - v * np.cos(pitch)  # world y of the camera ray (x, -v, 1) rotated by the pitch
    ray_z = np.cos(pitch) + v * np.sin(pitch)
    t = 1.2 / -ray_y  # reach the floor
    floor_z = t  # z along the optical axis: the ray's third camera coordinate is 1
    hits_floor = (ray_y < 0) & (0.5 + t * ray_z < 4.0)
    rows = np.where(hits_floor)[0]
    assert len(rows) > 10
    np.testing.assert_allclose(z2[rows, w // 2], floor_z[rows], rtol=2e-3)


def test_render_command_writes_a_folder_dataset_and_resumes(tmp_path):
    _mitsuba()
    import subprocess
    import sys

    out = tmp_path / "rooms"
    cmd = [sys.executable, "-m", "train.render", "-o", str(out), "--rooms", "1", "--views", "2", "--size", "64x48",
           "--spp", "4", "--workers", "1", "--close-ups", "0.5", "--near", "1"]  # fmt: skip
    bad = subprocess.run(cmd[:-1] + ["2"], capture_output=True, text=True, timeout=120)  # a share of 2: one line
    assert bad.returncode == 2 and "--close-ups and --near are shares" in bad.stderr and not (out / "meta").exists()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "meta" / "00000.json").read_text())
    assert meta["close_ups"] == 0.5 and meta["near"] == 1.0  # how its cameras were drawn
    assert all(v["close_up"] for v in meta["views"] if v["near"])
    data = open_dataset(out)
    assert len(data) == 2
    s = data[1]
    assert s.rgb.shape == (48, 64, 3) and s.rgb.std() > 1
    # the writer's acceptance: the view sees the room (a near close-up may come within 0.1 m of a desk top)
    assert (s.depth > 0).mean() >= 0.99 and np.median(s.depth) >= 0.15 and s.depth.max() < 20
    first = (out / "rgb" / "00000_00.jpg").stat().st_mtime_ns
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)  # resumed: nothing left to render
    assert r.returncode == 0 and (out / "rgb" / "00000_00.jpg").stat().st_mtime_ns == first
    assert "0 frames from 0 rooms" in r.stdout


def test_fireflies_are_removed_and_real_highlights_kept():
    from train.render.camera_effects import remove_fireflies

    img = np.full((32, 32, 3), 0.2, np.float32)
    img[5, 5] = 30.0  # one rare light path
    img[20:24, 20:24] = 5.0  # a lamp: a highlight wider than a pixel
    out = remove_fireflies(img)
    assert np.allclose(out[5, 5], 0.2)
    assert np.allclose(out[21:23, 21:23], 5.0)
    assert np.allclose(out[0:4, 0:4], 0.2)


def test_develop_exposes_the_room_not_the_window_and_neutralises_tinted_light():
    """A camera meters the scene and white-balances it: a window in view blows out, the room stays visible,
    and light bluer than white (sky through the window, light bounced off pale blue walls) comes out near grey."""
    from train.render.camera_effects import develop

    radiance = np.zeros((120, 160, 3), np.float32)
    yy, xx = np.mgrid[0:120, 0:160]
    radiance[:] = (0.04 + 0.04 * (xx / 160))[..., None] * np.float32([0.7, 0.85, 1.2])  # a dim, bluish room
    radiance[10:60, 100:150] = 40.0  # a window: a fifth of the frame, a thousand times brighter
    for seed in range(4):
        out = develop(radiance, np.random.default_rng(seed)).astype(np.float32)
        room, window = out[70:, :90], out[15:55, 105:145]
        assert window.mean() > 220, seed  # blown out, as in real photos of rooms with windows
        assert 40 < room.mean() < 200, (seed, room.mean())  # the room is exposed, not black
        if not (room[..., 0] == room[..., 2]).all():  # a grey sensor frame has no tint to check
            channels = room.reshape(-1, 3).mean(0)
            assert channels.max() / channels.min() < 1.35, (seed, channels)


def _shaded_frame(noise: float, seed: int = 0) -> np.ndarray:
    """A smooth 8-bit scene (shading, one edge) with Gaussian noise of a known level."""
    yy, xx = np.mgrid[0:120, 0:160].astype(np.float32)
    grey = 60 + 0.6 * xx + 0.3 * yy + 50 * (xx > 90)
    img = np.repeat(grey[..., None], 3, -1) * np.float32([1.0, 0.9, 0.8])
    img += np.random.default_rng(seed).normal(0, noise, img.shape[:2] + (1,))
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def test_noise_estimate_measures_noise_not_shading():
    from train.render.camera_effects import noise_sigma

    assert noise_sigma(_shaded_frame(0)) < 0.6  # gradients and an edge are not noise (8-bit rounding is, a little)
    for level in (2.0, 8.0):
        assert abs(noise_sigma(_shaded_frame(level)) - level) < 0.2 * level


def test_frames_get_the_noise_of_real_cameras_after_compression():
    from train.render.camera_effects import REAL_NOISE, match_sensor_noise, noise_sigma

    lo, hi = REAL_NOISE
    for level in (0.0, 15.0):  # a clean render and a grainy dark one
        for seed in range(3):
            out = match_sensor_noise(_shaded_frame(level, seed), np.random.default_rng(seed))
            assert out.dtype == np.uint8 and out.shape == (120, 160, 3)
            assert 0.7 * lo < noise_sigma(out) < 1.3 * hi, (level, seed, noise_sigma(out))
    grey = match_sensor_noise(np.repeat(_shaded_frame(0)[..., :1], 3, -1), np.random.default_rng(0))
    assert np.abs(grey.astype(int) - grey[..., :1]).max() <= 3  # a grey sensor gets no colour noise (JPEG rounding only)
    again = match_sensor_noise(_shaded_frame(15.0, 1), np.random.default_rng(7))
    assert np.array_equal(again, match_sensor_noise(_shaded_frame(15.0, 1), np.random.default_rng(7)))


def test_refinish_rewrites_rgb_keeps_depth_and_resumes(tmp_path):
    import subprocess
    import sys

    from rtdepth.stream.depth_io import save_depth, write_image
    from train.render.camera_effects import REAL_NOISE, noise_sigma

    src, dst = tmp_path / "rooms", tmp_path / "rooms_n"
    for sub in ("rgb", "depth", "meta"):
        (src / sub).mkdir(parents=True)
    for i in range(3):
        write_image(src / "rgb" / f"00000_{i:02d}.jpg", _shaded_frame(15.0, i), [1, 100])
        save_depth(src / "depth" / f"00000_{i:02d}.png", np.full((120, 160), 1.0 + i, np.float32))
    (src / "meta" / "00000.json").write_text("{}")
    cmd = [sys.executable, "-m", "train.render.refinish", str(src), "-o", str(dst)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    before, after = open_dataset(src), open_dataset(dst)
    assert len(after) == 3 and (dst / "meta" / "00000.json").is_file()
    for i in range(3):
        assert np.array_equal(after[i].depth, before[i].depth)
        assert noise_sigma(before[i].rgb) > 10 and noise_sigma(after[i].rgb) < 1.3 * REAL_NOISE[1]
    first = (dst / "rgb" / "00000_00.jpg").stat().st_mtime_ns
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "nothing to do" in r.stdout
    assert (dst / "rgb" / "00000_00.jpg").stat().st_mtime_ns == first
    r = subprocess.run([sys.executable, "-m", "train.render.refinish", str(src), "-o", str(src)], capture_output=True, text=True)
    assert r.returncode == 2 and "must not be the source" in r.stderr
    blocked = src / "meta" / "00000.json" / "out"  # under a file: the folders cannot be made
    r = subprocess.run(cmd[:-1] + [str(blocked)], capture_output=True, text=True)
    assert r.returncode == 2 and "cannot create the dataset folders" in r.stderr and "Traceback" not in r.stderr


def test_rooms_are_furnished_and_decor_stays_inside_the_walls():
    from train.render.room import build_room

    kinds = set()
    for index in range(12):
        room = build_room(3, index)
        x1, z1 = max(r[2] for r in room.rects), max(r[3] for r in room.rects)
        pieces = {name.split(":")[0] for name in room.surfaces if name.startswith("piece")}
        assert len(pieces) >= 2
        for name, meshes in room.surfaces.items():
            kinds.add(name.split(":")[-1])
            for m in meshes:
                lo, hi = m.vertices.min(0), m.vertices.max(0)
                if name.startswith(("decor", "rug")):  # hung and laid things never poke through a wall
                    assert lo[1] >= -1e-6 and hi[1] <= room.height + 1e-6, name
                    assert lo[0] >= -1e-6 and lo[2] >= -1e-6 and hi[0] <= x1 + 1e-6 and hi[2] <= z1 + 1e-6, name
        for light in room.lights:  # ceiling panels (here and beyond open doors) shine down, not at the ceiling
            if light.kind == "rect" and light.edge_u[1] == 0 and light.edge_v[1] == 0:
                assert np.cross(light.edge_u, light.edge_v)[1] < 0
    assert {"picture", "fabric", "clutter"} <= kinds


def test_close_ups_stand_in_the_room_and_look_down_at_a_top_nearby():
    from train.render.room import build_room, close_up_camera, feature_rng

    for index in range(4):  # near views only when asked for (they hurt real metres when trained on)
        room, rng = build_room(5, index), feature_rng(5, index, "cameras")
        assert not any(cam.near for cam in (close_up_camera(room, rng) for _ in range(5)) if cam is not None)
    seen, near = 0, 0
    for index in range(8):
        room, rng = build_room(5, index), feature_rng(5, index, "cameras")
        for _ in range(5):
            cam = close_up_camera(room, rng, near_share=0.5)
            if cam is None:
                continue
            seen, near = seen + 1, near + cam.near
            assert cam.close_up  # recorded in the view's meta
            forward = cam.target - cam.origin
            # near ones aim up to ~0.3 m off the top's centre, so from 0.2 m its centre can sit well off the axis
            reach, steepest, aimed = (0.5 + 0.35, 65, 0.3) if cam.near else (1.4 + 0.9, 55, 0.7)
            assert room.inside(cam.origin[0], cam.origin[2], 0.1 if cam.near else 0.3)
            assert (0.3 if cam.near else 0.4) <= cam.origin[1] <= 1.9
            assert -np.sin(np.radians(steepest)) - 1e-6 <= forward[1] <= np.sin(np.radians(15)) + 1e-6
            looked_at = [t for t in room.tops if np.linalg.norm(t - cam.origin) < reach
                         and forward @ (t - cam.origin) / np.linalg.norm(t - cam.origin) > aimed]  # fmt: skip
            assert looked_at  # some top within reach, straight ahead
            if cam.near:  # over the desk, above its top
                assert any(cam.origin[1] > t[1] + 0.2 * np.sin(np.radians(15)) - 0.01 for t in looked_at)
    assert seen >= 10 and 0.25 * seen <= near <= 0.75 * seen


def test_photo_textures_draw_each_folder_evenly_and_one_folder_as_before(tmp_path):
    from train.render.textures import PhotoCrops

    desk = [tmp_path / "desk" / f"{i:04d}.jpg" for i in range(500)]
    others = [tmp_path / "photos" / name for name in ("brick.png", "grass.png")]
    crops = PhotoCrops(desk + others)
    assert len(crops.groups[0]) == 400 and len(crops.paths) == 402  # a long sequence is spread, not cut
    rng = np.random.default_rng(0)
    picks = [crops.pick(rng) for _ in range(2000)]
    share = sum(p.parent.name == "photos" for p in picks) / len(picks)
    assert 0.45 < share < 0.55  # two photos weigh as much as 400 frames of one desk
    single, rng_a, rng_b = PhotoCrops(desk), np.random.default_rng(5), np.random.default_rng(5)
    spread = [desk[i] for i in np.linspace(0, 499, 400).astype(int)]
    assert [single.pick(rng_a) for _ in range(20)] == [spread[int(rng_b.integers(400))] for _ in range(20)]


def test_each_feature_of_a_room_draws_from_its_own_stream(monkeypatch):
    """Editing how one feature is drawn (here: lights take one number more) leaves every other feature as it was."""
    from train.render import room as rooms

    def shapes(room, keep):
        return {k: [m.vertices.round(6).tobytes() for m in v] for k, v in room.surfaces.items() if keep(k)}

    def not_lighting(name):
        return name != "trim"  # light fittings are trim

    before = rooms.build_room(5, 2)
    assert shapes(rooms.build_room(5, 2), not_lighting) == shapes(before, not_lighting)  # a pure function of (seed, index)
    real = rooms._lights
    monkeypatch.setattr(rooms, "_lights", lambda room, rng: (rng.random(), real(room, rng)))
    after = rooms.build_room(5, 2)
    assert [light.radiance.tobytes() for light in after.lights] != [light.radiance.tobytes() for light in before.lights]
    assert shapes(after, not_lighting) == shapes(before, not_lighting) and after.rects == before.rects


def test_a_quarter_of_rooms_are_halls_and_the_rest_stay_as_they_were(monkeypatch):
    """Halls (open-plan offices, 9-20 m across) scale the plan drawn anyway; with no halls drawn, no room changes."""
    from train.render import room as rooms

    def span(room):
        return max(r[2] for r in room.rects) - min(r[0] for r in room.rects), max(r[3] for r in room.rects)

    built = [rooms.build_room(11, i) for i in range(24)]
    monkeypatch.setattr(rooms, "HALL_SHARE", 0.0)
    plain = [rooms.build_room(11, i) for i in range(24)]
    halls = [(b, p) for b, p in zip(built, plain) if b.rects != p.rects]
    assert 2 <= len(halls) <= 12  # about a quarter
    for b, p in halls:
        grow = np.array(span(b)) / np.array(span(p))
        assert 1.6 - 1e-9 <= grow[0] <= 2.2 + 1e-9 and grow[0] == pytest.approx(grow[1])  # the same plan, larger
        assert len(b.footprints) > len(p.footprints)  # and furnished for its size
    for b, p in zip(built, plain):
        if b.rects == p.rects:  # every other room exactly as before
            assert [len(v) for v in b.surfaces.values()] == [len(v) for v in p.surfaces.values()]
            assert max(span(b)) <= 9.0


def test_walls_leave_open_doorways_out_and_cover_the_rest():
    from train.render.room import wall_pieces

    pieces = wall_pieces(5.0, 2.8, [(1.0, 1.9, 2.1), (3.0, 4.0, 2.0)])
    area = sum((s1 - s0) * (top - bottom) for s0, s1, bottom, top in pieces)
    assert area == pytest.approx(5.0 * 2.8 - 0.9 * 2.1 - 1.0 * 2.0)
    assert all(not (s0 < 1.45 < s1 and bottom < 1.0 < top) for s0, s1, bottom, top in pieces)  # nothing in the doorway
    assert wall_pieces(5.0, 2.8, []) == [(0.0, 5.0, 0.0, 2.8)]


def test_an_open_doorway_shows_the_space_beyond_at_its_true_depth(tmp_path):
    mi, dr = _mitsuba()
    from train.render.mitsuba_scene import render_views, scene_dict
    from train.render.room import Camera, build_room
    from train.render.textures import PhotoCrops

    room = next(r for r in (build_room(6, i) for i in range(40)) if r.beyond)
    door, out, depth = room.beyond[0].door, room.beyond[0].out, room.beyond[0].depth
    # 2 m in front of the doorway, 1.2 m high, looking through it: the top row meets the wall 2.3 m up, above the
    # door (at most 2.1 m) and below the lowest ceiling (2.4 m): the lintel.
    eye = np.array([door[0] - 2.0 * out[0], 1.2, door[1] - 2.0 * out[1]])
    cam = Camera(eye, eye + np.array([out[0], 0.0, out[1]]), np.array([0.0, 1.0, 0.0]), 60.0)
    desc = scene_dict(mi, room, np.random.default_rng(0), PhotoCrops([]), tmp_path)
    ((_rgb, z),) = list(render_views(mi, dr, desc, [cam], (32, 32), 1, seed=0))
    np.testing.assert_allclose(z[14:18, 14:18], 2.0 + depth, rtol=1e-3)  # the far wall beyond, not a door
    np.testing.assert_allclose(z[0, 12:20], 2.0, rtol=1e-3)  # the lintel: the wall goes on above the opening


def test_an_llvm_older_than_16_is_refused_before_drjit_can_load_it(tmp_path, monkeypatch):
    """Dr.Jit on LLVM 14/15 aborts the process at the first render (not at import), so ``make test`` died
    halfway; the refusal must come first, as one line, so the render tests skip with the reason."""
    import train.render.mitsuba_scene as ms
    from rtdepth.errors import RtdepthError

    names = ("/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1", "/usr/lib/x86_64-linux-gnu/libLLVM.so.19.1",
             "/usr/lib/llvm-17/lib/libLLVM.so", "/usr/lib/x86_64-linux-gnu/libLLVM-14.so")  # fmt: skip
    assert [ms.llvm_major(p) for p in names] == [15, 19, 17, 14]
    old = tmp_path / "libLLVM-15.so.1"
    old.write_bytes(b"")
    monkeypatch.setattr(ms, "_LLVM_CANDIDATES", (str(tmp_path / "libLLVM*"),))
    monkeypatch.delenv("DRJIT_LIBLLVM_PATH", raising=False)
    with pytest.raises(RtdepthError, match=">= 16"):
        ms.import_mitsuba()
    monkeypatch.setenv("DRJIT_LIBLLVM_PATH", str(old))
    with pytest.raises(RtdepthError, match="LLVM 15"):
        ms.import_mitsuba()
    new = tmp_path / "libLLVM.so.19.1"
    new.write_bytes(b"")
    monkeypatch.delenv("DRJIT_LIBLLVM_PATH")
    ms._choose_llvm()
    assert ms.os.environ["DRJIT_LIBLLVM_PATH"] == str(new)
