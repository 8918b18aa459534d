import json

import numpy as np
import pytest
import torch
from helpers import cli_result, tum_depth, tum_rgb

from rtdepth.errors import RtdepthError
from rtdepth.runtime.engine_header import (
    EngineHeader,
    ShapeProfile,
    cache_key,
    check_compatible,
    check_matches_weights,
    read_engine_file,
    read_engine_header,
    write_engine_file,
)


def header(**kw) -> EngineHeader:
    profile = {"min": [320, 240], "opt": [640, 480], "max": [1280, 720], "max_batch": 1}
    base = dict(model="unet", precision="fp16", profile=profile,
                onnx_sha256="aa", weights_sha256="bb", trt_version="10.3.0", gpu_name="NVIDIA H100 80GB HBM3",
                compute_capability="9.0")  # fmt: skip
    return EngineHeader(**{**base, **kw})


def test_engine_file_round_trip(tmp_path):
    h = header()
    path = write_engine_file(tmp_path / "e.engine", h, b"\x01\x02serialized")
    got, blob = read_engine_file(path)
    assert got == h and blob == b"\x01\x02serialized"
    assert read_engine_header(path)[0].shape_profile == ShapeProfile()


def test_cache_key_changes_with_every_input():
    p = ShapeProfile()
    base = cache_key("onnx", "10.3", "H100", "9.0", "fp16", p)
    assert base == cache_key("onnx", "10.3", "H100", "9.0", "fp16", ShapeProfile())
    others = [cache_key("onnx2", "10.3", "H100", "9.0", "fp16", p), cache_key("onnx", "10.4", "H100", "9.0", "fp16", p),
              cache_key("onnx", "10.3", "L4", "8.9", "fp16", p), cache_key("onnx", "10.3", "H100", "9.0", "fp32", p),
              cache_key("onnx", "10.3", "H100", "9.0", "fp16", ShapeProfile(max=(1920, 1080)))]  # fmt: skip
    assert base not in others and len(set(others)) == len(others)
    assert header().cache_key == cache_key("aa", "10.3.0", "NVIDIA H100 80GB HBM3", "9.0", "fp16", ShapeProfile())


def test_profile_for_an_asked_size_accepts_it_and_tunes_for_it():
    full_hd = ShapeProfile.covering((1920, 1080))
    assert full_hd.contains((1920, 1080)) and full_hd.opt == (1920, 1080) and full_hd.contains((320, 240))
    small = ShapeProfile.covering((160, 120))
    assert small.contains((160, 120)) and small.max == ShapeProfile().max
    assert ShapeProfile.covering((16, 16)).min == (32, 32)  # TensorRT sides stay >= 32; the frame is fitted up
    assert ShapeProfile.covering((640, 480)) == ShapeProfile()


def test_engine_names_carry_model_weights_precision_and_gpu(tiny_weights, tmp_path):
    from rtdepth.checkpoint import file_sha256
    from rtdepth.runtime.cache import engine_path

    path = engine_path(tiny_weights, "fp16", "NVIDIA H100 80GB HBM3", "abc", tmp_path)
    assert path == tmp_path / f"unet-{file_sha256(tiny_weights)}-fp16-nvidia-h100-80gb-hbm3-abc.engine"


@pytest.mark.parametrize("data, message", [(b"", "not an rtdepth engine"), (b"PLAN" * 10, "not an rtdepth engine")])
def test_foreign_engine_files(tmp_path, data, message):
    path = tmp_path / "x.engine"
    path.write_bytes(data)
    with pytest.raises(RtdepthError, match=message):
        read_engine_file(path)


def test_truncated_engine_file(tmp_path):
    path = write_engine_file(tmp_path / "e.engine", header(), b"")
    with pytest.raises(RtdepthError, match="truncated"):
        read_engine_file(path)
    full = write_engine_file(tmp_path / "f.engine", header(), b"x" * 10).read_bytes()
    (tmp_path / "g.engine").write_bytes(full[:30])
    with pytest.raises(RtdepthError, match="corrupt engine header"):
        read_engine_file(tmp_path / "g.engine")


def test_engine_from_another_gpu_or_tensorrt_is_refused():
    h = header()
    check_compatible(h, "10.3.0", "NVIDIA H100 80GB HBM3", "9.0")
    with pytest.raises(RtdepthError, match="TensorRT 10.3.0, this is 10.5.0"):
        check_compatible(h, "10.5.0", "NVIDIA H100 80GB HBM3", "9.0")
    with pytest.raises(RtdepthError, match="built for NVIDIA H100 80GB HBM3 .sm 9.0., this GPU is NVIDIA L4"):
        check_compatible(h, "10.3.0", "NVIDIA L4", "8.9")


