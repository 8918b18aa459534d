"""Helpers shared by test modules (conftest is for fixtures)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np


def make_clip(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """Write a real H.264 MP4 with PyAV."""
    from rtdepth.stream.sinks import VideoSink

    with VideoSink(path, fps) as sink:
        for f in frames:
            sink.write(f)
    return path


def cache_export(weights: Path, onnx_file: Path, folder: Path | None = None) -> Path:
    """Copy an export of ``weights`` to where ``rtdepth export`` caches it in ``folder`` (default:
    ``$RTDEPTH_ENGINES``): an export takes 10-20 s, a copy nothing."""
    import shutil

    from rtdepth.runtime import cache

    target = cache.onnx_path(weights, folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_file, target)
    return target


def tum_rgb(folder: Path, i: int) -> Path:
    """The i-th RGB frame of a TUM-layout folder (cycling, so any index works on the 16-frame fixture)."""
    frames = sorted((folder / "rgb").glob("*.jpg"))
    return frames[i % len(frames)]


def tum_depth(folder: Path, i: int) -> Path:
    """The depth PNG that pairs with ``tum_rgb(folder, i)``."""
    return folder / "depth" / f"{tum_rgb(folder, i).stem}.png"


def run_cli(*args, app=None, prog_name: str = "rtdepth") -> tuple[int, str, str]:
    """``rtdepth ARGS`` (or another typer ``app``, such as ``train.average``'s) in this process, as its console
    entry point runs it (no interpreter and torch import per call): exit code, stdout, stderr. For what needs a
    process of its own (signals, resource limits, concurrent runs) the tests start one."""
    import contextlib
    import io

    from rtdepth.errors import run_app

    if app is None:
        from rtdepth.cli import app
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run_app(app, [str(a) for a in args], prog_name=prog_name)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def cli_result(*args, app=None) -> subprocess.CompletedProcess:
    """``run_cli`` as a finished process (returncode, stdout, stderr), for tests written against one."""
    return subprocess.CompletedProcess([str(a) for a in args], *run_cli(*args, app=app))


def error_lines(stderr: str) -> list[str]:
    """What a user reads: the lines that are not progress-bar redraws."""
    return [line for line in stderr.splitlines() if line.strip() and "━" not in line and "samples/s" not in line]
