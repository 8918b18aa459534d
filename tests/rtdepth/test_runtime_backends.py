import cv2
import numpy as np
import onnx
import pytest
import torch

from engines.export import verify_onnx
from rtdepth.checkpoint import file_sha256, load_model
from rtdepth.errors import RtdepthError
from rtdepth.estimator import DepthEstimator
from rtdepth.models import create_model
from rtdepth.runtime.backends import OnnxRuntimeBackend, TorchBackend

# FP32 PyTorch and ONNX Runtime run the same graph with different kernels: agreement to 1e-4 m.
ATOL = 1e-4


@pytest.fixture(scope="module")
def exported(tiny_weights, tiny_onnx):
    return load_model(tiny_weights)[0], tiny_onnx


def test_onnx_file_is_checked_single_and_self_describing(exported, tiny_weights):
    _, path = exported
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert not list(path.parent.glob("*.data"))  # no external data
    assert proto.opset_import[0].version >= 17
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["model"] == "unet" and meta["weights_sha256"] == file_sha256(tiny_weights)
    assert meta["input_width"] == "64" and meta["input_height"] == "48" and "rtdepth_version" in meta
    inp, out = proto.graph.input[0], proto.graph.output[0]
    assert inp.name == "image" and out.name == "depth"
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and dims[1] == 3 and isinstance(dims[2], str) and isinstance(dims[3], str)


@pytest.mark.parametrize("shape", [(1, 48, 64), (2, 45, 71), (1, 33, 97)])
def test_onnx_runtime_matches_torch_at_any_size(exported, shape):
    model, path = exported
    n, h, w = shape
    images = np.random.default_rng(0).integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    ort = OnnxRuntimeBackend(path).infer(images)
    ref = TorchBackend(model, "cpu").infer(images)
    assert ort.shape == (n, h, w)
    np.testing.assert_allclose(ort, ref, atol=ATOL, rtol=0)


def test_verify_on_real_frames(exported, real_frame):
    model, path = exported
    rgb = cv2.cvtColor(real_frame, cv2.COLOR_BGR2RGB)
    assert verify_onnx(model, path, [rgb, cv2.resize(rgb, (319, 241))]) < ATOL


def test_verify_catches_a_wrong_export(exported, real_frame):
    _, path = exported
    other = create_model("unet", width=4).eval()  # different random weights
    with pytest.raises(RtdepthError, match="differs from PyTorch"):
        verify_onnx(other, path, [cv2.cvtColor(real_frame, cv2.COLOR_BGR2RGB)])


def test_corrupt_onnx_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(RtdepthError, match="not a loadable ONNX model"):
        OnnxRuntimeBackend(bad)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_estimator_returns_depth_at_frame_size_for_any_format(tiny_weights, tmp_path, monkeypatch, backend, real_frame,
                                                               seed_onnx):  # fmt: skip
    monkeypatch.setenv("RTDEPTH_ENGINES", str(tmp_path))
    if backend == "onnxruntime":
        with pytest.raises(RtdepthError, match="no ONNX export"):  # opening never exports behind the caller's back
            DepthEstimator.from_weights(tiny_weights, backend=backend, device="cpu")
        seed_onnx()  # as `rtdepth export` would
    est = DepthEstimator.from_weights(tiny_weights, backend=backend, device="cpu")
    frames = [
        real_frame,  # BGR uint8
        cv2.cvtColor(real_frame, cv2.COLOR_BGR2GRAY),  # grey
        real_frame.astype(np.uint16) * 257,  # 16-bit
        cv2.cvtColor(real_frame, cv2.COLOR_BGR2BGRA),  # 4 channels
        real_frame[:101, :77],  # odd size
    ]
    for f in frames:
        d = est.predict(f)
        assert d.shape == f.shape[:2] and d.dtype == np.float32 and (d > 0).all()


