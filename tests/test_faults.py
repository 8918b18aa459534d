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
import numpy as np
import pytest
from helpers import cli_result, error_lines, make_clip, run_cli, tum_rgb

pytestmark = pytest.mark.slow


def rtdepth_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "rtdepth", *map(str, args)]


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def partials(out: Path) -> list[Path]:
    """The partial files runs are writing (or a killed run left) for ``out``: hidden, with a random part."""
    return sorted(out.parent.glob(f".{out.stem}.rtdepth-partial-*{out.suffix}"))


def big_partial(out: Path) -> bool:
    return any(p.stat().st_size > 20_000 for p in partials(out) if p.exists())


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
    wait_for(lambda: big_partial(out))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    lines = error_lines(err)
    n = frame_count(out)
    assert len(lines) == 1 and "SIGTERM" in lines[0] and f"{n} frames" in lines[0]
    assert 0 < n < 200 and not partials(out)


def test_sigkill_keeps_the_previous_video_and_the_next_run_clears_the_partial(tmp_path, long_clip, tiny_weights):
    out = tmp_path / "out.mp4"
    previous = make_clip(out, [cv2.imread(str(tum_rgb(Path(__file__).parent / "data" / "tum_fr1_xyz_16", 0)))] * 3)
    before = previous.read_bytes()
    proc = video_run(long_clip, out, tiny_weights)
    wait_for(lambda: big_partial(out))
    proc.kill()
    proc.communicate(timeout=60)
    assert out.read_bytes() == before and frame_count(out) == 3
    assert partials(out)  # hidden and named as unfinished; removed by the next run on this output
    again = subprocess.run(rtdepth_cmd("video", long_clip, "-o", out, "-w", tiny_weights, "-b", "torch"),
                           capture_output=True, text=True)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert frame_count(out) == 200 and not partials(out)


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
    assert out.read_bytes() == before and not partials(out)


def test_outputs_equal_to_inputs_are_refused_before_any_work(tmp_path, long_clip, tum_dir):
    image = tmp_path / "a.jpg"
    image.write_bytes(tum_rgb(tum_dir, 0).read_bytes())
    before = image.read_bytes()
    cases = (("image", image, "-o", image), ("video", long_clip, "-o", long_clip), ("video", long_clip, "-o", tmp_path / "o.png"))
    for args in cases:
        r = cli_result(*args)
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


# --- Nothing lost, round two: outputs never eat inputs -------------------------------------------------------


@pytest.fixture()
def short_clip(tmp_path, tum_dir) -> Path:
    frames = [cv2.resize(cv2.imread(str(tum_rgb(tum_dir, i))), (64, 48)) for i in range(4)]
    return make_clip(tmp_path / "short.mp4", frames)


def test_an_input_named_like_a_partial_file_is_never_removed(tmp_path, short_clip, tiny_weights):
    clip = tmp_path / "clip.partial.mkv"  # the name the old stale-partial clean-up removed
    clip.write_bytes(short_clip.read_bytes())
    before = clip.read_bytes()
    code, _, err = run_cli("video", clip, "-o", tmp_path / "clip.mkv", "-w", tiny_weights, "-b", "torch")
    assert code == 0, err
    assert clip.read_bytes() == before and frame_count(tmp_path / "clip.mkv") == 4


def test_outputs_that_are_or_hold_inputs_are_refused_before_the_model_loads(tmp_path, tum_dir, tiny_weights):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        (frames / f"{i}.jpg").write_bytes(tum_rgb(tum_dir, i).read_bytes())
    ds = tmp_path / "ds"
    (ds / "rgb").mkdir(parents=True)
    (ds / "depth").mkdir()
    for i in range(4):
        (ds / "rgb" / f"{i}.jpg").write_bytes(tum_rgb(tum_dir, i).read_bytes())
        (ds / "depth" / f"{i}.png").write_bytes((tum_dir / "depth" / f"{tum_rgb(tum_dir, i).stem}.png").read_bytes())
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(tiny_weights.read_bytes())
    snapshot = {p: p.read_bytes() for p in [*frames.iterdir(), *ds.rglob("*.*"), weights]}
    cases = [
        ("video", frames, "-o", tmp_path / "o.mp4", "--raw-dir", frames),
        ("video", frames, "-o", tmp_path / "o.mp4", "--ply", frames),
        ("video", frames, "-o", tmp_path / "o.mp4", "--raw-dir", tmp_path),  # holds the input folder
        ("eval", "--data", ds, "-o", ds / "depth"),
        ("eval", "--data", ds, "-o", ds),
        ("export", "-w", weights, "-o", weights),
        ("image", frames / "0.jpg", "-o", tmp_path / "d.png", "--raw", frames / "0.jpg"),
    ]
    for args in cases:
        code, _, err = run_cli(*args, *(() if args[0] == "export" else ("-w", weights)))
        assert code == 2 and len(error_lines(err)) == 1 and "input" in err, (args, err)
    assert {p: p.read_bytes() for p in snapshot} == snapshot
    assert not (tmp_path / "o.mp4").exists()