def test_engine_header_must_match_the_weights():
    with pytest.raises(RtdepthError, match="other weights"):
        check_matches_weights(header(), "cc")


def test_profile_fits_frames_into_range():
    p = ShapeProfile()
    assert p.fit((640, 480)) == (640, 480)
    w, h = p.fit((1920, 1080))  # too big: scaled down into range, aspect kept
    assert p.contains((w, h)) and abs(w / h - 16 / 9) < 0.02
    w, h = p.fit((160, 120))  # too small: scaled up
    assert p.contains((w, h)) and abs(w / h - 4 / 3) < 0.02
    assert p.trt_shapes() == ((1, 3, 240, 320), (1, 3, 480, 640), (1, 3, 720, 1280))
    with pytest.raises(RtdepthError, match="min <= opt <= max"):
        ShapeProfile(min=(640, 480), opt=(320, 240))
    from rtdepth.sizes import parse_size

    assert parse_size("640x480") == (640, 480)
    for bad in ("640", "0x480", "100000x100000"):
        with pytest.raises(RtdepthError):
            parse_size(bad)


def rtdepth(*args):
    """The command in this process (tests/helpers.py: run_cli)."""
    return cli_result(*args)


def test_build_engine_for_cuda_without_tensorrt_or_gpu_says_so():
    r = rtdepth("build-engine", "--device", "cuda")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "TensorRT is not installed" in r.stderr or "no CUDA GPU" in r.stderr


def test_build_engine_with_no_arguments_builds_for_this_cpu_on_the_bundled_frames(tmp_path, tiny_weights):
    from helpers import run_cli

    code, out, err = run_cli("build-engine", "-w", tiny_weights, "--engines-dir", tmp_path)  # as a new user types it
    assert code == 0, err
    assert "bundled clip" in err and "delta1 drop" in out and list(tmp_path.glob("*-int8-*.onnx"))
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli("build-engine", "--device", "cpu", "--calib", tmp_path / "empty", "-w", tiny_weights)
    assert code == 2 and "at least 4 images" in err


def test_calibration_frames_read_rgbd_folders_with_the_dataset_readers(tmp_path, tum_dir):
    from engines.quantize import calibration_frames

    frames = calibration_frames(tum_dir, (64, 48), n_calib=4, n_eval=3)  # pairs.txt: names chosen by the list
    assert len(frames.calibrate) == 4 and len(frames.judge) == 3
    assert all(rgb.shape == (48, 64, 3) and depth.shape == (48, 64) and depth.max() > 0.3 for rgb, depth in frames.judge)
    assert frames.key == calibration_frames(tum_dir, (64, 48), n_calib=4, n_eval=3).key
    assert frames.key != calibration_frames(tum_dir, (64, 48), n_calib=5, n_eval=3).key
    plain = tmp_path / "plain"
    plain.mkdir()
    for i in range(5):
        (plain / f"{i}.jpg").write_bytes(tum_rgb(tum_dir, i).read_bytes())
    judged = calibration_frames(plain, (64, 48), n_calib=4, n_eval=3).judge
    assert judged and all(depth is None for _, depth in judged)  # judged against the fp32 output instead


@pytest.mark.slow
def test_int8_build_on_real_frames_is_cached_and_measured(tmp_path, tum_dir, tiny_weights, monkeypatch, seed_onnx):
    from engines.quantize import build_int8
    from rtdepth.runtime.cache import find_int8

    monkeypatch.setenv("RTDEPTH_ENGINES", str(tmp_path))
    seed_onnx()  # exported before, as `rtdepth export` leaves it
    calib = tmp_path / "calib"
    (calib / "rgb").mkdir(parents=True)
    (calib / "depth").mkdir()
    for i in range(0, 400, 25):  # 16 real RGB-D pairs
        (calib / "rgb" / f"{i:04d}.jpg").write_bytes((tum_rgb(tum_dir, i)).read_bytes())
        (calib / "depth" / f"{i:04d}.png").write_bytes((tum_depth(tum_dir, i)).read_bytes())
    report = build_int8(tiny_weights, calib, n_calib=8, n_eval=4, max_drop=1.0)
    assert report.reference == "ground truth" and report.frames == 4
    assert report.path.is_file() and find_int8(tiny_weights) == report.path
    mtime = report.path.stat().st_mtime
    assert build_int8(tiny_weights, calib, n_calib=8, n_eval=4, max_drop=1.0).path.stat().st_mtime == mtime  # reused
    from rtdepth.estimator import DepthEstimator

    est = DepthEstimator.from_weights(tiny_weights, "onnxruntime", "cpu", precision="int8")
    assert est.predict(np.zeros((48, 64, 3), np.uint8) + 90).shape == (48, 64)


