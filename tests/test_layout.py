"""The house's shape: arrows run one way, and commands write only what they are asked to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import cli_result, tum_rgb

REPO = Path(__file__).resolve().parents[1]


def test_rtdepth_never_imports_train_or_engines():
    modules = sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for p in (REPO / "rtdepth").rglob("*.py")
        if p.name != "__main__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('train', 'engines'))\n"
        "print(','.join(bad))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"rtdepth imported {r.stdout.strip()}"
    assert len(modules) > 30


def test_no_import_circles_between_packages():
    """``train`` and ``engines`` import ``rtdepth``, never each other (the renderer is part of train)."""
    for package, other in (("engines", "train"), ("train", "engines")):
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text()
            assert f"from {other}" not in text and f"import {other}" not in text, path


@pytest.mark.slow
def test_commands_leave_the_working_folder_as_they_found_it(tmp_path, tiny_weights, tum_dir, real_clip, monkeypatch,
                                                            seed_onnx):  # fmt: skip
    work, outputs, cache = tmp_path / "work", tmp_path / "outputs", tmp_path / "cache"
    work.mkdir()
    outputs.mkdir()
    monkeypatch.chdir(work)  # each command runs here, in this process (tests/helpers.py: run_cli)
    monkeypatch.setenv("RTDEPTH_ENGINES", str(cache))
    seed_onnx()  # the cache as `rtdepth export` leaves it; `export -o` below runs the exporter itself
    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(8):
        (calib / f"{i:04d}.jpg").write_bytes(tum_rgb(tum_dir, i).read_bytes())
    runs = [
        ("export", "-w", tiny_weights, "-o", outputs / "m.onnx"),
        ("build-engine", "-w", tiny_weights, "--device", "cpu", "--precision", "int8", "--calib", calib),
        ("eval", "-w", tiny_weights, "--data", tum_dir, "--limit", "2", "--json"),
        ("bench", "-w", tiny_weights, "--device", "cpu", "--iters", "1", "--e2e-frames", "3", "--json"),
        ("video", real_clip, "-o", outputs / "v.mp4", "-w", tiny_weights),
        ("image", tum_rgb(tum_dir, 0), "-o", outputs / "d.png", "-w", tiny_weights),
    ]
    for args in runs:
        r = cli_result(*args)
        assert r.returncode == 0, f"{args[0]}: {r.stderr[-2000:]}"
        assert list(work.iterdir()) == [], f"{args[0]} wrote {list(work.iterdir())} into the working folder"
    assert sorted(p.name for p in outputs.iterdir()) == ["d.png", "m.onnx", "v.mp4"]
    assert any(cache.glob("unet-*-int8-*.onnx"))  # built into the cache, not here


def test_every_weights_command_takes_w():
    import typer

    from rtdepth.cli import app

    group = typer.main.get_command(app)
    for command in ("image", "video", "live", "export", "eval", "build-engine", "bench", "serve"):
        opts = [o for p in group.commands[command].params for o in getattr(p, "opts", [])]
        assert "-w" in opts and "--weights" in opts, command


def test_the_readme_python_example_runs_as_written(tmp_path):
    import re

    text = (REPO / "README.md").read_text()
    block = re.search(r"## Python API\n\n```python\n(.*?)```", text, re.S).group(1)
    scope: dict = {}
    cwd = os.getcwd()
    try:
        os.chdir(REPO)
        exec(compile(block, "README.md", "exec"), scope)  # noqa: S102 - the README's own example
    finally:
        os.chdir(cwd)
    assert scope["depth_m"].shape == (240, 320) and scope["depth_m"].min() > 0
    assert scope["frames"].flip is False and scope["est"].flip is True
