"""Faults made to happen for real: signals to real processes, a file-size limit standing in for a full
disk, inputs given as outputs, bad configs and bad ONNX files. Each ends in one line, the documented exit
code, the previous output intact and no partial file left where it could be mistaken for a result."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import pytest
from helpers import make_clip, tum_rgb

pytestmark = pytest.mark.slow


def rtdepth_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "rtdepth", *map(str, args)]


def error_lines(stderr: str) -> list[str]:
    """What a user reads: the lines that are not progress-bar redraws."""
    return [line for line in stderr.splitlines() if line.strip() and "━" not in line and "samples/s" not in line]


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def wait_for(predicate, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the run to reach the point of the fault")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory, tum_dir) -> Path:
    frames = [cv2.imread(str(tum_rgb(tum_dir, i))) for i in range(200)]
    return make_clip(tmp_path_factory.mktemp("faults") / "long.mp4", frames, fps=30)


def video_run(clip: Path, out: Path, weights: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen(rtdepth_cmd("video", clip, "-o", out, "-w", weights, "-b", "torch"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)  # fmt: skip


def test_sigterm_finalises_the_video_with_the_frames_done(tmp_path, long_clip, tiny_weights):
    out = tmp_path / "out.mp4"
    proc = video_run(long_clip, out, tiny_weights)
    partial = tmp_path / "out.partial.mp4"
    wait_for(lambda: partial.exists() and partial.stat().st_size > 20_000)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    lines = error_lines(err)
    n = frame_count(out)
    assert len(lines) == 1 and "SIGTERM" in lines[0] and f"{n} frames" in lines[0]
    assert 0 < n < 200 and not partial.exists()


def test_sigkill_keeps_the_previous_video_and_the_next_run_clears_the_partial(tmp_path, long_clip, tiny_weights):
    out = tmp_path / "out.mp4"
    previous = make_clip(out, [cv2.imread(str(tum_rgb(Path(__file__).parent / "data" / "tum_fr1_xyz_16", 0)))] * 3)
    before = previous.read_bytes()
    proc = video_run(long_clip, out, tiny_weights)
    partial = tmp_path / "out.partial.mp4"
    wait_for(lambda: partial.exists() and partial.stat().st_size > 20_000)
    proc.kill()
    proc.communicate(timeout=60)
    assert out.read_bytes() == before and frame_count(out) == 3
    assert partial.exists()  # named as unfinished; removed by the next run
    again = subprocess.run(rtdepth_cmd("video", long_clip, "-o", out, "-w", tiny_weights, "-b", "torch"),
                           capture_output=True, text=True)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert frame_count(out) == 200 and not partial.exists()


def test_full_disk_keeps_the_previous_video_and_says_so_in_one_line(tmp_path, long_clip, tiny_weights):
    out = tmp_path / "out.mp4"
    make_clip(out, [cv2.imread(str(tum_rgb(Path(__file__).parent / "data" / "tum_fr1_xyz_16", 0)))] * 3)
    before = out.read_bytes()

    def small_disk():  # files over 200 kB cannot grow: the writer sees EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    proc = video_run(long_clip, out, tiny_weights, preexec_fn=small_disk)
    _, err = proc.communicate(timeout=180)
    lines = error_lines(err)
    assert proc.returncode != 0 and len(lines) == 1 and "previous file kept" in lines[0], err
    assert out.read_bytes() == before and not (tmp_path / "out.partial.mp4").exists()


def test_outputs_equal_to_inputs_are_refused_before_any_work(tmp_path, long_clip, tum_dir):
    image = tmp_path / "a.jpg"
    image.write_bytes(tum_rgb(tum_dir, 0).read_bytes())
    before = image.read_bytes()
    cases = (("image", image, "-o", image), ("video", long_clip, "-o", long_clip), ("video", long_clip, "-o", tmp_path / "o.png"))
    for args in cases:
        r = subprocess.run(rtdepth_cmd(*args), capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and len(error_lines(r.stderr)) == 1, r.stderr
    assert image.read_bytes() == before and long_clip.stat().st_size > 0


def train_config(tmp_path: Path, tum_dir: Path, **extra) -> Path:
    cfg = {"data": [str(tum_dir)], "model": "unet", "model_kwargs": {"width": 4}, "width": 64, "height": 48,
           "batch_size": 2, "epochs": 500, "workers": 0, "augment": False, "out": str(tmp_path / "run"), **extra}  # fmt: skip
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def saved_step(run: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(run / "state.safetensors"), framework="pt") as f:
        return json.loads(f.metadata()["rtdepth_train_state"])["meta"]["step"]


def test_sigint_and_sigterm_during_training_save_state_and_resume_continues(tmp_path, tum_dir):
    run = tmp_path / "run"
    cfg = train_config(tmp_path, tum_dir)
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        resume = ["--resume", "-o", run] if (run / "state.safetensors").exists() else []
        proc = subprocess.Popen(rtdepth_cmd("train", "-c", cfg, *resume), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
        epochs_wanted = 3 if resume else 1
        wait_for(lambda n=epochs_wanted: (run / "log.jsonl").exists() and len((run / "log.jsonl").read_text().splitlines()) >= n)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        errors = [line for line in error_lines(err) if line.startswith("error")]  # epoch reports are printed too
        assert proc.returncode == code and len(errors) == 1 and errors[0] == error_lines(err)[-1], err
        assert "--resume" in errors[0] and "state.safetensors" in errors[0]
    step = saved_step(run)
    epochs_before = [json.loads(x)["epoch"] for x in (run / "log.jsonl").read_text().splitlines()]
    done = subprocess.run(rtdepth_cmd("train", "-c", cfg, "--resume", "-o", run, "--max-steps", step + 4), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["steps"] == step + 4
    epochs = [json.loads(x)["epoch"] for x in (run / "log.jsonl").read_text().splitlines()]
    assert epochs[: len(epochs_before)] == epochs_before and epochs == sorted(set(epochs)), "resume restarted epochs"


def test_sigkill_mid_epoch_resumes_from_the_periodic_save_and_cleans_temporaries(tmp_path, tum_dir):
    run = tmp_path / "run"
    cfg = train_config(tmp_path, tum_dir, save_every=0.0003, val_every=1000)  # a save every ~20 ms of steps
    proc = subprocess.Popen(rtdepth_cmd("train", "-c", cfg), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (run / "state.safetensors").exists() and saved_step(run) >= 3)
    proc.kill()
    proc.communicate(timeout=60)
    step = saved_step(run)
    stale = run / ".state.safetensors.x1y2.tmp"
    stale.write_bytes(b"half a save")
    done = subprocess.run(rtdepth_cmd("train", "-c", cfg, "--resume", "-o", run, "--max-steps", step + 2), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["steps"] == step + 2 and step >= 3
    assert not stale.exists()


@pytest.mark.parametrize(
    "body, key",
    [('{"epochs": "ten"}', "epochs"), ('{"batch_size": [2]}', "batch_size"), ("[1, 2]", "mapping"), ('{"epochs": -1}', "epochs")],
)
def test_bad_config_values_are_one_line_naming_the_key(tmp_path, tum_dir, body, key):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(body)
    r = subprocess.run(rtdepth_cmd("train", "-c", cfg, "-d", tum_dir, "-o", tmp_path / "run"), capture_output=True, text=True)
    assert r.returncode == 2 and len(error_lines(r.stderr)) == 1 and key in r.stderr, r.stderr
    assert not (tmp_path / "run").exists()


def test_onnx_files_that_are_not_depth_models_are_refused(tmp_path, tum_dir):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "H", "W"])
    model = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "id", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 18)])  # fmt: skip
    onnx.save(model, tmp_path / "identity.onnx")
    r = subprocess.run(rtdepth_cmd("image", tum_rgb(tum_dir, 0), "-o", tmp_path / "o.png", "-w", tmp_path / "identity.onnx"),
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and len(error_lines(r.stderr)) == 1 and "N x 1 x H x W" in r.stderr
    assert not (tmp_path / "o.png").exists()
