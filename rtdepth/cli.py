"""The ``rtdepth`` command: parse options, build objects, call library functions. No logic of its own."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Optional

import typer

from rtdepth import __version__
from rtdepth.errors import RtdepthError
from rtdepth.errors import console as make_console

from .cli_options import (
    DeviceOpt,
    EnginesOpt,
    FlipOpt,
    HudOpt,
    LiveHudOpt,
    MultiSizeOpt,
    RuntimeOptions,
    SmoothOpt,
    StreamFlipOpt,
    ViewOptions,
    WeightsOpt,
    grouped,
)

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Real-time monocular depth.", pretty_exceptions_enable=False)
console = make_console()
err_console = make_console(stderr=True)


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'320x240' -> (320, 240); None stays None (the model's size)."""
    if not text:
        return None
    from .sizes import parse_size as parse

    w, h = parse(text, "--size")
    if w < 16 or h < 16:
        raise RtdepthError("--size must be at least 16x16")
    return w, h


def _estimator(rt: RuntimeOptions, streaming: bool = False, flip: bool = True, multi_size: bool = False):
    """Open the model through the one plan; on the CLI what the plan lacks is made first (said in one line), never
    silently, unless --no-build."""
    from .estimator import DepthEstimator
    from .runtime.open import open_backend

    wh = parse_size(rt.size)
    prepare = None
    if not rt.no_build:
        from engines.prepare import make_missing

        prepare = partial(make_missing, notice=err_console.print)
    be, info = open_backend(rt.weights, rt.backend, rt.device, rt.precision, wh, rt.onnx_output, not streaming,
                            rt.engines_dir, prepare)  # fmt: skip
    return DepthEstimator(be, info, wh, flip, rt.fx, rt.fov, multi_size)


