import os
import shutil
import signal
import subprocess
import sys
import time

import av
import cv2
import numpy as np
import pytest
from helpers import cli_result, make_clip, tum_rgb

from rtdepth.errors import RtdepthError
from rtdepth.stream.sinks import display_available
from rtdepth.stream.sources import ImageFolderSource, LiveSource, VideoSource, open_source
from rtdepth.stream.visualize import EmaPercentiles, FixedRange, Visualizer, compose


def probe(path):
    """(codec, frame count, fps, width, height) by decoding the whole file with FFmpeg (PyAV)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(video=0))
        return s.codec_context.name, n, float(s.average_rate), s.width, s.height


def rtdepth(*args):
    """The command, run in this process (what needs a process of its own starts one below)."""
    return cli_result(*args)


def test_video_keeps_frame_count_and_fps_and_plays(tmp_path, real_clip, tiny_weights):
    out = tmp_path / "out.mp4"
    r = rtdepth("video", real_clip, "-o", out, "-w", tiny_weights, "--backend", "torch", "--layout", "side-by-side")
    assert r.returncode == 0, r.stderr
    codec, n, fps, w, h = probe(out)
    assert (codec, n, fps, w, h) == ("h264", 6, 10.0, 128, 48)


def test_video_raw_depth_and_point_clouds(tmp_path, real_clip, tiny_weights):
    raw, ply = tmp_path / "raw", tmp_path / "ply"
    r = rtdepth("video", real_clip, "-o", tmp_path / "o.mp4", "-w", tiny_weights, "--backend", "torch",
                "--raw-dir", raw, "--ply", ply, "--ply-every", "2", "--fx", "50")  # fmt: skip
    assert r.returncode == 0, r.stderr
    pngs = sorted(raw.glob("*.png"))
    assert len(pngs) == 6
    mm = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert mm.dtype == np.uint16 and mm.shape == (48, 64)
    plys = sorted(ply.glob("*.ply"))
    assert [p.name for p in plys] == ["000000.ply", "000002.ply", "000004.ply"]
    head = plys[0].read_bytes().split(b"end_header\n")[0].decode()
    assert "element vertex 768" in head  # 64x48 at stride 2


def test_image_folder_source_to_video(tmp_path, tum_dir, tiny_weights):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        shutil.copy(tum_rgb(tum_dir, i), folder / f"{i:04d}.jpg")
    r = rtdepth("video", folder, "-o", tmp_path / "o.mp4", "-w", tiny_weights, "--backend", "torch", "--size", "64x48")
    assert r.returncode == 0, r.stderr
    assert probe(tmp_path / "o.mp4")[1:] == (3, 30.0, 320, 240)


def test_sources_convert_odd_frames(tmp_path, real_frame):
    folder = tmp_path / "odd"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), cv2.cvtColor(real_frame, cv2.COLOR_BGR2GRAY)[:51, :67])
    cv2.imwrite(str(folder / "b.png"), (real_frame.astype(np.uint16) * 257)[:51, :67])
    cv2.imwrite(str(folder / "c.png"), cv2.cvtColor(real_frame, cv2.COLOR_BGR2BGRA)[:51, :67])
    frames = list(ImageFolderSource(folder))
    assert [f.image.shape for f in frames] == [(51, 67), (51, 67, 3), (51, 67, 4)]
    assert frames[1].image.dtype == np.uint16


@pytest.mark.parametrize("layout, size", [("overlay", (48, 64, 3)), ("side-by-side", (48, 128, 3)), ("depth", (48, 64, 3))])
def test_layout_sizes(layout, size):
    frame = np.zeros((48, 64, 3), np.uint8)
    out = Visualizer(layout=layout, range_=(0.5, 5)).render(frame, np.full((48, 64), 2.0, np.float32))
    assert out.shape == size


def test_overlay_blends_with_alpha():
    frame = np.full((4, 4, 3), 200, np.uint8)
    depth_img = np.zeros((4, 4, 3), np.uint8)
    assert compose(frame, depth_img, "overlay", alpha=0.25)[0, 0, 0] == 150


def test_colours_of_a_constant_scene_stay_constant():
    rng = np.random.default_rng(0)
    scene = rng.uniform(1, 4, (48, 64)).astype(np.float32)
    for norm in (EmaPercentiles(), FixedRange(0.5, 6)):
        viz = Visualizer(range_=None)
        viz.normalizer = norm
        frames = [viz.render(np.zeros((48, 64, 3), np.uint8), scene) for _ in range(5)]
        assert all(np.array_equal(frames[0], f) for f in frames[1:])


def test_ema_normaliser_does_not_flicker_with_a_small_object():
    norm = EmaPercentiles()
    base = np.full((60, 80), 3.0, np.float32)
    base[:, :40] = 1.0
    first = norm(base)
    moved = base.copy()
    moved[:3, :3] = 0.3  # a small near object appears: min-max would remap every pixel
    second = norm(moved)
    assert np.abs(second[10:, 10:] - first[10:, 10:]).max() < 0.05


def test_ema_normaliser_resets_on_scene_cut():
    norm = EmaPercentiles()
    near = np.random.default_rng(0).uniform(1, 2, (40, 40)).astype(np.float32)
    for _ in range(10):
        norm(near)
    far = near * 4  # a cut to a room four times deeper
    out = norm(far)
    assert out.min() < 0.05 and out.max() > 0.95  # uses the new scene's full range at once


@pytest.mark.parametrize("paced", [False, True])
def test_missing_video(tmp_path, paced):
    with pytest.raises(RtdepthError, match="no such file"):
        open_source(str(tmp_path / "nope.mp4"), paced=paced)


@pytest.mark.parametrize("paced", [False, True])
def test_not_a_video(tmp_path, paced):
    bad = tmp_path / "fake.mp4"
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(RtdepthError, match="not a video|no decodable"):
        open_source(str(bad), paced=paced)


@pytest.mark.parametrize("paced", [False, True])
def test_zero_frame_video(tmp_path, paced):
    full, empty = tmp_path / "full.mp4", tmp_path / "empty.mp4"
    with av.open(str(full), "w", options={"movflags": "faststart"}) as c:  # index (moov) before the frames
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for frame in [av.VideoFrame.from_ndarray(np.full((48, 64, 3), 128, np.uint8), format="bgr24")] * 3 + [None]:
            for p in s.encode(frame):
                c.mux(p)
    data = full.read_bytes()
    empty.write_bytes(data[: data.index(b"mdat") + 4])  # the index promises frames; none of their bytes is there
    with pytest.raises(RtdepthError, match="contains no decodable frames"):
        open_source(str(empty), paced=paced)


def test_paced_video_plays_from_its_first_frame_as_a_camera(real_clip):
    """The frame read to check the file is the first one delivered, not lost; reads take newest frames only."""
    with VideoSource(real_clip) as plain:
        frames = [f.image for f in plain]
    with open_source(str(real_clip), paced=True) as paced:
        assert paced.live and paced.frame_count == len(frames)
        first = paced.read()
        assert first.index == 0 and np.array_equal(first.image, frames[0])
        rest = list(paced)
    indices = [f.index for f in rest]
    assert indices == sorted(set(indices)) and indices[-1] == len(frames) - 1 and paced.error is None
    assert all(np.array_equal(f.image, frames[f.index]) for f in rest)


def test_truncated_video_reports_frames_done(tmp_path, tum_dir, tiny_weights):
    full = tmp_path / "full.mp4"
    # Index (moov) first, as a streaming-friendly MP4 has it; then cutting the file loses frames at the end.
    with av.open(str(full), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        for i in range(40):
            img = cv2.imread(str(tum_rgb(tum_dir, i)))
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "o.mp4"
    r = rtdepth("video", cut, "-o", out, "-w", tiny_weights, "--backend", "torch")
    assert r.returncode == 3 and "Traceback" not in r.stderr, r.stderr
    done = probe(out)[1]
    assert 0 < done < 40 and f"{done} frames" in r.stderr and "truncated" in r.stderr


def test_unwritable_output(tmp_path, real_clip, tiny_weights):
    r = rtdepth("video", real_clip, "-o", tmp_path / "no" / "such" / "o.mp4", "-w", tiny_weights)
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr


def test_absent_camera_is_a_clear_error():
    r = rtdepth("live", "--camera", "97", "--no-window", "--record", "/tmp/x.mp4")
    assert r.returncode == 2 and "camera 97" in r.stderr and "Traceback" not in r.stderr


def test_unanswering_stream_times_out():
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)  # accepts the connection but never answers
    port = server.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(RtdepthError, match="did not open|cannot be opened"):
        open_source(f"rtsp://127.0.0.1:{port}/x", open_timeout=2.0)
    assert time.monotonic() - t0 < 10
    server.close()


@pytest.mark.slow
def test_interrupted_video_leaves_a_playable_file(tmp_path, tum_dir, tiny_weights):
    # Long enough that the interrupt lands mid-run even when the muxer's first 256 KB flush comes late.
    frames = [cv2.imread(str(tum_rgb(tum_dir, i))) for i in range(900)]
    clip = make_clip(tmp_path / "long.mp4", frames, fps=30)
    out = tmp_path / "o.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "rtdepth", "video", str(clip), "-o", str(out), "-w", str(tiny_weights),
                             "--backend", "torch", "--size", "320x240"], stderr=subprocess.PIPE, text=True)  # fmt: skip

    def partials():  # written to a hidden partial file of its own until finalised
        return [p for p in tmp_path.glob(".o.rtdepth-partial-*.mp4") if p.exists()]

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.stat().st_size > 20_000 for p in partials()):
        time.sleep(0.2)
    assert not out.exists()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    codec, n, fps, *_ = probe(out)
    assert codec == "h264" and 0 < n < 900 and fps == 30.0
    assert f"{n} frames" in err and not partials()


class FakeCapture:
    """Stands in for cv2.VideoCapture at the device boundary: frames from a list, then failures."""

    def __init__(self, frames, fail_after=None, delay=0.0):
        self.frames, self.i, self.fail_after, self.delay = frames, 0, fail_after, delay

    def isOpened(self):
        return True

    def get(self, prop):
        return 15.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        time.sleep(self.delay)
        if self.fail_after is not None and self.i >= self.fail_after:
            return False, None
        frame = self.frames[self.i % len(self.frames)]
        self.i += 1
        return True, frame

    def release(self):
        pass


def test_camera_keeps_only_the_newest_frame(real_frame):
    cap = FakeCapture([real_frame], delay=0.002)
    src = LiveSource(0, capture_factory=lambda: cap)
    first = src.read()
    reads = cap.i
    deadline = time.monotonic() + 10
    while cap.i < reads + 10 and time.monotonic() < deadline:  # a slow consumer: the reader keeps going meanwhile
        time.sleep(0.01)
    second = src.read()
    src.close()
    assert src.fps == 15.0
    assert second.index > first.index + 5  # stale frames were skipped, not queued
    assert src.dropped > 0


def test_camera_drop_out_is_retried_then_ends_cleanly(real_frame):
    opened = []

    def factory():  # the camera delivers three frames, then is unplugged for good
        opened.append(1)
        return FakeCapture([real_frame], fail_after=3 if len(opened) == 1 else 0)

    src = LiveSource(0, retries=2, capture_factory=factory)
    frames = list(src)
    src.close()
    assert 1 <= len(frames) <= 3
    assert len(opened) == 3  # first open + two retries
    assert "gave up after 2 retries" in src.error


def test_live_headless_records_from_a_video_file(tmp_path, real_clip, tiny_weights):
    out = tmp_path / "rec.mp4"
    r = rtdepth("live", "--camera", real_clip, "--no-window", "--record", out, "-w", tiny_weights, "--backend", "torch")
    assert r.returncode == 0, r.stderr
    assert probe(out)[1] == 6


def test_live_source_is_positional_and_camera_spelling_still_works(tmp_path, real_clip, tiny_weights):
    common = ["--no-window", "--max-frames", "4", "-w", tiny_weights, "--backend", "torch"]
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    ra = rtdepth("live", real_clip, "-o", a, *common)
    rb = rtdepth("live", "--camera", real_clip, "--record", b, *common)
    assert ra.returncode == 0 and rb.returncode == 0, ra.stderr + rb.stderr
    assert probe(a)[1] == probe(b)[1] == 4
    r = rtdepth("live", real_clip, "--camera", "3", "-o", a, *common)
    assert r.returncode == 2 and "two sources" in r.stderr


def test_live_without_display_says_so(tmp_path, real_clip, tiny_weights, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    r = rtdepth("live", "--camera", real_clip, "-w", tiny_weights)
    assert r.returncode == 2 and "no display" in r.stderr and "--record" in r.stderr


@pytest.fixture
def xvfb():
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb not installed (apt-get install xvfb)")
    display = ":97"
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", "640x480x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    for _ in range(50):
        if os.path.exists("/tmp/.X11-unix/X97"):
            break
        time.sleep(0.1)
    yield display
    proc.terminate()
    proc.wait()


@pytest.mark.display
def test_live_window_under_xvfb(tmp_path, real_clip, tiny_weights, xvfb):
    env = dict(os.environ, DISPLAY=xvfb, QT_QPA_PLATFORM="xcb")
    out = tmp_path / "rec.mp4"
    # A process of its own: a window (Qt on the X server) is a process's business, and a Qt abort must not end the suite.
    cmd = [sys.executable, "-m", "rtdepth", "live", "--camera", real_clip, "--record", out, "-w", tiny_weights, "-b", "torch"]
    r = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert probe(out)[1] == 6


def test_display_check_without_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert display_available() is False
    monkeypatch.setenv("DISPLAY", ":4242")
    assert display_available() is False


def test_video_source_reads_every_frame_in_order(real_clip):
    src = VideoSource(real_clip)
    idx = [f.index for f in src]
    assert idx == list(range(6)) and src.fps == 10.0 and src.error is None


SIGNALLED_RUN = """
import os, signal, sys, time
import cv2
from rtdepth.estimator import DepthEstimator
from rtdepth.stream.pipeline import Sinks, run_stream
from rtdepth.stream.sinks import VideoSink
from rtdepth.stream.sources import Frame, Source
from rtdepth.stream.visualize import Visualizer

