import pytest
import torch

from rtdepth.checkpoint import WeightsInfo, load_model, read_info, save_weights
from rtdepth.errors import RtdepthError
from rtdepth.models import create_model


def test_save_load_round_trip_gives_equal_outputs(tmp_path):
    torch.manual_seed(1)
    model = create_model("unet", width=4).eval()
    # Non-trivial batch-norm statistics, so buffers are checked too.
    model.train()
    model(torch.rand(4, 3, 32, 32))
    model.eval()
    info = WeightsInfo("unet", {"width": 4}, (64, 48), metrics={"delta1": 0.5})
    path = save_weights(model, tmp_path / "w.safetensors", info)
    loaded, got = load_model(path)
    assert got.model == "unet" and got.kwargs == {"width": 4} and got.input_size == (64, 48)
    assert got.metrics == {"delta1": 0.5}
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_half_precision_file_is_about_half_the_size(tmp_path):
    model = create_model("unet")
    info = WeightsInfo("unet")
    full = save_weights(model, tmp_path / "full.safetensors", info).stat().st_size
    half = save_weights(model, tmp_path / "half.safetensors", info, half=True).stat().st_size
    assert half < 0.55 * full
    loaded, _ = load_model(tmp_path / "half.safetensors")
    assert loaded.head.weight.dtype == torch.float32


def test_missing_file(tmp_path):
    with pytest.raises(RtdepthError, match="no such weights file"):
        load_model(tmp_path / "nope.safetensors")


def test_truncated_file(tmp_path, tiny_weights):
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(tiny_weights.read_bytes()[:5000])
    with pytest.raises(RtdepthError):
        load_model(bad)


def test_not_a_weights_file(tmp_path):
    bad = tmp_path / "notes.safetensors"
    bad.write_text("hello, not tensors")
    with pytest.raises(RtdepthError, match="not a safetensors weights file"):
        read_info(bad)


def test_safetensors_without_rtdepth_metadata(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(3)}, str(path))
    with pytest.raises(RtdepthError, match="without rtdepth metadata"):
        load_model(path)


def test_file_for_another_architecture(tmp_path):
    from safetensors.torch import save_file

    # Header says unet, tensors are a resnet34_unet's.
    tensors = {k: v.contiguous() for k, v in create_model("resnet34_unet").state_dict().items()}
    path = tmp_path / "mixed.safetensors"
    save_file(tensors, str(path), metadata={"rtdepth": WeightsInfo("unet").to_json()})
    with pytest.raises(RtdepthError, match="another architecture"):
        load_model(path)


def test_cli_reports_bad_weights_in_one_line(tmp_path, real_frame):
    import subprocess
    import sys

    import cv2

    img = tmp_path / "in.jpg"
    cv2.imwrite(str(img), real_frame)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 100)
    r = subprocess.run([sys.executable, "-m", "rtdepth", "image", str(img), "-o", str(tmp_path / "o.png"), "-w", str(bad)],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "bad.safetensors" in r.stderr