def _version(value: bool) -> None:
    if value:
        console.print(f"rtdepth {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """rtdepth: depth from one RGB image, live."""


@app.command()
def models() -> None:
    """List the models, with parameter counts."""
    from rich.table import Table

    from rtdepth.models import count_parameters, create_model, describe_model, list_models

    table = Table("name", "parameters", "description")
    for name in list_models():
        table.add_row(name, f"{count_parameters(create_model(name)):,}", describe_model(name))
    console.print(table)


@app.command()
@grouped
def image(
    source: Path = typer.Argument(..., metavar="SOURCE", help="Input image."),
    output: Path = typer.Option(..., "--output", "-o", help="Output PNG/JPG (colour depth)."),
    raw: Optional[Path] = typer.Option(None, "--raw", help="Also write raw depth: .png (16-bit mm) or .npy (metres)."),
    rt: RuntimeOptions = ...,  # the runtime options, in place (cli_options.grouped)
    view: ViewOptions = ...,  # the view options
    flip: bool = FlipOpt,
    multi_size: bool = MultiSizeOpt,
) -> None:
    """Depth for one image: a colour-mapped picture and, optionally, raw metric depth."""
    from .image_depth import depth_for_image

    viz = view.visualizer()  # options checked before the model loads
    rt.check()
    opener = partial(_estimator, rt, flip=flip, multi_size=multi_size)
    depth, camera = depth_for_image(source, output, raw, viz, opener)
    console.print(f"wrote {output} ({depth.shape[1]}x{depth.shape[0]}, depth {depth.min():.2f}..{depth.max():.2f} m; {camera})")


@app.command()
def export(
    weights: Optional[Path] = WeightsOpt,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="ONNX file to write (default: the engine cache)."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Compare ONNX Runtime with PyTorch on real frames."),
    engines_dir: Optional[Path] = EnginesOpt,
) -> None:
    """Export to ONNX (dynamic batch, height and width; opset 18) and verify it."""
    from engines.export import export_and_verify

    from .checkpoint import resolve_weights
    from .io import check_output
    from .runtime import cache

    path = resolve_weights(weights)
    if not path.is_file():
        raise RtdepthError(f"{path}: no such weights file")
    if output is None:
        output = cache.onnx_path(path, engines_dir)
        output.parent.mkdir(parents=True, exist_ok=True)
    check_output(output, (".onnx",), (path,))
    diff = export_and_verify(path, output, verify)
    note = f", ONNX Runtime vs PyTorch max |diff| {diff:.2e} m" if diff is not None else ""
    console.print(f"wrote {output}{note}")


@app.command()
@grouped
def video(
    source: str = typer.Argument(..., metavar="SOURCE", help="Video file, image folder or glob, or stream URL."),
    output: Path = typer.Option(..., "--output", "-o", help="Output MP4 (H.264)."),
    rt: RuntimeOptions = ...,  # the runtime options, in place (cli_options.grouped)
    view: ViewOptions = ...,  # the view options
    hud: bool = HudOpt,
    raw_dir: Optional[Path] = typer.Option(None, "--raw-dir", help="Also write per-frame raw depth here."),
    raw_format: str = typer.Option("png", "--raw-format", help="png (16-bit mm) or npy (float32 m)."),
    ply: Optional[Path] = typer.Option(None, "--ply", help="Also write point clouds (PLY) into this folder."),
    ply_every: int = typer.Option(1, "--ply-every", help="Write a point cloud every N frames."),
    fy: Optional[float] = typer.Option(None, "--fy", help="Focal length y in pixels for --ply (default: fx)."),
    cx: Optional[float] = typer.Option(None, "--cx", help="Principal point x for --ply (default: image centre)."),
    cy: Optional[float] = typer.Option(None, "--cy", help="Principal point y for --ply (default: image centre)."),
    flip: bool = StreamFlipOpt,
    smooth: bool = SmoothOpt,
) -> None:
    """Depth for every frame of a video, written as H.264 MP4 at the source fps."""
    from .stream.run import ExtraOutputs, run_video

    viz = view.visualizer()
    rt.check()
    extras = ExtraOutputs(raw_dir, raw_format, ply, ply_every, (rt.fx, fy, cx, cy), rt.fov)
    opener = partial(_estimator, rt, streaming=True, flip=flip)
    run_video(source, output, opener, viz, extras, hud, err_console, smooth)


@app.command()
@grouped
def live(
    source: Optional[str] = typer.Argument(None, metavar="SOURCE", help="Camera index (0), device, URL, video file or folder."),
    camera: Optional[str] = typer.Option(None, "--camera", help="Same as SOURCE (kept for older scripts)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", "--record", help="Also record to this MP4 (H.264)."),
    window: bool = typer.Option(True, "--window/--no-window", help="Show a window (q/Esc quit, c colormap, l layout)."),
    rt: RuntimeOptions = ...,  # the runtime options, in place (cli_options.grouped)
    view: ViewOptions = ...,  # the view options
    hud: Optional[bool] = LiveHudOpt,
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Stop after N frames."),
    flip: bool = StreamFlipOpt,
    smooth: bool = SmoothOpt,
) -> None:
    """Live depth from a camera in a window, at frame rate."""
    from .stream.run import run_live

    if source is not None and camera is not None and source != camera:
        raise RtdepthError(f"two sources given: {source} and --camera {camera}")
    if max_frames is not None and max_frames < 1:
        raise RtdepthError("--max-frames must be at least 1")
    viz = view.visualizer()
    rt.check()
    opener = partial(_estimator, rt, streaming=True, flip=flip)
    run_live(source or camera or "0", opener, viz, output, window, hud, max_frames, err_console, smooth)


@app.command(name="eval")
@grouped
def evaluate(
    data: str = typer.Option(..., "--data", "-d", help="Dataset: folder, NYU .mat, DenseDepth .zip/.csv, synthetic:N[:SEED]."),
    subset: str = typer.Option("all", "--subset", help="all, or the val/train part of the training split."),
    split: Optional[str] = typer.Option(
        None, "--split", help="Split for --subset: auto, blocks or random (default: the weights' own)."
    ),
    eigen_crop: bool = typer.Option(False, "--eigen-crop", help="Evaluate inside the Eigen crop (NYU)."),
    max_depth: Optional[float] = typer.Option(
        None, "--max-depth", help="Ignore ground truth beyond this (m; default: the far end of the weights' depth range)."
    ),
    output: Optional[Path] = typer.Option(None, "--output", "-o", "--save-dir", help="Write RGB | prediction | truth PNGs here."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate at most N samples."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    rt: RuntimeOptions = ...,  # the runtime options, in place (cli_options.grouped)
    flip: bool = FlipOpt,
    multi_size: bool = MultiSizeOpt,
) -> None:
    """Metrics of a model on a dataset: delta1..3, abs rel, RMSE, log10, raw and median-scaled."""
    import json

    from .data import open_dataset
    from .data.splits import SplitSpec
    from .evaluate import EvalOptions, evaluate_dataset

    if limit is not None and limit < 1:
        raise RtdepthError("--limit must be at least 1")
    if output is not None:
        from .io import check_output_dir

        check_output_dir(output, (data,))  # never into the dataset it reads (its depth is the truth)
    dataset = open_dataset(data)  # a bad spec fails before the model loads
    rt.check()
    estimator = _estimator(rt, flip=flip, multi_size=multi_size)
    max_depth = max_depth if max_depth is not None else float(estimator.info.depth_range[1])
    spec = SplitSpec(split) if split is not None else None  # --split MODE: that mode, the default fraction and seed
    opts = EvalOptions(subset, spec, max_depth=max_depth, eigen_crop=eigen_crop, save_dir=output, limit=limit)
    result = evaluate_dataset(estimator, dataset, opts, progress=not json_out)
    if json_out:
        console.print_json(json.dumps(result))
        return
    from rich.table import Table

    from .metrics import METRIC_NAMES

    table = Table("scaling", *METRIC_NAMES, title=f"{estimator.describe()} on {data} ({result['samples']} samples)")
    for key in ("raw", "median_scaled", "constant_floor"):
        table.add_row(key, *(f"{result[key][m]:.3f}" for m in METRIC_NAMES))
    console.print(table)
    worst = ", ".join(f"#{w['index']} (abs rel {w['abs_rel']:.3f})" for w in result["worst"])
    console.print(f"worst: {worst}")


@app.command(name="build-engine")
def build_engine_cmd(
    weights: Optional[Path] = WeightsOpt,
    device: str = typer.Option("auto", "--device", help="auto (this machine), cuda (TensorRT) or cpu (int8)."),
    precision: Optional[str] = typer.Option(None, "--precision", "-p", help="fp16 or fp32 (TensorRT; default fp16); int8 (CPU)."),
    min_size: str = typer.Option("320x240", "--min", help="Smallest frame size WxH the engine accepts."),
    opt_size: str = typer.Option("640x480", "--opt", help="Size TensorRT tunes for."),
    max_size: str = typer.Option("1280x720", "--max", help="Largest frame size."),
    workspace: float = typer.Option(4.0, "--workspace", help="TensorRT workspace limit (GiB)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Engine file to write (default: the engine cache)."),
    engines_dir: Optional[Path] = EnginesOpt,
    no_build: bool = typer.Option(False, "--no-build", help="Only reuse a matching cached engine; never build."),
    force: bool = typer.Option(False, "--force", help="Rebuild even when a matching engine is cached."),
    verify: bool = typer.Option(False, "--verify", help="Compare the engine with PyTorch FP32 on real frames."),
    calib: Optional[Path] = typer.Option(
        None, "--calib", help="Real frames to calibrate int8 with: a folder or a video (default: the bundled clip)."
    ),
) -> None:
    """Build the fastest engine for this machine: TensorRT FP16 on NVIDIA GPUs, int8 on CPUs."""
    from engines.build import build_for_machine

    build_for_machine(weights, device, precision, (min_size, opt_size, max_size), workspace, output, engines_dir,
                      no_build, force, verify, calib, console.print, err_console.print)  # fmt: skip


@app.command()
def bench(
    weights: Optional[Path] = WeightsOpt,
    models: Optional[str] = typer.Option(None, "--models", help="Also time these models (comma list, or 'all'), random weights."),
    device: str = DeviceOpt,
    iters: int = typer.Option(20, "--iters", help="Timed runs per case (after 5 warm-up runs)."),
    e2e_frames: int = typer.Option(90, "--e2e-frames", help="Frames of the demo clip for the video rate."),
    clip: Optional[Path] = typer.Option(None, "--clip", help="Clip for the end-to-end rate (default: bundled demo)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    live: bool = typer.Option(False, "--live", help="Also the live path: clip replayed at its fps as a camera."),
    serve_cost: bool = typer.Option(False, "--serve", help="Also what serving one browser viewer costs the pipeline."),
    flicker: bool = typer.Option(False, "--flicker", help="Only the flicker measures: static noisy frames, a moving clip."),
    flicker_frames: list[Path] = typer.Option([], "--frame", help="Frames for --flicker (default: the bundled samples)."),
    engines_dir: Optional[Path] = EnginesOpt,
) -> None:
    """Median/p95 latency per backend and size, the end-to-end video rate against model-only, and with
    --live the glass-to-glass latency and dropped frames of the live path."""
    import json

    if iters < 1 or e2e_frames < 1:
        raise RtdepthError("--iters and --e2e-frames must be at least 1")
    if clip is not None:  # checked now, not after a minute of timing
        from .stream.sources import VideoSource

        VideoSource(clip).close()
    if flicker:
        return _bench_flicker(weights, device, flicker_frames, clip, json_out)

    from engines.bench import BenchPlan, run_bench
    from rtdepth.runtime.backends import resolve_device

    plan = BenchPlan(weights, models, resolve_device(device), iters, e2e_frames, clip, live, serve_cost)
    report = run_bench(plan, log=(lambda *_: None) if json_out else err_console.print)
    from rtdepth.runtime.cpu import matrix_features

    features = matrix_features() or ["none (fp32 and AVX2 paths)"]
    if json_out:
        console.print_json(json.dumps(report | {"cpu_matrix_features": features}))
        return
    from engines.report import rich_tables

    console.print(f"CPU matrix features: {', '.join(features)}")
    for table in rich_tables(report):
        console.print(table)


def _bench_flicker(weights: Path | None, device: str, frames: list[Path], clip: Path | None, json_out: bool) -> None:
    import json

    from rich.table import Table

    from engines.flicker import moving_consistency, static_flicker
    from rtdepth.checkpoint import ASSETS

    from .bundled_frames import sample_frames
    from .io import read_image

    images = [("/".join(p.parts[-3:]), read_image(p)) for p in frames]
    images = images or [(f"sample {i}", f) for i, f in enumerate(sample_frames())]
    est = _estimator(RuntimeOptions.of(weights=weights, device=device), streaming=True, flip=False)
    rows = [static_flicker(est, image, name) for name, image in images]
    moving = moving_consistency(est, clip or ASSETS / "demo.mp4")
    if json_out:
        console.print_json(json.dumps({"static": [r.as_dict() for r in rows], "moving": moving, "model": est.describe()}))
        return
    table = Table("frame", "copies", "pixel raw %", "pixel smoothed %", "scale raw %", "scale smoothed %",
                  title=f"static shot, sigma 2 noise + JPEG 90 ({est.describe()})")  # fmt: skip
    for r in rows:
        table.add_row(r.source, str(r.frames), f"{r.pixel_raw_pct:.2f}", f"{r.pixel_smooth_pct:.2f}",
                      f"{r.scale_raw_pct:.2f}", f"{r.scale_smooth_pct:.2f}")  # fmt: skip
    console.print(table)
    console.print(f"moving ({moving['clip']}, {moving['frames']} frames): median frame-to-frame change "
                  f"{moving['change_raw_pct']:.2f}% raw, {moving['change_smooth_pct']:.2f}% smoothed; "
                  f"stabiliser {moving['stabilise_ms']:.2f} ms a frame")  # fmt: skip


@app.command()
@grouped
def serve(
    source: str = typer.Argument("0", metavar="SOURCE", help="Camera index, device path, URL, video file (looped), folder."),
    rt: RuntimeOptions = ...,  # the runtime options, in place (cli_options.grouped)
    view: ViewOptions = ...,  # the view options
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (other than localhost: a token is required)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    token: Optional[str] = typer.Option(
        None, "--token", help="Require this token on every request (?token=...); off localhost one is generated if not given."
    ),
    max_upload_mb: int = typer.Option(50, "--max-upload-mb", help="Largest upload accepted."),
    max_video_seconds: float = typer.Option(60.0, "--max-video-seconds", help="Longest uploaded video accepted."),
    flip: bool = StreamFlipOpt,
    smooth: bool = SmoothOpt,
    multi_size: bool = typer.Option(
        False,
        "--multi-size",
        help="Uploaded photos also predicted at 0.8x the size and averaged, as `image --multi-size` (the stream never is).",
    ),  # fmt: skip
) -> None:
    """Live depth in a web browser (MJPEG), with controls, snapshots and uploads; Ctrl-C stops it."""
    if not 0 < port < 65536:
        raise RtdepthError("--port must be 1..65535")
    if max_upload_mb < 1 or max_video_seconds <= 0:
        raise RtdepthError("--max-upload-mb and --max-video-seconds must be positive")
    viz = view.visualizer()
    from .serve.run import serve as run_server

    rt.check()
    opener = partial(_estimator, rt, streaming=True, flip=flip)
    run_server(source, opener, viz, host, port, token, max_upload_mb, max_video_seconds, err_console, smooth, multi_size)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def train(ctx: typer.Context) -> None:
    """Train a model (same options as python -m train; --help for them)."""
    from train.cli import app as train_app

    # Non-standalone: usage errors, user errors and interrupts reach main(), which reports each in one line.
    code = train_app(args=ctx.args, prog_name="rtdepth train", standalone_mode=False)
    if isinstance(code, int) and code:
        raise typer.Exit(code)


def main() -> None:
    """Console entry point: user errors and interrupts become one line on stderr and an honest exit code."""
    import os

    from .errors import run_app

    # OpenCV and its FFmpeg print their own warnings ("moov atom not found", "can't capture by name") before
    # ours; our message says the same in one line. Set before cv2 is first imported; users can override.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

    run_app(app, prog_name="rtdepth")