sig, frame_path, weights, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
real_frame = cv2.imread(frame_path)


class SignalledCamera(Source):
    live, reads = True, 0

    def read(self):
        self.reads += 1
        if self.reads == 3:
            os.kill(os.getpid(), sig)
        return Frame(real_frame, self.reads - 1, time.perf_counter())


before = signal.getsignal(sig)
estimator = DepthEstimator.from_weights(weights, backend="torch", flip=False)
stats = run_stream(SignalledCamera(), estimator, Visualizer(), Sinks([VideoSink(out, 10.0)]), hud=False)
print(stats.interrupted, stats.terminated, stats.frames, signal.getsignal(sig) is before)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_frame_finishes_that_frame_then_stops(tmp_path, tum_dir, tiny_weights, sig):
    """A camera that is sent ``sig`` while its third frame is being captured (in a process of its own: the
    signal goes to the whole process)."""
    out = tmp_path / "o.mp4"
    args = [str(int(sig)), str(tum_rgb(tum_dir, 2)), str(tiny_weights), str(out)]
    r = subprocess.run([sys.executable, "-c", SIGNALLED_RUN, *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    interrupted, terminated, frames, restored = r.stdout.split()
    assert interrupted == "True" and terminated == str(sig == signal.SIGTERM)
    assert frames == "3" and probe(out)[1] == 3  # the frame in hand was finished and written, no more
    assert restored == "True"  # the run's own handler is gone


def test_video_files_carry_no_hud_unless_asked(tmp_path, real_clip, tiny_weights):
    from helpers import run_cli

    def first_frame(path):
        with av.open(str(path)) as c:
            return next(c.decode(video=0)).to_ndarray(format="bgr24").astype(int)

    for name, extra in (("plain.mp4", ()), ("hud.mp4", ("--hud",))):
        args = ("video", real_clip, "-o", tmp_path / name, "-w", tiny_weights, "-b", "torch", "--range", "0.5", "4")
        code, _, err = run_cli(*args, *extra)
        assert code == 0, err
    plain, hud = first_frame(tmp_path / "plain.mp4"), first_frame(tmp_path / "hud.mp4")
    corner = np.abs(plain[:12, :40] - hud[:12, :40]).mean()  # the HUD's dark band and text sit top-left
    assert corner > 10 and np.abs(plain[-8:] - hud[-8:]).mean() < 6  # below the band: the same picture (H.264 noise aside)


def test_live_without_a_display_records_headless(tmp_path, real_clip, tiny_weights, monkeypatch):
    from helpers import run_cli

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, _, err = run_cli("live", real_clip, "--record", tmp_path / "rec.mp4", "-w", tiny_weights, "-b", "torch",
                           "--max-frames", "3")  # fmt: skip
    assert code == 0 and "headless" in err, err
    assert probe(tmp_path / "rec.mp4")[1] == 3
    code, _, err = run_cli("live", real_clip, "-w", tiny_weights)
    assert code == 2 and "--record" in err
