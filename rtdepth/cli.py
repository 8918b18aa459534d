"""The ``rtdepth`` command: parse options, build objects, call library functions. No logic of its own."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from . import __version__
from .errors import RtdepthError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Real-time monocular depth.", pretty_exceptions_enable=False)
console = Console()
err_console = Console(stderr=True)

WeightsOpt = typer.Option(None, "--weights", "-w", help="Weights (.safetensors) or .onnx; default: bundled weights.")
BackendOpt = typer.Option("auto", "--backend", "-b", help="auto, torch, onnxruntime or tensorrt.")
DeviceOpt = typer.Option("auto", "--device", help="auto, cpu or cuda.")
SizeOpt = typer.Option(None, "--size", help="Inference size WxH (default: the model's training size).")
ColormapOpt = typer.Option("turbo", "--colormap", help="turbo, inferno, magma, viridis, plasma, gray.")
RangeOpt = typer.Option(None, "--range", help="Fixed colour range NEAR FAR in metres (default: adaptive).")


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'320x240' -> (320, 240)."""
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise RtdepthError(f"--size must look like 320x240, got {text!r}") from None
    if w < 16 or h < 16:
        raise RtdepthError("--size must be at least 16x16")
    return w, h


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

    from .models import count_parameters, create_model, describe_model, list_models

    table = Table("name", "parameters", "description")
    for name in list_models():
        table.add_row(name, f"{count_parameters(create_model(name)):,}", describe_model(name))
    console.print(table)


@app.command()
def image(
    source: Path = typer.Argument(..., help="Input image."),
    output: Path = typer.Option(..., "--output", "-o", help="Output PNG/JPG (colour depth)."),
    raw: Optional[Path] = typer.Option(None, "--raw", help="Also write raw depth: .png (16-bit mm) or .npy (metres)."),
    layout: str = typer.Option("depth", "--layout", help="depth, side-by-side or overlay."),
    weights: Optional[Path] = WeightsOpt,
    backend: str = BackendOpt,
    device: str = DeviceOpt,
    size: Optional[str] = SizeOpt,
    colormap: str = ColormapOpt,
    range_: Optional[tuple[float, float]] = RangeOpt,
) -> None:
    """Depth for one image: a colour-mapped picture and, optionally, raw metric depth."""
    from .jobs import depth_for_image

    depth = depth_for_image(source, output, raw, layout, weights, backend, device, parse_size(size), colormap, range_)
    console.print(f"wrote {output} ({depth.shape[1]}x{depth.shape[0]}, depth {depth.min():.2f}..{depth.max():.2f} m)")