@pytest.mark.slow
def test_int8_refused_when_accuracy_drops(tmp_path, tum_dir, tiny_weights, monkeypatch, seed_onnx):
    from engines import quantize

    monkeypatch.setenv("RTDEPTH_ENGINES", str(tmp_path))
    seed_onnx()  # exported before, as `rtdepth export` leaves it
    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(0, 200, 25):
        (calib / f"{i:04d}.jpg").write_bytes((tum_rgb(tum_dir, i)).read_bytes())
    with pytest.raises(RtdepthError, match="int8 loses"):
        quantize.build_int8(tiny_weights, calib, n_calib=4, n_eval=2, max_drop=-1.0)  # any result is a "drop"
    from rtdepth.runtime.cache import find_int8

    assert find_int8(tiny_weights) is None  # the rejected model is never picked up


@pytest.mark.slow
def test_bench_json_reports_ratios(tiny_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("RTDEPTH_ENGINES", str(tmp_path))
    r = rtdepth("bench", "-w", tiny_weights, "--device", "cpu", "--iters", "3", "--e2e-frames", "8", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    rows = data["latency"]
    assert {(x["backend"], x["size"]) for x in rows} >= {("torch", "320x240"), ("onnxruntime", "640x480")}
    assert all(x["median_ms"] > 0 and x["p95_ms"] >= x["median_ms"] for x in rows)
    assert [x["speedup"] for x in rows if x["backend"] == "torch"] == [1.0, 1.0]
    assert data["end_to_end"] and all(0 < x["ratio"] for x in data["end_to_end"])
    assert not list(tmp_path.glob("*.onnx"))  # what it exported only to time it stayed out of the cache


@pytest.mark.tensorrt
def test_tensorrt_build_and_verify(tiny_weights, tmp_path):
    pytest.importorskip("tensorrt", reason="TensorRT not installed (PyPI carries only a placeholder without NVIDIA's index)")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    from engines.tensorrt import build_engine, verify_engine
    from rtdepth.runtime.tensorrt import TensorRTBackend, find_engine

    profile = ShapeProfile((64, 48), (64, 48), (320, 240))
    path = build_engine(tiny_weights, "fp16", profile, engines_dir=tmp_path)
    assert build_engine(tiny_weights, "fp16", profile, no_build=True, engines_dir=tmp_path) == path
    assert find_engine(tiny_weights, "fp16", (64, 48), tmp_path) == path  # a non-default profile is found
    other = build_engine(tiny_weights, "fp16", profile, output=tmp_path / "mine.engine", engines_dir=tmp_path / "c")
    assert find_engine(tiny_weights, "fp16", (64, 48), tmp_path / "c") == other  # so is an engine written with -o
    max_err, d1 = verify_engine(path, tiny_weights)
    assert d1 >= 0.99
    out = TensorRTBackend(path, cuda_graph=True).infer(np.full((1, 48, 64, 3), 100, np.uint8))
    assert out.shape == (1, 48, 64)


@pytest.mark.slow
def test_auto_backend_picks_up_a_built_int8_model(tmp_path, tum_dir, tiny_weights, monkeypatch, seed_onnx):
    from engines.quantize import build_int8
    from rtdepth.estimator import DepthEstimator

    monkeypatch.setenv("RTDEPTH_ENGINES", str(tmp_path))
    seed_onnx()  # exported before, as `rtdepth export` leaves it
    assert DepthEstimator.from_weights(tiny_weights, "auto", "cpu").precision == "fp32"
    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(0, 200, 25):
        (calib / f"{i:04d}.jpg").write_bytes((tum_rgb(tum_dir, i)).read_bytes())
    build_int8(tiny_weights, calib, n_calib=4, n_eval=2, max_drop=1.0)
    from rtdepth.runtime.openvino import openvino_available

    est = DepthEstimator.from_weights(tiny_weights, "auto", "cpu")  # OpenVINO runs the gated QDQ model where installed
    assert est.backend_name == ("openvino" if openvino_available() else "onnxruntime") and est.precision == "int8"
