"""The camera behind a frame: intrinsics that follow every resize, crop and flip, what readers know, what the
user says (--fx, --fov, EXIF), and canonical-camera weights turned into metres by the true focal length."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from helpers import run_cli, tum_rgb

from rtdepth.camera import Intrinsics, from_exif, tum_intrinsics
from rtdepth.data import open_dataset
from rtdepth.data.sample import Sample
from rtdepth.errors import RtdepthError


def test_intrinsics_follow_resizes_crops_and_flips():
    cam = Intrinsics(517.3, 516.5, 318.6, 255.3, 640, 480)
    half = cam.scaled(320, 240)
    assert half.fx == pytest.approx(258.65) and half.fx_ratio == pytest.approx(cam.fx_ratio)
    assert half.scaled(640, 480).cx == pytest.approx(cam.cx)
    assert cam.cropped(100, 50, 320, 240).cx == pytest.approx(218.6)
    assert cam.mirrored().mirrored() == cam and cam.mirrored().cx == pytest.approx(639 - 318.6)
    assert Intrinsics.from_fov(90, 640, 480).fx == pytest.approx(320)
    assert Intrinsics.from_fov(60, 64, 48).hfov_deg == pytest.approx(60)
    assert tum_intrinsics("rgbd_dataset_freiburg2_desk")[0] == 520.9 and tum_intrinsics("tum_fr1_xyz_16")[0] == 517.3


def test_augmentation_keeps_the_camera_true_to_the_pixels(tum_dir):
    from train.augment import AugmentConfig, augment, resize_pair, scale_crop

    sample = open_dataset(tum_dir)[0]
    assert sample.camera is not None and sample.camera.width == sample.rgb.shape[1]
    small = resize_pair(sample, (160, 120))
    assert small.camera.fx == pytest.approx(sample.camera.fx / 2)
    rng = np.random.default_rng(0)
    zoomed = scale_crop(small, 1.5, rng, scale_depth=False)
    assert zoomed.camera.fx == pytest.approx(small.camera.fx * 1.5) and zoomed.camera.width == 160
    same = scale_crop(small, 1.5, np.random.default_rng(0), scale_depth=True)
    # Depth divided by the zoom with the focal length kept, or depth kept with the focal length grown: one
    # canonical depth (depth / fx) either way.
    valid = (zoomed.depth > 0) & (same.depth > 0)
    np.testing.assert_allclose((same.depth / same.camera.fx)[valid], (zoomed.depth / zoomed.camera.fx)[valid], rtol=1e-5)
    flipped = augment(small, AugmentConfig(flip=1.0, scale_prob=0.0), np.random.default_rng(0))
    assert flipped.camera.cx == pytest.approx(small.camera.mirrored().cx)


def test_folder_datasets_read_camera_json_and_rendered_meta(tmp_path, tum_dir):
    import json
    import shutil

    for name in ("plain", "rooms"):
        (tmp_path / name / "rgb").mkdir(parents=True)
        (tmp_path / name / "depth").mkdir()
        shutil.copy(tum_rgb(tum_dir, 0), tmp_path / name / "rgb" / "00000_00.jpg")
        shutil.copy(tum_dir / "depth" / f"{tum_rgb(tum_dir, 0).stem}.png", tmp_path / name / "depth" / "00000_00.png")
    assert open_dataset(tmp_path / "plain")[0].camera is None  # nothing says: unknown, not guessed
    (tmp_path / "plain" / "camera.json").write_text(json.dumps({"fx": 600, "fy": 600, "cx": 320, "cy": 240, "width": 640,
                                                                 "height": 480}))  # fmt: skip
    assert open_dataset(tmp_path / "plain")[0].camera.fx == pytest.approx(300)  # scaled to the 320 x 240 frame
    (tmp_path / "rooms" / "meta").mkdir()
    (tmp_path / "rooms" / "meta" / "00000.json").write_text(json.dumps({"views": [{"name": "00000_00", "fov": 90.0}]}))
    assert open_dataset(tmp_path / "rooms")[0].camera.fx == pytest.approx(160)
    (tmp_path / "plain" / "camera.json").write_text('{"fx": -1, "cx": 1, "cy": 1, "width": 2, "height": 2}')
    with pytest.raises(RtdepthError, match="camera"):
        open_dataset(tmp_path / "plain")


def test_exif_focal_length_names_a_photos_camera():
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHIHH", 0xA405, 3, 1, 26, 0)
    tags = {0xA405: 26.0}
    cam = from_exif(tags, 4032, 3024)
    assert cam.fx == pytest.approx(4032 * 26 / 36) and 65 < cam.hfov_deg < 70  # a phone's main camera
    assert from_exif({}, 640, 480) is None
    from rtdepth.imageinfo import exif_tags

    app1 = b"Exif\x00\x00" + tiff + struct.pack("<I", 0)
    jpeg = b"\xff\xd8\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + b"\xff\xd9"
    assert exif_tags(jpeg)[0xA405] == 26


def test_canonical_weights_turn_into_metres_with_the_true_focal_length(tmp_path, tum_dir):
    import cv2
    import torch

    from rtdepth.checkpoint import WeightsInfo, save_weights
    from rtdepth.estimator import DepthEstimator
    from rtdepth.models import create_model

    torch.manual_seed(0)
    path = tmp_path / "canonical.safetensors"
    info = WeightsInfo("unet", {"width": 4}, (64, 48), camera={"canonical_fx_ratio": 0.8})
    save_weights(create_model("unet", width=4), path, info)
    frame = cv2.imread(str(tum_rgb(tum_dir, 0)))
    est = DepthEstimator.from_weights(path, "torch", "cpu", flip=False)
    assert est.canonical == 0.8
    canonical = est.predict(frame, camera=Intrinsics.from_fov(64.0, 320, 240).scaled(320, 240)) / (
        Intrinsics.from_fov(64.0, 320, 240).fx_ratio / 0.8)  # fmt: skip
    wide = est.predict(frame, camera=Intrinsics(128.0, 128.0, 160, 120, 320, 240))  # fx 0.4 x width: half the canonical
    long = DepthEstimator.from_weights(path, "torch", "cpu", flip=False, fx=512.0).predict(frame)  # fx 1.6 x width
    np.testing.assert_allclose(wide, canonical * 0.5, rtol=1e-5)
    np.testing.assert_allclose(long, canonical * 2.0, rtol=1e-5)


@pytest.mark.parametrize("args", [("--fx", "0"), ("--fx", "-3"), ("--fx", "nan"), ("--fov", "5"), ("--fov", "171"),
                                  ("--fx", "300", "--fov", "60")])  # fmt: skip
def test_bad_camera_values_are_one_line(tmp_path, tum_dir, tiny_weights, args):
    code, _, err = run_cli("image", tum_rgb(tum_dir, 0), "-o", tmp_path / "o.png", "-w", tiny_weights, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and not (tmp_path / "o.png").exists(), err


def test_image_says_which_camera_it_assumed(tmp_path, tum_dir, tiny_weights):
    code, out, err = run_cli("image", tum_rgb(tum_dir, 0), "-o", tmp_path / "o.png", "-w", tiny_weights)
    assert code == 0 and "assumed fx 262 px" in out, out + err
    code, out, _ = run_cli("image", tum_rgb(tum_dir, 0), "-o", tmp_path / "o.png", "-w", tiny_weights, "--fov", "90")
    assert code == 0 and "fx 160 px as given" in out
    assert Sample.__dataclass_fields__["camera"].default is None  # readers that do not know leave it unknown
