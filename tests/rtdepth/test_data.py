import zipfile

import cv2
import numpy as np
import pytest

from rtdepth.data import Sample, open_dataset
from rtdepth.data.readers import DenseDepthCSVDataset, folder_dataset, tum_dataset
from rtdepth.data.splits import resolve_split, split_indices, spread_evenly
from rtdepth.errors import RtdepthError
from train.augment import AugmentConfig, augment, scale_crop


def test_reads_the_bundled_tum_pairs(tum_dir):
    ds = folder_dataset(tum_dir)
    assert len(ds) == 16
    s = ds[0]
    assert s.rgb.shape == (240, 320, 3) and s.rgb.dtype == np.uint8
    raw = cv2.imread(str(tum_dir / "depth" / "0000.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_allclose(s.depth, raw / 1000.0, rtol=1e-6)
    assert 0.1 < (s.depth == 0).mean() < 0.5


def _write_pair(folder, name, depth_raw, rgb=None):
    (folder / "rgb").mkdir(parents=True, exist_ok=True)
    (folder / "depth").mkdir(parents=True, exist_ok=True)
    rgb = rgb if rgb is not None else np.full(depth_raw.shape + (3,), 128, np.uint8)
    cv2.imwrite(str(folder / "rgb" / f"{name}.png"), rgb)
    cv2.imwrite(str(folder / "depth" / f"{name}.png"), depth_raw)


def test_rgb_depth_folder_without_pairs_list(tmp_path):
    _write_pair(tmp_path, "a", np.full((8, 10), 1500, np.uint16))
    _write_pair(tmp_path, "b", np.full((8, 10), 3000, np.uint16))
    ds = folder_dataset(tmp_path, depth_scale=1000)
    assert len(ds) == 2 and ds[1].depth[0, 0] == pytest.approx(3.0)


def test_tum_sequence_associates_by_timestamp_with_scale_5000(tmp_path):
    (tmp_path / "rgb").mkdir()
    (tmp_path / "depth").mkdir()
    cv2.imwrite(str(tmp_path / "rgb" / "1.000.png"), np.zeros((6, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "rgb" / "2.000.png"), np.zeros((6, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "depth" / "1.010.png"), np.full((6, 8), 10000, np.uint16))
    (tmp_path / "rgb.txt").write_text("# rgb\n1.000 rgb/1.000.png\n2.000 rgb/2.000.png\n")
    (tmp_path / "depth.txt").write_text("# depth\n1.010 depth/1.010.png\n")
    ds = tum_dataset(tmp_path)
    assert len(ds) == 1  # 2.000 has no depth within 20 ms
    assert ds[0].depth[0, 0] == pytest.approx(2.0)
    assert len(folder_dataset(tmp_path)) == 1  # recognised as TUM by its lists


def test_nyu_labeled_mat_transposed_axes(tmp_path):
    h5py = pytest.importorskip("h5py")
    rgb = np.random.default_rng(0).integers(0, 255, (2, 6, 8, 3), dtype=np.uint8)  # N, H, W, C
    depth = np.random.default_rng(1).uniform(0.5, 9, (2, 6, 8)).astype(np.float32)
    path = tmp_path / "nyu_depth_v2_labeled.mat"
    with h5py.File(path, "w") as f:  # MATLAB v7.3 stores column-major: N x C x W x H and N x W x H
        f["images"] = rgb.transpose(0, 3, 2, 1)
        f["depths"] = depth.transpose(0, 2, 1)
    ds = open_dataset(path)
    assert len(ds) == 2
    np.testing.assert_array_equal(ds[1].rgb, rgb[1])
    np.testing.assert_allclose(ds[1].depth, depth[1])


def test_densedepth_zip_train_and_test_scaling(tmp_path):
    rgb = np.zeros((6, 8, 3), np.uint8)
    _, jpg = cv2.imencode(".jpg", rgb)
    _, train_png = cv2.imencode(".png", np.full((6, 8), 255, np.uint8))  # 255 = 10 m
    _, test_png = cv2.imencode(".png", np.full((6, 8), 2500, np.uint16))  # mm
    path = tmp_path / "nyu_data.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data/nyu2_train/a/1.jpg", jpg.tobytes())
        z.writestr("data/nyu2_train/a/1.png", train_png.tobytes())
        z.writestr("data/nyu2_test/0.jpg", jpg.tobytes())
        z.writestr("data/nyu2_test/0.png", test_png.tobytes())
        z.writestr("data/nyu2_train.csv", "data/nyu2_train/a/1.jpg,data/nyu2_train/a/1.png\n")
        z.writestr("data/nyu2_test.csv", "data/nyu2_test/0.jpg,data/nyu2_test/0.png\n")
    assert open_dataset(path)[0].depth[0, 0] == pytest.approx(2.5)
    train = DenseDepthCSVDataset(path, "data/nyu2_train.csv")
    assert train[0].depth[0, 0] == pytest.approx(10.0)


def test_bad_dataset_paths(tmp_path):
    with pytest.raises(RtdepthError, match="no such dataset"):
        open_dataset(tmp_path / "missing")
    with pytest.raises(RtdepthError, match="expected pairs.txt"):
        open_dataset(tmp_path)
    (tmp_path / "pairs.txt").write_text("0000 only-one-column\n")
    with pytest.raises(RtdepthError, match="malformed"):
        open_dataset(tmp_path)


def test_depth_of_wrong_size_or_dtype(tmp_path):
    _write_pair(tmp_path, "a", np.full((8, 10), 1500, np.uint16), rgb=np.zeros((9, 10, 3), np.uint8))
    with pytest.raises(RtdepthError, match="depth is 10x8, RGB is 10x9"):
        folder_dataset(tmp_path)[0]
    cv2.imwrite(str(tmp_path / "depth" / "a.png"), np.zeros((9, 10, 3), np.uint8))
    with pytest.raises(RtdepthError, match="single-channel"):
        folder_dataset(tmp_path)[0]


def test_block_split_keeps_contiguous_blocks_apart():
    train, val = split_indices(100, 0.3, "blocks", blocks=10)
    assert len(val) == 30 and not set(train) & set(val) and sorted(train + val) == list(range(100))
    assert all(b - a == 1 or b - a > 5 for a, b in zip(val, val[1:]))  # whole blocks, not scattered frames


def test_auto_split_holds_out_blocks_of_video_and_train_eval_agree(tum_dir):
    from rtdepth.evaluate import EvalOptions, select
    from train.config import TrainConfig
    from train.trainer import build_datasets

    video, rooms = open_dataset(tum_dir), open_dataset("synthetic:10")
    assert resolve_split("auto", video) == "blocks" and resolve_split("auto", rooms) == "random"
    assert resolve_split("random", video) == "random"
    _, val = build_datasets(TrainConfig(data=[str(tum_dir)], cache=False))  # default split: auto
    assert val.indices == select(video, EvalOptions(subset="val")) == split_indices(len(video), 0.3, "blocks")[1]


def test_train_only_data_is_trained_on_whole_and_leaves_the_held_out_part_unchanged(tum_dir):
    from train.config import TrainConfig
    from train.trainer import build_datasets

    n = len(open_dataset(tum_dir))
    plain_train, plain_val = build_datasets(TrainConfig(data=[str(tum_dir)], cache=False))
    train, val = build_datasets(TrainConfig(data=[str(tum_dir)], train_only=[str(tum_dir)], cache=False))
    assert val.indices == plain_val.indices  # the second copy adds nothing to validation
    assert train.indices == plain_train.indices + list(range(n, 2 * n))  # and all of it to training
    assert TrainConfig.from_dict({"data": str(tum_dir), "train_only": str(tum_dir)}).train_only == [str(tum_dir)]


def test_random_split_is_70_30():
    train, val = split_indices(100, 0.3, "random", seed=3)
    assert len(train) == 70 and len(val) == 30


def test_spread_evenly_reaches_both_ends_and_keeps_short_lists():
    frames = list(range(100, 110))
    assert spread_evenly(frames, 4) == [100, 103, 106, 109]
    assert spread_evenly(frames, 3) == [100, 104, 109]  # 4.5 rounds down: every caller picks the same frames
    assert spread_evenly(frames, 1) == [100]
    assert spread_evenly(frames[:3], 5) == [100, 101, 102]


def test_augmentation_keeps_rgb_and_depth_aligned():
    # A vertical edge at x=20 in both RGB and depth must stay aligned through flips and scale-crops.
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:, 20:] = 255
    depth = np.where(np.arange(60)[None, :] >= 20, 4.0, 2.0).astype(np.float32).repeat(40, 0)
    cfg = AugmentConfig(brightness=0, contrast=0, saturation=0, channel_swap=0, scale_prob=1.0, scale_depth=False)
    for seed in range(10):
        out = augment(Sample(rgb, depth), cfg, np.random.default_rng(seed))
        bright = out.rgb[..., 0] > 127
        far = out.depth > 3.0
        assert (bright == far).mean() > 0.97


def test_scale_crop_never_blends_invalid_depth():
    depth = np.zeros((20, 20), np.float32)
    depth[:, 10:] = 5.0
    out = scale_crop(Sample(np.zeros((20, 20, 3), np.uint8), depth), 1.37, np.random.default_rng(0), scale_depth=False)
    assert set(np.unique(out.depth)) <= {0.0, 5.0}