@app.command()
def export(
    weights: Optional[Path] = typer.Argument(None, help="Weights file; default: bundled weights."),
    output: Path = typer.Option(Path("model.onnx"), "--output", "-o", help="ONNX file to write."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Compare ONNX Runtime with PyTorch on real frames."),
) -> None:
    """Export to ONNX (dynamic batch, height and width; opset 18) and verify it."""
    from .jobs import export_and_verify

    diff = export_and_verify(weights, output, verify)
    note = f", ONNX Runtime vs PyTorch max |diff| {diff:.2e} m" if diff is not None else ""
    console.print(f"wrote {output}{note}")


def _viz(colormap: str, layout: str, alpha: float, range_: tuple[float, float] | None):
    from .visualize import Visualizer

    return Visualizer(colormap, layout, alpha, range_)


@app.command()
def video(
    source: str = typer.Argument(..., help="Video file, image folder/glob, or stream URL."),
    output: Path = typer.Option(..., "--output", "-o", help="Output MP4 (H.264)."),
    weights: Optional[Path] = WeightsOpt,
    backend: str = BackendOpt,
    device: str = DeviceOpt,
    size: Optional[str] = SizeOpt,
    colormap: str = ColormapOpt,
    layout: str = typer.Option("overlay", "--layout", help="overlay, side-by-side or depth."),
    alpha: float = typer.Option(0.6, "--alpha", help="Depth opacity for the overlay layout."),
    range_: Optional[tuple[float, float]] = RangeOpt,
    hud: bool = typer.Option(True, "--hud/--no-hud", help="Draw FPS, latency, backend and model."),
    raw_dir: Optional[Path] = typer.Option(None, "--raw-dir", help="Also write per-frame raw depth here."),
    raw_format: str = typer.Option("png", "--raw-format", help="png (16-bit mm) or npy (float32 m)."),
    ply: Optional[Path] = typer.Option(None, "--ply", help="Also write point clouds (PLY) into this folder."),
    ply_every: int = typer.Option(1, "--ply-every", help="Write a point cloud every N frames."),
    fx: Optional[float] = typer.Option(None, "--fx"),
    fy: Optional[float] = typer.Option(None, "--fy"),
    cx: Optional[float] = typer.Option(None, "--cx"),
    cy: Optional[float] = typer.Option(None, "--cy"),
) -> None:
    """Depth for every frame of a video, written as H.264 MP4 at the source fps."""
    from .streaming import ExtraOutputs, ModelOptions, run_video

    viz = _viz(colormap, layout, alpha, range_)
    extras = ExtraOutputs(raw_dir, raw_format, ply, ply_every, (fx, fy, cx, cy))
    run_video(source, output, ModelOptions(weights, backend, device, parse_size(size)), viz, extras, hud, err_console)


@app.command()
def live(
    camera: str = typer.Option("0", "--camera", "-c", help="Camera index, stream URL, or a video file."),
    record: Optional[Path] = typer.Option(None, "--record", help="Also record to this MP4."),
    window: bool = typer.Option(True, "--window/--no-window", help="Show a window (q/Esc quit, c colormap, l layout)."),
    weights: Optional[Path] = WeightsOpt,
    backend: str = BackendOpt,
    device: str = DeviceOpt,
    size: Optional[str] = SizeOpt,
    colormap: str = ColormapOpt,
    layout: str = typer.Option("overlay", "--layout", help="overlay, side-by-side or depth."),
    alpha: float = typer.Option(0.6, "--alpha"),
    range_: Optional[tuple[float, float]] = RangeOpt,
    hud: bool = typer.Option(True, "--hud/--no-hud"),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Stop after N frames."),
) -> None:
    """Live depth from a camera in a window, at frame rate."""
    from .streaming import ModelOptions, run_live

    viz = _viz(colormap, layout, alpha, range_)
    run_live(camera, ModelOptions(weights, backend, device, parse_size(size)), viz, record, window, hud, max_frames, err_console)


@app.command(name="eval")
def evaluate(
    weights: Optional[Path] = typer.Argument(None, help="Weights file; default: bundled weights."),
    data: str = typer.Option(..., "--data", "-d", help="Dataset: folder, NYU .mat, DenseDepth .zip/.csv."),
    subset: str = typer.Option("all", "--subset", help="all, or the val/train part of the training split."),
    split: str = typer.Option("blocks", "--split", help="Split used for --subset: blocks or random."),
    eigen_crop: bool = typer.Option(False, "--eigen-crop", help="Evaluate inside the Eigen crop (NYU)."),
    max_depth: float = typer.Option(10.0, "--max-depth", help="Ignore ground truth beyond this (m)."),
    save_dir: Optional[Path] = typer.Option(None, "--save-dir", help="Write RGB | prediction | truth PNGs here."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate at most N samples."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    backend: str = BackendOpt,
    device: str = DeviceOpt,
    size: Optional[str] = SizeOpt,
) -> None:
    """Metrics of a model on a dataset: delta1..3, abs rel, RMSE, log10, raw and median-scaled."""
    import json

    from train.evaluate import EvalOptions, evaluate_dataset

    from .estimator import DepthEstimator

    opts = EvalOptions(subset, split, max_depth=max_depth, eigen_crop=eigen_crop, save_dir=save_dir, limit=limit)
    estimator = DepthEstimator.from_weights(weights, backend, device, parse_size(size))
    result = evaluate_dataset(estimator, data, opts, progress=not json_out)
    if json_out:
        console.print_json(json.dumps(result))
        return
    from rich.table import Table

    from .metrics import METRIC_NAMES

    table = Table("scaling", *METRIC_NAMES, title=f"{estimator.describe()} on {data} ({result['samples']} samples)")
    for key in ("raw", "median_scaled"):
        table.add_row(key, *(f"{result[key][m]:.3f}" for m in METRIC_NAMES))
    console.print(table)
    worst = ", ".join(f"#{w['index']} (abs rel {w['abs_rel']:.3f})" for w in result["worst"])
    console.print(f"worst: {worst}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def train(ctx: typer.Context) -> None:
    """Train a model (same options as python -m train; --help for them)."""
    from train.cli import app as train_app

    train_app(args=ctx.args, prog_name="rtdepth train", standalone_mode=False)


def main() -> None:
    """Console entry point: user errors become one line on stderr and a non-zero exit."""
    try:
        app()  # standalone: usage errors print their own message and exit 2
    except RtdepthError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
