"""tools/gpu_train.py: a timed training run from carried packs (run here on the CPU, tiny)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from rtdepth.stream.depth_io import save_depth, write_image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from gpu_train import epochs_for, measured_rate, spread  # noqa: E402


def test_epochs_fill_the_time_and_the_returned_epochs_spread_to_the_last(tmp_path):
    assert epochs_for(280, 433, 1788) == 58  # the stage-10 run: 240 s of training at the measured rate
    assert epochs_for(30, 433, 1788) == 1 and epochs_for(10_000, 1000, 10) == 200
    paths = [Path(f"epoch{i}.safetensors") for i in range(1, 59)]
    assert [p.name for p in spread(paths, 3)] == ["epoch1.safetensors", "epoch29.safetensors", "epoch58.safetensors"]
    assert spread(paths[:2], 3) == paths[:2] and spread(paths, 1) == [paths[-1]]
    report = tmp_path / "gpu_check.json"
    report.write_text(json.dumps({"training": [{"model": "unet", "samples_per_s": 803.0}]}))
    assert measured_rate(report, "unet") == 803.0 and measured_rate(report, "resnet34_unet") is None
    assert measured_rate(tmp_path / "missing.json", "unet") is None


def test_a_timed_run_from_a_pack_returns_weights_log_and_plan(tmp_path):
    src = tmp_path / "desk"
    for sub in ("rgb", "depth"):
        (src / sub).mkdir(parents=True)
    yy, xx = np.mgrid[:48, :64]
    for i in range(8):
        write_image(src / "rgb" / f"{i:04d}.jpg", np.stack([xx * 4, yy * 5, xx + yy + 9 * i], -1).astype(np.uint8), [1, 95])
        save_depth(src / "depth" / f"{i:04d}.png", np.full((48, 64), 1.0 + 0.1 * i, np.float32))
    packs, data, out = tmp_path / "packs", tmp_path / "d", tmp_path / "out"
    packs.mkdir()
    r = subprocess.run([sys.executable, "-m", "train.pack", "pack", str(src), "--width", "64", "--height", "48",
                        "-o", str(packs / "desk.tar")], cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    config = {"data": [str(data / "desk")], "model": "unet", "model_kwargs": {"width": 4}, "width": 64, "height": 48,
              "batch_size": 4, "workers": 0, "device": "cpu", "out": str(tmp_path / "run"), "augment": False}  # fmt: skip
    (tmp_path / "gpu.yaml").write_text(yaml.safe_dump(config))
    r = subprocess.run([sys.executable, "tools/gpu_train.py", "--packs", str(packs), "--config", str(tmp_path / "gpu.yaml"),
                        "--seconds", "120", "--rate", "0.3", "--check", str(tmp_path / "none.json"), "--data", str(data),
                        "-o", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "8 frames, 0 samples/s, 3 epochs" in r.stdout  # 0.3 samples/s x 80 s / 8 frames
    assert sorted(p.name for p in out.glob("epoch*")) == ["epoch1.safetensors", "epoch2.safetensors", "epoch3.safetensors"]
    assert (out / "log.jsonl").is_file() and "train exit 0" in (out / "plan.txt").read_text()