def test_a_side_output_that_fails_at_frame_0_leaves_the_previous_video(tmp_path, short_clip, tiny_weights):
    out = tmp_path / "out.mp4"
    make_clip(out, [cv2.resize(cv2.imread(str(tum_rgb(Path(__file__).parent / "data" / "tum_fr1_xyz_16", 0))), (64, 48))] * 3)
    before = out.read_bytes()
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    code, _, err = run_cli("video", short_clip, "-o", out, "--ply", blocker / "clouds", "-w", tiny_weights)
    assert code == 2 and "not writable" in err and out.read_bytes() == before  # refused up front
    raw = tmp_path / "raw"
    (raw / "000000.png").mkdir(parents=True)  # frame 0's depth cannot be written: a folder holds its name
    code, _, err = run_cli("video", short_clip, "-o", out, "--raw-dir", raw, "-w", tiny_weights, "-b", "torch")
    assert code == 3 and "nothing written" in err and "previous output kept" in err, err
    assert out.read_bytes() == before and not partials(out)


def test_a_second_run_on_the_same_output_is_refused_while_the_first_writes(tmp_path, long_clip):
    from rtdepth.checkpoint import DEFAULT_WEIGHTS

    out = tmp_path / "same.mp4"
    first = video_run(long_clip, out, DEFAULT_WEIGHTS)  # the real model: long enough for a second run to start
    wait_for(lambda: big_partial(out))
    second = subprocess.run(rtdepth_cmd("video", long_clip, "-o", out, "-w", DEFAULT_WEIGHTS, "-b", "torch"),
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert second.returncode == 2 and "another rtdepth run" in second.stderr and "Traceback" not in second.stderr
    first.send_signal(signal.SIGTERM)  # the first run is untouched by the second: it finalises its own file
    _, err = first.communicate(timeout=180)
    assert first.returncode in (0, 143), err
    assert 0 < frame_count(out) <= 200 and not partials(out)


def test_training_data_without_valid_depth_is_refused_before_any_step(tmp_path, tum_dir, tiny_weights):
    ds = tmp_path / "zeros"
    (ds / "rgb").mkdir(parents=True)
    (ds / "depth").mkdir()
    for i in range(6):
        (ds / "rgb" / f"{i}.jpg").write_bytes(tum_rgb(tum_dir, i).read_bytes())
        cv2.imwrite(str(ds / "depth" / f"{i}.png"), np.zeros((240, 320), np.uint16))
    cfg = train_config(tmp_path, ds, epochs=1)
    code, _, err = run_cli("train", "-c", cfg)
    assert code == 2 and "no valid depth" in err and str(ds) in err, err
    assert not (tmp_path / "run" / "last.safetensors").exists()
    code, _, err = run_cli("eval", "--data", ds, "-w", tiny_weights)
    assert code == 2 and "object at 0x" not in err and str(ds) in err and "no valid ground-truth" in err, err


def test_an_epoch_whose_validation_yields_no_metrics_still_saves_weights_and_state(tmp_path, tum_dir, monkeypatch):
    import train.trainer as trainer

    monkeypatch.setattr(trainer, "validate", lambda *a, **k: {})  # a validation set with no valid pixel
    cfg = train_config(tmp_path, tum_dir, epochs=1, max_steps=2)
    code, _, err = run_cli("train", "-c", cfg)
    assert code == 0, err
    assert (tmp_path / "run" / "last.safetensors").is_file() and (tmp_path / "run" / "state.safetensors").is_file()
    assert not (tmp_path / "run" / "best.safetensors").exists()


def test_training_over_an_earlier_run_needs_resume_or_overwrite(tmp_path, tum_dir):
    cfg = train_config(tmp_path, tum_dir, epochs=1, max_steps=1)
    assert run_cli("train", "-c", cfg)[0] == 0
    last = (tmp_path / "run" / "last.safetensors").read_bytes()
    code, _, err = run_cli("train", "-c", cfg)
    assert code == 2 and "--resume" in err and "--overwrite" in err and len(error_lines(err)) == 1
    assert (tmp_path / "run" / "last.safetensors").read_bytes() == last
    assert run_cli("train", "-c", cfg, "--overwrite")[0] == 0
    (tmp_path / "afile").write_text("x")
    code, _, err = run_cli("train", "-c", cfg, "-o", tmp_path / "afile")
    assert code == 2 and "is a file" in err


# --- Tracebacks that became one line -------------------------------------------------------------------------


def test_bad_inputs_are_one_line_and_exit_2(tmp_path, tum_dir, tiny_weights, short_clip, monkeypatch):
    from safetensors.torch import load_file, save_file

    cases = []
    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.setenv("RTDEPTH_ENGINES", str(afile))
    cases.append((("image", tum_rgb(tum_dir, 0), "-o", tmp_path / "a.png", "-w", tiny_weights), "names a file"))
    engines = tmp_path / "engines"
    engines.mkdir()
    (engines / "index.json").write_text("[1]")
    bad_tum = tmp_path / "tum"
    bad_tum.mkdir()
    (bad_tum / "rgb.txt").write_text("1305031102.175304\n")
    (bad_tum / "depth.txt").write_text("1305031102.160407 depth/x.png\n")
    cases.append((("eval", "--data", bad_tum, "-w", tiny_weights), "rgb.txt:1"))
    (bad_tum / "rgb.txt").write_text("stamp rgb/x.png\n")
    cases.append((("train", "-d", bad_tum, "-o", tmp_path / "r"), "timestamp filename"))
    (tmp_path / "junk.zip").write_bytes(b"not a zip at all")
    cases.append((("eval", "--data", tmp_path / "junk.zip", "-w", tiny_weights), "zip"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "list.csv").write_text("data/none.jpg,data/none.png\n")
    cases.append((("eval", "--data", tmp_path / "data" / "list.csv", "-w", tiny_weights), "not there"))
    cases.append((("eval", "--data", tum_dir, "-w", tiny_weights, "-o", afile), "is a file"))
    (tmp_path / "random.yaml").write_bytes(bytes(range(256)) * 4)
    cases.append((("train", "-c", tmp_path / "random.yaml"), "cannot read config"))
    nan_weights = tmp_path / "nan.safetensors"
    tensors = load_file(str(tiny_weights))
    first = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[first] = tensors[first] * float("nan")
    from safetensors import safe_open

    with safe_open(str(tiny_weights), framework="pt") as f:
        save_file(tensors, str(nan_weights), metadata=f.metadata())
    cases.append((("image", tum_rgb(tum_dir, 0), "-o", tmp_path / "n.png", "-w", nan_weights), "NaN"))
    cases.append((("video", short_clip, "-o", tmp_path / "p.mp4", "--ply", tmp_path / "ply", "--fx", "nan", "-w", tiny_weights),
                  "--fx"))  # fmt: skip
    cases.append((("bench", "--clip", tmp_path / "missing.mp4", "-w", tiny_weights), "missing.mp4"))
    cases.append((("image", tum_dir, "-o", tmp_path / "f.png", "-w", tiny_weights), "is a folder"))
    for k, (args, words) in enumerate(cases):
        if k == 1:
            monkeypatch.setenv("RTDEPTH_ENGINES", str(engines))  # a damaged index counts as empty
        code, _, err = run_cli(*args)
        assert code == 2 and len(error_lines(err)) == 1 and words in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "n.png").exists() and not (tmp_path / "p.mp4").exists()
    code, _, err = run_cli("image", tum_rgb(tum_dir, 0), "-o", tmp_path / "ok.png", "-w", tiny_weights)
    assert code == 0, err  # the damaged index.json did not stop a command


def test_resume_with_a_damaged_state_header_is_one_line(tmp_path, tum_dir):
    from safetensors.torch import load_file, save_file

    cfg = train_config(tmp_path, tum_dir, epochs=1, max_steps=1)
    assert run_cli("train", "-c", cfg)[0] == 0
    state = tmp_path / "run" / "state.safetensors"
    tensors = load_file(str(state))
    good = json.loads(__import__("safetensors").safe_open(str(state), framework="pt").metadata()["rtdepth_train_state"])
    for header in ({}, {"meta": good["meta"], "param_groups": [{"lr": 1}]}, {**good, "meta": {**good["meta"], "epoch": "x"}}):
        save_file(tensors, str(state), metadata={"rtdepth_train_state": json.dumps(header)})
        code, _, err = run_cli("train", "-c", cfg, "--resume", "-o", tmp_path / "run")
        assert code == 2 and "damaged training state" in err and len(error_lines(err)) == 1, err


def test_piped_output_has_no_terminal_escapes_and_no_wrapped_paths(tmp_path):
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "missing.jpg"
    r = subprocess.run(rtdepth_cmd("image", deep, "-o", tmp_path / "o.png"), capture_output=True, text=True)
    assert r.returncode == 2 and "\x1b[" not in r.stderr and str(deep) in r.stderr and len(r.stderr.splitlines()) == 1


def loaded_library(pid: int, name: str) -> bool:
    """Whether process ``pid`` has mapped a shared library named ``name`` (Linux's /proc; False elsewhere)."""
    try:
        return name in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def test_sigterm_during_export_exits_143_and_leaves_no_file(tmp_path, tiny_weights):
    out = tmp_path / "m.onnx"
    proc = subprocess.Popen(rtdepth_cmd("export", "-w", tiny_weights, "-o", out, "--no-verify"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    # onnx is imported as the export begins (~1 s), then the exporter runs for 10-20 s even for tiny weights
    deadline = time.monotonic() + 60
    while not loaded_library(proc.pid, "onnx_cpp2py_export") and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(3)  # inside the exporter
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "terminate called" not in err
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


def test_leftovers_of_killed_exports_and_int8_builds_are_cleaned(tmp_path, tiny_weights):
    from engines.export import ensure_onnx
    from rtdepth.runtime import cache

    target = cache.onnx_path(tiny_weights, tmp_path)
    tmp_path.mkdir(exist_ok=True)
    stale = tmp_path / f".{target.name}.k1ll3d.tmp"
    stale.write_bytes(b"\0" * 1000)
    ensure_onnx(tiny_weights, tmp_path)
    assert target.is_file() and not stale.exists()
    from engines.quantize import build_int8

    calib = Path(__file__).parent / "data" / "tum_fr1_xyz_16"
    report = build_int8(tiny_weights, calib, tmp_path, n_calib=4, n_eval=3, max_drop=1.0)
    pre = report.path.with_suffix(".pre.onnx")
    pre.write_bytes(b"left by a killed build")
    build_int8(tiny_weights, calib, tmp_path, n_calib=4, n_eval=3, max_drop=1.0, force=True)
    assert not pre.exists() and not report.path.with_suffix(".tmp.onnx").exists()


def test_a_complete_variable_frame_rate_file_is_not_called_truncated(tmp_path, tum_dir, tiny_weights):
    from fractions import Fraction

    clip = tmp_path / "vfr.mkv"
    with av.open(str(clip), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.time_base = Fraction(1, 1000)
        pts = 0
        for i in range(60):
            img = cv2.resize(cv2.imread(str(tum_rgb(tum_dir, i))), (64, 48))
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            pts += 16 if i % 2 else 84  # 60 frames in 3 s, the rate alternating
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    code, _, err = run_cli("video", clip, "-o", tmp_path / "o.mp4", "-w", tiny_weights, "-b", "torch")
    assert code == 0, err
    assert frame_count(tmp_path / "o.mp4") == 60
    from rtdepth.estimator import DepthEstimator
    from rtdepth.serve.uploads import Limits, VideoJobs
    from rtdepth.stream.visualize import Visualizer

    jobs = VideoJobs(DepthEstimator.from_weights(tiny_weights, "torch", "cpu", flip=False), Limits(max_seconds=60))
    try:  # serve judges its length by the container's duration (3 s), not a frame-count estimate
        job = jobs.submit(clip.read_bytes(), "video/x-matroska", Visualizer())
        job.thread.join(timeout=60)
        assert job.state == "done" and job.done == 60, job
    finally:
        jobs.close()
