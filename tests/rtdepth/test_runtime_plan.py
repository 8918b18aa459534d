"""What ``auto`` means, decided once (``rtdepth.runtime.plan``): the choice table with the machine injected
(OpenVINO installed or not, CPU flags, cached artefacts), and the OpenVINO runtime on a real export."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from helpers import cache_export, run_cli, tum_rgb

from rtdepth.errors import RtdepthError
from rtdepth.runtime import cache
from rtdepth.runtime.plan import Machine, OpenSpec, plan

AMX = Machine(openvino=True, tensorrt=False, bf16=True)
AVX2 = Machine(openvino=True, tensorrt=False, bf16=False)
BARE = Machine(openvino=False, tensorrt=False, bf16=False)


@pytest.fixture()
def weights(tmp_path, tiny_weights):
    path = tmp_path / "w.safetensors"
    shutil.copy(tiny_weights, path)
    return path


def spec(weights, tmp_path, **kw) -> OpenSpec:
    return OpenSpec(weights, engines_dir=tmp_path / "cache", **kw)


def fake_artefact(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"onnx")
    return path


def test_auto_on_a_cpu_follows_the_table(weights, tmp_path):
    folder = tmp_path / "cache"
    # Nothing exported: the API (never builds) runs PyTorch; the CLI may export, and plans for it.
    assert plan(spec(weights, tmp_path), AMX).label == "torch fp32"
    p = plan(spec(weights, tmp_path, may_build=True), AMX)
    assert (p.runtime, p.precision, p.missing) == ("openvino", "bf16", ("onnx", "bf16-gate"))
    assert plan(spec(weights, tmp_path, may_build=True), AVX2).label == "openvino fp32"  # no bf16 units: fp32
    assert plan(spec(weights, tmp_path, may_build=True), BARE).label == "onnxruntime fp32"  # no OpenVINO
    fake_artefact(cache.onnx_path(weights, folder))
    assert plan(spec(weights, tmp_path), AMX).label == "openvino fp32"  # bf16 not yet gated: the API stays on fp32
    cache.write_gate(weights, "openvino-bf16", {"passed": True, "drop": 0.001, "limit": 0.005}, folder)
    assert plan(spec(weights, tmp_path), AMX).label == "openvino bf16"
    cache.write_gate(weights, "openvino-bf16", {"passed": False, "drop": 0.02, "limit": 0.005}, folder)
    assert plan(spec(weights, tmp_path), AMX).label == "openvino fp32"  # refused by its gate
    with pytest.raises(RtdepthError, match="refused by its accuracy gate"):
        plan(spec(weights, tmp_path, precision="bf16"), AMX)
    int8 = fake_artefact(cache.int8_path(weights, "abc", folder))
    for machine, runtime in ((AMX, "openvino"), (AVX2, "openvino"), (BARE, "onnxruntime")):
        p = plan(spec(weights, tmp_path), machine)
        assert (p.runtime, p.precision, p.artefact) == (runtime, "int8", int8)
    assert plan(spec(weights, tmp_path, precision="fp32"), BARE).label == "onnxruntime fp32"


def test_explicit_choices_and_their_one_line_refusals(weights, tmp_path):
    with pytest.raises(RtdepthError, match="OpenVINO is not installed"):
        plan(spec(weights, tmp_path, backend="openvino"), BARE)
    with pytest.raises(RtdepthError, match="no bf16 matrix support"):
        plan(spec(weights, tmp_path, backend="openvino", precision="bf16"), AVX2)
    with pytest.raises(RtdepthError, match="no int8 model"):
        plan(spec(weights, tmp_path, backend="onnxruntime", precision="int8"), AMX)
    with pytest.raises(RtdepthError, match="runs fp32"):
        plan(spec(weights, tmp_path, backend="torch", precision="fp16"), AMX)
    with pytest.raises(RtdepthError, match="unknown backend"):
        plan(spec(weights, tmp_path, backend="nope"), AMX)
    assert plan(spec(weights, tmp_path, backend="openvino", precision="fp32"), AMX).missing == ("onnx",)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_weights, tiny_onnx):
    """A cache folder holding the session's one export of the tiny weights, for this module's OpenVINO tests."""
    pytest.importorskip("openvino", reason="OpenVINO not installed (pip install openvino)")
    folder = tmp_path_factory.mktemp("ov-cache")
    return folder, cache_export(tiny_weights, tiny_onnx, folder)


def test_openvino_runs_the_export_like_onnx_runtime_and_rebuilds_a_damaged_cache(exported, tum_dir):
    import cv2

    from rtdepth.runtime.backends import OnnxRuntimeBackend
    from rtdepth.runtime.openvino import OpenVinoBackend

    onnx = exported[1]
    frames = np.stack([cv2.cvtColor(cv2.imread(str(tum_rgb(tum_dir, i))), cv2.COLOR_BGR2RGB) for i in range(2)])
    reference = OnnxRuntimeBackend(onnx).infer(frames)
    blobs = cache.openvino_dir(onnx)
    got = OpenVinoBackend(onnx, "fp32", blobs).infer(frames)
    assert got.shape == reference.shape == (2, 240, 320) and got.dtype == np.float32
    np.testing.assert_allclose(got, reference, atol=1e-3)
    small = OpenVinoBackend(onnx, "fp32", blobs).infer(frames[:1, :48, :64])  # any size the model accepts
    assert small.shape == (1, 48, 64)
    assert any(blobs.iterdir())  # compiled blobs live in the engine cache
    for blob in blobs.rglob("*"):
        if blob.is_file():
            blob.write_bytes(b"damaged")
    np.testing.assert_allclose(OpenVinoBackend(onnx, "fp32", blobs).infer(frames), reference, atol=1e-3)
    with pytest.raises(RtdepthError, match="no bf16"):
        OpenVinoBackend(onnx, "bf16", blobs, flags=frozenset({"avx2"}))


def test_the_cli_prepares_openvino_and_runs_it(tmp_path, tiny_weights, tum_dir):
    pytest.importorskip("openvino", reason="OpenVINO not installed (pip install openvino)")
    code, out, err = run_cli("image", tum_rgb(tum_dir, 0), "-o", tmp_path / "d.png", "-w", tiny_weights, "-b", "openvino",
                             "--engines-dir", tmp_path / "cache", "-p", "fp32")  # fmt: skip
    assert code == 0, err
    assert "exporting" in err and (tmp_path / "d.png").is_file()
    assert list((tmp_path / "cache").glob("*-fp32.onnx"))


def test_the_bf16_gate_measures_and_records_a_verdict(exported, tiny_weights):
    from engines.openvino import gate_bf16
    from rtdepth.runtime.cpu import has_bf16

    # On a CPU without bf16 units bf16 is never compiled (the plan refuses it); the gate then judges fp32
    # against itself, which must pass with no drop: the same arithmetic and the same record.
    low = "bf16" if has_bf16() else "fp32"
    folder = exported[0]  # the export is there already: the gate measures, it does not export again
    verdict = gate_bf16(tiny_weights, folder, low=low)
    assert verdict["frames"] == 16 and verdict["limit"] == 0.005 and verdict["passed"] == (verdict["drop"] <= 0.005)
    assert low == "bf16" or (verdict["drop"] == 0 and verdict["passed"])
    assert cache.read_gate(tiny_weights, "openvino-bf16", folder) == verdict
