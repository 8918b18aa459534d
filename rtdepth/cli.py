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
LayoutOpt = typer.Option("overlay", "--layout", help="overlay, side-by-side or depth.")
AlphaOpt = typer.Option(0.6, "--alpha", help="Depth opacity for the overlay layout.")
HudOpt = typer.Option(True, "--hud/--no-hud", help="Draw FPS, latency, backend and model.")
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
    layout: str = LayoutOpt,
    alpha: float = AlphaOpt,
    range_: Optional[tuple[float, float]] = RangeOpt,
    hud: bool = HudOpt,
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
    layout: str = LayoutOpt,
    alpha: float = AlphaOpt,
    range_: Optional[tuple[float, float]] = RangeOpt,
    hud: bool = HudOpt,
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Stop after N frames."),
) -> None:
    """Live depth from a camera in a window, at frame rate."""
    from .streaming import ModelOptions, run_live

    viz = _viz(colormap, layout, alpha, range_)
    run_live(
        camera,
        ModelOptions(weights, backend, device, parse_size(size)),
        viz,
        record,
        window,
        hud,
        max_frames,
        err_console,
    )


@app.command(name="eval")
def evaluate(
    weights: Optional[Path] = typer.Argument(None, help="Weights file; default: bundled weights."),
    data: str = typer.Option(..., "--data", "-d", help="Dataset: folder, NYU .mat, DenseDepth .zip/.csv."),
    subset: str = typer.Option("all", "--subset", help="all, or the val/train part of the training split."),
    split: str = typer.Option("auto", "--split", help="Split used for --subset: auto (as training), blocks or random."),
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


@app.command(name="build-engine")
def build_engine_cmd(
    weights: Optional[Path] = typer.Argument(None, help="Weights file; default: bundled weights."),
    device: str = typer.Option("cuda", "--device", help="cuda (TensorRT) or cpu (ONNX Runtime int8)."),
    precision: str = typer.Option("fp16", "--precision", help="fp16 or fp32 (TensorRT); int8 (CPU)."),
    min_size: str = typer.Option("320x240", "--min", help="Smallest frame size WxH the engine accepts."),
    opt_size: str = typer.Option("640x480", "--opt", help="Size TensorRT tunes for."),
    max_size: str = typer.Option("1280x720", "--max", help="Largest frame size."),
    workspace: float = typer.Option(4.0, "--workspace", help="TensorRT workspace limit (GiB)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Engine folder (default engines/ or $RTDEPTH_ENGINES)."),
    no_build: bool = typer.Option(False, "--no-build", help="Only reuse a matching cached engine; never build."),
    force: bool = typer.Option(False, "--force", help="Rebuild even when a matching engine is cached."),
    verify: bool = typer.Option(False, "--verify", help="Compare the engine with PyTorch FP32 on real frames."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Folder of real frames to calibrate int8 with."),
) -> None:
    """Build the fastest engine for this machine: TensorRT FP16 on NVIDIA GPUs, ONNX Runtime int8 on CPUs."""
    from .engine_file import ShapeProfile, parse_wh

    if device == "cpu":
        if precision != "int8":
            raise RtdepthError("on the CPU build-engine makes int8 models: use --precision int8 --calib DIR")
        if calib is None:
            raise RtdepthError("int8 needs calibration frames: --calib DIR (a folder of real images)")
        from .quantize import build_int8

        r = build_int8(weights, calib, out, force=force)
        console.print(f"wrote {r.path}\nheld-out frames: {r.frames}, reference: {r.reference}")
        for name, m in (("fp32", r.fp32), ("int8", r.int8)):
            console.print(f"  {name}: delta1 {m['delta1']:.4f}  abs rel {m['abs_rel']:.4f}  rmse {m['rmse']:.4f}")
        console.print(f"  delta1 drop {r.delta1_drop:+.4f} (limit 0.01)")
        return
    if device != "cuda":
        raise RtdepthError("--device must be cuda or cpu")
    from .trt import build_engine

    profile = ShapeProfile(parse_wh(min_size), parse_wh(opt_size), parse_wh(max_size))
    path = build_engine(weights, precision, profile, out, workspace, no_build, force, notice=err_console.print)
    console.print(f"engine: {path}")
    if verify:
        from .jobs import verify_engine

        max_err, d1 = verify_engine(path, weights)
        console.print(f"verify: max |engine - fp32| {max_err:.4f} m, delta1 vs fp32 {d1:.4f} (needs >= 0.99)")


@app.command()
def bench(
    weights: Optional[Path] = typer.Argument(None, help="Weights file; default: bundled weights."),
    models: Optional[str] = typer.Option(None, "--models", help="Also time these models (comma list, or 'all'), random weights."),
    device: str = DeviceOpt,
    iters: int = typer.Option(20, "--iters", help="Timed runs per case (after 5 warm-up runs)."),
    e2e_frames: int = typer.Option(90, "--e2e-frames", help="Frames of the demo clip for the video rate."),
    clip: Optional[Path] = typer.Option(None, "--clip", help="Clip for the end-to-end rate (default: bundled demo)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Median/p95 latency per backend and size, and the end-to-end video rate against model-only."""
    import json
    import tempfile

    from rich.table import Table

    from .backends import resolve_device
    from .bench import as_json, backend_factories, end_to_end, latency_table, weights_for_models
    from .checkpoint import default_weights, read_info
    from .models import list_models

    dev = resolve_device(device)
    log = (lambda *_: None) if json_out else err_console.print
    with tempfile.TemporaryDirectory() as tmp:
        paths = [weights or default_weights()]
        if models:
            names = list_models() if models == "all" else [m.strip() for m in models.split(",")]
            extra = [n for n in names if n != read_info(paths[0]).model]
            paths += weights_for_models(extra, Path(tmp))
        rows = latency_table(paths, dev, iters=iters, log=log)
        # On a GPU the FP32 eager baseline is for the latency ratio only; its video rate says nothing new.
        e2e = [end_to_end(paths[0], factory, clip, e2e_frames) for label, factory in backend_factories(paths[0], dev)
               if not (label == "torch fp32" and dev != "cpu")]  # fmt: skip
    if json_out:
        console.print_json(json.dumps(as_json(rows, e2e)))
        return
    table = Table(
        "model",
        "backend",
        "device",
        "precision",
        "size",
        "median ms",
        "p95 ms",
        "x torch fp32",
        title="model-only latency",
    )
    for r in rows:
        table.add_row(
            r.model,
            r.backend,
            r.device,
            r.precision,
            r.size,
            f"{r.median_ms:.1f}",
            f"{r.p95_ms:.1f}",
            f"{r.speedup:.2f}",
        )
    console.print(table)
    t2 = Table(
        "model",
        "backend",
        "precision",
        "size",
        "model-only fps",
        "video fps",
        "video / model",
        title="end to end (video)",
    )
    for r in e2e:
        t2.add_row(r.model, r.backend, r.precision, r.size, f"{r.model_fps:.1f}", f"{r.video_fps:.1f}", f"{r.ratio:.2f}")
    console.print(t2)


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
        from rich.markup import escape

        err_console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True, emoji=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