def test_torch_and_ort_estimators_agree(tiny_weights, tmp_path, monkeypatch, real_frame, seed_onnx):
    monkeypatch.setenv("RTDEPTH_ENGINES", str(tmp_path))
    a = DepthEstimator.from_weights(tiny_weights, backend="torch", device="cpu").predict(real_frame)
    assert DepthEstimator.from_weights(tiny_weights, backend="auto", device="cpu").backend_name == "torch"  # nothing cached
    seed_onnx()  # the export, cached as `rtdepth export` leaves it
    from rtdepth.runtime.openvino import openvino_available

    auto = DepthEstimator.from_weights(tiny_weights, backend="auto", device="cpu")
    # auto uses the cached export on the CPU: OpenVINO where installed (fp32: no bf16 gate measured yet), else ORT
    assert auto.backend_name == ("openvino" if openvino_available() else "onnxruntime") and auto.precision == "fp32"
    b = DepthEstimator.from_weights(tiny_weights, backend="onnxruntime", device="cpu").predict(real_frame)
    np.testing.assert_allclose(a, b, atol=ATOL)
    np.testing.assert_allclose(auto.predict(real_frame), b, atol=ATOL)


def test_flip_averages_with_the_mirrored_frame(tiny_weights, real_frame):
    """With flip (the default) a mirrored frame's depth is the mirrored depth; each estimate is the mean of two plain ones."""
    est = DepthEstimator.from_weights(tiny_weights, backend="torch", device="cpu")
    plain = DepthEstimator.from_weights(tiny_weights, backend="torch", device="cpu", flip=False)
    assert est.flip and not plain.flip
    mirrored = np.ascontiguousarray(real_frame[:, ::-1])
    p, q = plain.predict(real_frame), plain.predict(mirrored)
    assert np.abs(q[:, ::-1] - p).max() > 1e-3  # the network alone is not mirror-symmetric
    a, b = est.predict(real_frame), est.predict(mirrored)
    np.testing.assert_allclose(b[:, ::-1], a, atol=1e-5)
    np.testing.assert_allclose(a, (p + q[:, ::-1]) / 2, atol=1e-5)


def test_multi_size_is_the_geometric_mean_of_the_size_and_a_smaller_one(tiny_weights, real_frame):
    from rtdepth.estimator import SECOND_SIZE

    est = DepthEstimator.from_weights(tiny_weights, backend="torch", device="cpu", size=(160, 120), multi_size=True)
    one = DepthEstimator.from_weights(tiny_weights, backend="torch", device="cpu", size=(160, 120))
    small = DepthEstimator.from_weights(tiny_weights, backend="torch", device="cpu", size=(128, 96))
    assert est.model_size_for((640, 480), SECOND_SIZE) == (128, 96) and "+0.8x size" in est.describe()
    p, q = one.predict(real_frame), small.predict(real_frame)
    assert np.abs(p - q).max() > 1e-3  # the two sizes see the frame differently
    np.testing.assert_allclose(est.predict(real_frame), np.sqrt(p * q), rtol=1e-5)
    assert est.with_flip(False).multi_size  # a server's still answers keep it


def test_fp16_on_cpu_is_refused():
    with pytest.raises(RtdepthError, match="fp16 needs a CUDA device"):
        TorchBackend(create_model("unet", width=4), "cpu", "fp16")


@pytest.mark.gpu
def test_cuda_fp16_backend_close_to_fp32(tiny_weights, real_frame):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    model, _ = load_model(tiny_weights)
    rgb = cv2.cvtColor(real_frame, cv2.COLOR_BGR2RGB)[None]
    ref = TorchBackend(model, "cpu").infer(rgb)
    half = TorchBackend(load_model(tiny_weights)[0], "cuda", "fp16").infer(rgb)
    assert np.abs(half - ref).max() < 0.05


@pytest.mark.gpu
def test_cuda_graph_backend_matches_eager(tiny_weights, real_frame):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    rgb = cv2.cvtColor(real_frame, cv2.COLOR_BGR2RGB)[None]
    eager = TorchBackend(load_model(tiny_weights)[0], "cuda", "fp16")
    graph = TorchBackend(load_model(tiny_weights)[0], "cuda", "fp16", cuda_graph=True)
    first, again = graph.infer(rgb), graph.infer(rgb[:, ::-1].copy())  # capture, then replay on new data
    np.testing.assert_allclose(first, eager.infer(rgb), atol=1e-2)
    np.testing.assert_allclose(again, eager.infer(rgb[:, ::-1].copy()), atol=1e-2)
