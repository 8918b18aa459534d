"""train.pack: training frames carried in one file to an offline GPU machine, and back to folders."""

from __future__ import annotations

import subprocess
import sys
import tarfile

import numpy as np

from rtdepth.data import open_dataset
from rtdepth.data.splits import resolve_split, split_indices
from rtdepth.stream.depth_io import save_depth, write_image
from train.augment import resize_pair
from train.pack import decode_depth, encode_depth


def test_depth_codec_is_lossless_in_millimetres_across_jumps_and_holes():
    rng = np.random.default_rng(0)
    mm = rng.integers(0, 65536, (24, 32)).astype(np.uint16)  # every jump the row differences can wrap on
    mm[:, :5] = 0  # holes stay holes
    mm[3] = 65535
    assert np.array_equal(decode_depth(encode_depth(mm.astype(np.float64) / 1000.0)), mm)
    plane = (1000 + np.add.outer(np.arange(240), 3 * np.arange(320))).astype(np.float32) / 1000.0
    blob = encode_depth(plane)
    assert len(blob) < plane.size * 2 / 20  # a rendered wall compresses to almost nothing
    assert np.array_equal(decode_depth(blob), np.rint(plane * 1000).astype(np.uint16))


def _folder(root, n):
    for sub in ("rgb", "depth"):
        (root / sub).mkdir(parents=True)
    yy, xx = np.mgrid[:48, :64]
    for i in range(n):
        rgb = np.stack([xx * 4, yy * 5, (xx + yy + 20 * i) % 256], axis=-1).astype(np.uint8)  # shading, not noise
        write_image(root / "rgb" / f"{i:04d}.jpg", rgb, [1, 95])
        depth = np.full((48, 64), 0.5 + 0.25 * i, np.float32)
        depth[:4] = 0.0
        save_depth(root / "depth" / f"{i:04d}.png", depth)
    return root


def test_pack_keeps_only_the_training_part_and_unpacks_to_a_folder_training_reads(tmp_path):
    src = _folder(tmp_path / "desk", 10)
    pack, out = tmp_path / "frames.tar", tmp_path / "unpacked"
    cmd = [sys.executable, "-m", "train.pack"]
    r = subprocess.run(cmd + ["pack", str(src), "--part", "train", "--width", "32", "--height", "24", "-o", str(pack)],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    base = open_dataset(src)
    train, val = split_indices(len(base), 0.3, resolve_split("auto", base), 20, 0)
    assert val and f"{len(train)} frames from 1 sources" in r.stdout
    r = subprocess.run(cmd + ["unpack", str(pack), "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    unpacked = open_dataset(out / "desk")
    assert len(unpacked) == len(train)  # the held-out frames never travel
    for k, i in enumerate(train):
        want = resize_pair(base[i], (32, 24))
        got = unpacked[k]
        assert got.rgb.shape == (24, 32, 3)
        assert np.array_equal(got.depth, np.rint(want.depth * 1000) / 1000)  # mm exact, holes kept
        assert np.abs(got.rgb.astype(int) - want.rgb.astype(int)).mean() < 12  # JPEG, nothing else
    again = subprocess.run(cmd + ["unpack", str(pack), "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout.startswith("0 files")  # frames on disk are kept
    blocked = pack.parent / "desk" / "rgb" / "0000.jpg" / "out"  # under a file: no folder can be made there
    r = subprocess.run(cmd + ["unpack", str(pack), "-o", str(blocked)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "cannot create the dataset folders" in r.stderr and "Traceback" not in r.stderr


def test_unpack_refuses_a_tar_that_is_not_a_pack_in_one_line(tmp_path):
    foreign = tmp_path / "other.tar"
    with tarfile.open(foreign, "w") as tar:
        (tmp_path / "x.txt").write_text("hello")
        tar.add(tmp_path / "x.txt", arcname="../x.txt")
    r = subprocess.run([sys.executable, "-m", "train.pack", "unpack", str(foreign), "-o", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "not a pack from train.pack" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.txt.partial").exists() and not (tmp_path / "o").exists()
