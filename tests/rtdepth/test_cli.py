import subprocess
import sys

import cv2
import numpy as np
import pytest
from helpers import cli_result, tum_rgb


def rtdepth(*args):
    """The command in this process (tests/helpers.py: run_cli); the entry point itself is tested once below."""
    return cli_result(*args)


def test_version():
    # The console entry point, as a user's shell runs it: a process of its own.
    r = subprocess.run([sys.executable, "-m", "rtdepth", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("rtdepth ")


def test_models_lists_parameter_counts():
    r = rtdepth("models")
    assert r.returncode == 0 and "1,964,545" in r.stdout and "resnet34_unet" in r.stdout


def test_image_on_real_frame_writes_png_and_raw_depth(tmp_path, tum_dir, tiny_weights):
    out, raw = tmp_path / "depth.png", tmp_path / "depth_mm.png"
    r = rtdepth("image", tum_rgb(tum_dir, 2), "-o", out, "--raw", raw, "-w", tiny_weights, "--backend", "torch")
    assert r.returncode == 0, r.stderr
    png = cv2.imread(str(out))
    assert png.shape == (240, 320, 3)
    mm = cv2.imread(str(raw), cv2.IMREAD_UNCHANGED)
    assert mm.dtype == np.uint16 and mm.shape == (240, 320) and mm.min() > 0


def test_image_side_by_side_and_npy(tmp_path, tum_dir, tiny_weights):
    out, raw = tmp_path / "sbs.png", tmp_path / "d.npy"
    r = rtdepth("image", tum_rgb(tum_dir, 2), "-o", out, "--raw", raw, "-w", tiny_weights,
                "--layout", "side-by-side", "--backend", "torch")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert cv2.imread(str(out)).shape == (240, 640, 3)
    assert np.load(raw).shape == (240, 320)


@pytest.mark.parametrize(
    "args, message",
    [
        (["image", "missing.jpg", "-o", "o.png"], "no such file"),
        (["image", "{not_image}", "-o", "o.png"], "not an image"),
        (["image", "{frame}", "-o", "/nonexistent/dir/o.png"], "does not exist"),
        (["image", "{frame}", "-o", "o.png", "--colormap", "rainbow"], "unknown colormap"),
        (["image", "{frame}", "-o", "o.png", "--size", "big"], "--size"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(tmp_path, tum_dir, args, message, monkeypatch):
    not_image = tmp_path / "x.jpg"
    not_image.write_text("text")
    args = [a.format(not_image=not_image, frame=tum_rgb(tum_dir, 2)) for a in args]
    monkeypatch.chdir(tmp_path)
    r = rtdepth(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_export_command_verifies(tmp_path, tiny_weights):
    out = tmp_path / "m.onnx"
    r = rtdepth("export", "-w", tiny_weights, "-o", out)
    assert r.returncode == 0, r.stderr
    assert out.is_file() and "max |diff|" in r.stdout


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """A JPEG with an APP1 EXIF block whose IFD0 holds one Orientation tag, as phones write it."""
    import struct

    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += struct.pack("<I", 0)
    app1 = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def test_a_portrait_phone_photo_comes_out_upright(tmp_path, tum_dir, tiny_weights):
    from helpers import run_cli

    photo = tmp_path / "portrait.jpg"
    photo.write_bytes(_with_exif_orientation(tum_rgb(tum_dir, 2).read_bytes(), 6))  # stored landscape, shown portrait
    code, _, err = run_cli("image", photo, "-o", tmp_path / "d.png", "--raw", tmp_path / "d.npy", "-w", tiny_weights)
    assert code == 0, err
    assert cv2.imread(str(tmp_path / "d.png")).shape == (320, 240, 3) and np.load(tmp_path / "d.npy").shape == (320, 240)


def test_legend_adds_a_colour_bar_in_metres(tmp_path, tum_dir, tiny_weights):
    from helpers import run_cli

    for name, extra in (("plain.png", ()), ("legend.png", ("--legend",))):
        code, _, err = run_cli("image", tum_rgb(tum_dir, 2), "-o", tmp_path / name, "-w", tiny_weights, "--range", "0.5", "4",
                               "--layout", "depth", *extra)  # fmt: skip
        assert code == 0, err
    plain, legend = cv2.imread(str(tmp_path / "plain.png")), cv2.imread(str(tmp_path / "legend.png"))
    changed = np.any(plain != legend, axis=2)
    assert changed[:, :240].sum() == 0 and changed[:, 240:].sum() > 500  # only the right edge carries the bar
    from rtdepth.stream.visualize import colorize

    x = int(np.nonzero(changed[120])[0].min()) + 3  # inside the bar, left of its labels
    near, far = colorize(np.ones((1, 1), np.float32))[0, 0], colorize(np.zeros((1, 1), np.float32))[0, 0]
    assert np.abs(legend[52, x].astype(int) - near).sum() < 60 and np.abs(legend[188, x].astype(int) - far).sum() < 60


def test_eval_and_image_take_multi_size(tiny_weights, tum_dir, tmp_path):
    import json

    runs = [rtdepth("eval", "-w", tiny_weights, "--data", tum_dir, "--limit", "2", "--json", *extra)
            for extra in ((), ("--multi-size",))]  # fmt: skip
    assert all(r.returncode == 0 for r in runs), runs[-1].stderr
    one, both = (json.loads(r.stdout)["raw"]["abs_rel"] for r in runs)
    assert one != both  # the second size changed the prediction
    r = rtdepth("image", tum_rgb(tum_dir, 0), "-o", tmp_path / "d.png", "-w", tiny_weights, "--multi-size")
    assert r.returncode == 0 and (tmp_path / "d.png").is_file(), r.stderr
