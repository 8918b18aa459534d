"""The ``rtdepth`` command: parse options, build objects, call library functions. No logic of its own."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Optional

import typer

from rtdepth import __version__
from rtdepth.errors import RtdepthError
from rtdepth.errors import console as make_console

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Real-time monocular depth.", pretty_exceptions_enable=False)
console = make_console()
err_console = make_console(stderr=True)

WeightsOpt = typer.Option(None, "--weights", "-w", help="Weights (.safetensors), .onnx or .engine; default: bundled weights.")
BackendOpt = typer.Option("auto", "--backend", "-b", help="auto, torch, onnxruntime, openvino or tensorrt.")
DeviceOpt = typer.Option("auto", "--device", help="auto, cpu or cuda.")
PrecisionOpt = typer.Option(None, "--precision", "-p", help="fp32, fp16, bf16 or int8 (default: the backend's best).")
SizeOpt = typer.Option(None, "--size", help="Inference size WxH (default: the model's training size).")
EnginesOpt = typer.Option(None, "--engines-dir", help="Engine cache folder (default: $RTDEPTH_ENGINES or the user cache).")
NoBuildOpt = typer.Option(False, "--no-build", help="Never export or build an engine; use only cached ones.")
ColormapOpt = typer.Option("turbo", "--colormap", help="turbo, inferno, magma, viridis, plasma, gray.")
LayoutOpt = typer.Option("overlay", "--layout", help="overlay, side-by-side or depth.")
AlphaOpt = typer.Option(0.6, "--alpha", help="Depth opacity for the overlay layout.")
HudOpt = typer.Option(False, "--hud/--no-hud", help="Burn FPS, latency, backend and model into the file.")
LiveHudOpt = typer.Option(None, "--hud/--no-hud", help="Draw FPS, latency, backend and model (default: in a window only).")
LegendOpt = typer.Option(False, "--legend", help="Add a colour bar in metres (what each colour means).")
OnnxOutputOpt = typer.Option(
    None, "--onnx-output", help="What a third-party ONNX file outputs: metres, or inverse (relative inverse depth)."
)
RangeOpt = typer.Option(None, "--range", help="Fixed colour range NEAR FAR in metres (default: adaptive).")
FlipOpt = typer.Option(True, "--flip/--no-flip", help="Average with the mirrored image's depth (better, 2x model time).")
StreamFlipOpt = typer.Option(False, "--flip/--no-flip", help="Average with the mirrored frame's depth (better, half the rate).")
FxOpt = typer.Option(None, "--fx", help="Camera focal length in pixels at the input's size (default: EXIF or 0.82 x width).")
FovOpt = typer.Option(None, "--fov", help="The camera's horizontal field of view in degrees (instead of --fx).")
SmoothOpt = typer.Option(True, "--smooth/--no-smooth", help="Steady depth over frames (static shots stop shimmering).")


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'320x240' -> (320, 240); None stays None (the model's size)."""
    if not text:
        return None
    from .sizes import parse_size as parse

    w, h = parse(text, "--size")
    if w < 16 or h < 16:
        raise RtdepthError("--size must be at least 16x16")
    return w, h


def _estimator(weights, backend, device, precision, size, engines_dir, no_build, onnx_output=None, streaming=False,
               flip=True, fx=None, fov=None):  # fmt: skip
    """Open the model through the one plan; on the CLI what the plan lacks is made first (said in one line), never
    silently, unless --no-build."""
    from .estimator import DepthEstimator
    from .runtime.open import open_backend

    wh = parse_size(size)
    prepare = None
    if not no_build:
        from engines.prepare import make_missing

        prepare = partial(make_missing, notice=err_console.print)
    be, info = open_backend(weights, backend, device, precision, wh, onnx_output, not streaming, engines_dir, prepare)
    return DepthEstimator(be, info, wh, flip, fx, fov)


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
def image(
    source: Path = typer.Argument(..., metavar="SOURCE", help="Input image."),
    output: Path = typer.Option(..., "--output", "-o", help="Output PNG/JPG (colour depth)."),
    raw: Optional[Path] = typer.Option(None, "--raw", help="Also write raw depth: .png (16-bit mm) or .npy (metres)."),
    weights: Optional[Path] = WeightsOpt,
    backend: str = BackendOpt,
    device: str = DeviceOpt,
    precision: Optional[str] = PrecisionOpt,
    size: Optional[str] = SizeOpt,
    engines_dir: Optional[Path] = EnginesOpt,
    no_build: bool = NoBuildOpt,
    onnx_output: Optional[str] = OnnxOutputOpt,
    colormap: str = ColormapOpt,
    layout: str = LayoutOpt,
    alpha: float = AlphaOpt,
    range_: Optional[tuple[float, float]] = RangeOpt,
    legend: bool = LegendOpt,
    flip: bool = FlipOpt,
    fx: Optional[float] = FxOpt,
    fov: Optional[float] = FovOpt,
) -> None:
    """Depth for one image: a colour-mapped picture and, optionally, raw metric depth."""
    from .jobs import depth_for_image

    viz = _viz(colormap, layout, alpha, range_, legend)  # options checked before the model loads
    _check_camera(fx, fov)
    opener = partial(_estimator, weights, backend, device, precision, size, engines_dir, no_build, onnx_output, flip=flip,
                     fx=fx, fov=fov)  # fmt: skip
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


def _check_camera(fx: float | None, fov: float | None) -> None:
    """--fx / --fov checked before the model loads (one line for 0, negative, NaN or a FOV outside 10..170)."""
    from .camera import camera_for

    camera_for(64, 48, fx, fov)


def _viz(colormap: str, layout: str, alpha: float, range_: tuple[float, float] | None, legend: bool = False):
    from rtdepth.stream.visualize import Visualizer

    return Visualizer(colormap, layout, alpha, range_, legend)


@app.command()
def video(
    source: str = typer.Argument(..., metavar="SOURCE", help="Video file, image folder or glob, or stream URL."),
    output: Path = typer.Option(..., "--output", "-o", help="Output MP4 (H.264)."),
    weights: Optional[Path] = WeightsOpt,
    backend: str = BackendOpt,
    device: str = DeviceOpt,
    precision: Optional[str] = PrecisionOpt,
    size: Optional[str] = SizeOpt,
    engines_dir: Optional[Path] = EnginesOpt,
    no_build: bool = NoBuildOpt,
    onnx_output: Optional[str] = OnnxOutputOpt,
    colormap: str = ColormapOpt,
    layout: str = LayoutOpt,
    alpha: float = AlphaOpt,
    range_: Optional[tuple[float, float]] = RangeOpt,
    hud: bool = HudOpt,
    legend: bool = LegendOpt,
    raw_dir: Optional[Path] = typer.Option(None, "--raw-dir", help="Also write per-frame raw depth here."),
    raw_format: str = typer.Option("png", "--raw-format", help="png (16-bit mm) or npy (float32 m)."),
    ply: Optional[Path] = typer.Option(None, "--ply", help="Also write point clouds (PLY) into this folder."),
    ply_every: int = typer.Option(1, "--ply-every", help="Write a point cloud every N frames."),
    fx: Optional[float] = FxOpt,
    fov: Optional[float] = FovOpt,
    fy: Optional[float] = typer.Option(None, "--fy", help="Focal length y in pixels for --ply (default: fx)."),
    cx: Optional[float] = typer.Option(None, "--cx", help="Principal point x for --ply (default: image centre)."),
    cy: Optional[float] = typer.Option(None, "--cy", help="Principal point y for --ply (default: image centre)."),
    flip: bool = StreamFlipOpt,
    smooth: bool = SmoothOpt,
) -> None:
    """Depth for every frame of a video, written as H.264 MP4 at the source fps."""
    from .stream.run import ExtraOutputs, run_video

    viz = _viz(colormap, layout, alpha, range_, legend)
    extras = ExtraOutputs(raw_dir, raw_format, ply, ply_every, (fx, fy, cx, cy), fov)
    opener = partial(_estimator, weights, backend, device, precision, size, engines_dir, no_build, onnx_output, True, flip,
                     fx, fov)  # fmt: skip
    run_video(source, output, opener, viz, extras, hud, err_console, smooth)


@app.command()
def live(
    source: Optional[str] = typer.Argument(None, metavar="SOURCE", help="Camera index (0), device, URL, video file or folder."),
    camera: Optional[str] = typer.Option(None, "--camera", help="Same as SOURCE (kept for older scripts)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", "--record", help="Also record to this MP4 (H.264)."),
    window: bool = typer.Option(True, "--window/--no-window", help="Show a window (q/Esc quit, c colormap, l layout)."),
    weights: Optional[Path] = WeightsOpt,
    backend: str = BackendOpt,
    device: str = DeviceOpt,
    precision: Optional[str] = PrecisionOpt,
    size: Optional[str] = SizeOpt,
    engines_dir: Optional[Path] = EnginesOpt,
    no_build: bool = NoBuildOpt,
    onnx_output: Optional[str] = OnnxOutputOpt,
    colormap: str = ColormapOpt,
    layout: str = LayoutOpt,
    alpha: float = AlphaOpt,
    range_: Optional[tuple[float, float]] = RangeOpt,
    hud: Optional[bool] = LiveHudOpt,
    legend: bool = LegendOpt,
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Stop after N frames."),
    flip: bool = StreamFlipOpt,
    smooth: bool = SmoothOpt,
    fx: Optional[float] = FxOpt,
    fov: Optional[float] = FovOpt,
) -> None:
    """Live depth from a camera in a window, at frame rate."""
    from .stream.run import run_live

    if source is not None and camera is not None and source != camera:
        raise RtdepthError(f"two sources given: {source} and --camera {camera}")
    if max_frames is not None and max_frames < 1:
        raise RtdepthError("--max-frames must be at least 1")
    viz = _viz(colormap, layout, alpha, range_, legend)
    _check_camera(fx, fov)
    opener = partial(_estimator, weights, backend, device, precision, size, engines_dir, no_build, onnx_output, True, flip,
                     fx, fov)  # fmt: skip
    run_live(source or camera or "0", opener, viz, output, window, hud, max_frames, err_console, smooth)


@app.command(name="eval")
def evaluate(
    data: str = typer.Option(..., "--data", "-d", help="Dataset: folder, NYU .mat, DenseDepth .zip/.csv, synthetic:N[:SEED]."),
    weights: Optional[Path] = WeightsOpt,
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
    backend: str = BackendOpt,
    device: str = DeviceOpt,
    precision: Optional[str] = PrecisionOpt,
    size: Optional[str] = SizeOpt,
    engines_dir: Optional[Path] = EnginesOpt,
    no_build: bool = NoBuildOpt,
    onnx_output: Optional[str] = OnnxOutputOpt,
    flip: bool = FlipOpt,
    fx: Optional[float] = FxOpt,
    fov: Optional[float] = FovOpt,
) -> None:
    """Metrics of a model on a dataset: delta1..3, abs rel, RMSE, log10, raw and median-scaled."""
    import json

    from .data import open_dataset
    from .evaluate import EvalOptions, evaluate_dataset

    if limit is not None and limit < 1:
        raise RtdepthError("--limit must be at least 1")
    if output is not None:
        from .io import check_output_dir

        check_output_dir(output, (data,))  # never into the dataset it reads (its depth is the truth)
    dataset = open_dataset(data)  # a bad spec fails before the model loads
    _check_camera(fx, fov)
    estimator = _estimator(weights, backend, device, precision, size, engines_dir, no_build, onnx_output, flip=flip, fx=fx,
                           fov=fov)  # fmt: skip
    max_depth = max_depth if max_depth is not None else float(estimator.info.depth_range[1])
    opts = EvalOptions(subset, split, max_depth=max_depth, eigen_crop=eigen_crop, save_dir=output, limit=limit)
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
    import tempfile

    if iters < 1 or e2e_frames < 1:
        raise RtdepthError("--iters and --e2e-frames must be at least 1")
    if clip is not None:  # checked now, not after a minute of timing
        from .stream.sources import VideoSource

        VideoSource(clip).close()
    if flicker:
        return _bench_flicker(weights, device, flicker_frames, clip, json_out)

    from rich.table import Table

    from engines.bench import as_json, backend_factories, end_to_end, latency_table, live_latency, weights_for_models
    from engines.bench import serve_cost as bench_serve
    from rtdepth.checkpoint import read_info, resolve_weights
    from rtdepth.models import list_models
    from rtdepth.runtime.backends import resolve_device

    dev = resolve_device(device)
    log = (lambda *_: None) if json_out else err_console.print
    with tempfile.TemporaryDirectory() as tmp:
        paths = [resolve_weights(weights)]
        if models:
            names = list_models() if models == "all" else [m.strip() for m in models.split(",")]
            extra = [n for n in names if n != read_info(paths[0]).model]
            paths += weights_for_models(extra, Path(tmp))
        rows = latency_table(paths, dev, iters=iters, log=log, scratch=Path(tmp))
        # On a GPU the FP32 eager baseline is for the latency ratio only; its video rate says nothing new.
        # The pipelines open ONNX Runtime as the streaming commands do (busy_wait off); the model-only
        # baseline of the ratio is the fastest setting (busy_wait on).
        alone = dict(backend_factories(paths[0], dev, scratch=Path(tmp)))
        factories = [(label, f) for label, f in backend_factories(paths[0], dev, scratch=Path(tmp), busy_wait=False)
                     if not (label == "torch fp32" and dev != "cpu")]  # fmt: skip
        e2e = [end_to_end(paths[0], factory, clip, e2e_frames, alone[label]) for label, factory in factories]
        lives = [live_latency(paths[0], factory, clip) for label, factory in factories if live]
        serves = [bench_serve(paths[0], factory, clip) for label, factory in factories if serve_cost]
    from rtdepth.runtime.cpu import matrix_features

    features = matrix_features() or ["none (fp32 and AVX2 paths)"]
    if json_out:
        console.print_json(json.dumps(as_json(rows, e2e, lives, serves) | {"cpu_matrix_features": features}))
        return
    console.print(f"CPU matrix features: {', '.join(features)}")
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
    if lives:
        t3 = Table("model", "backend", "precision", "size", "camera fps", "shown fps", "latency median ms", "p95 ms",
                   "dropped", title="live (clip paced as a camera, glass to glass)")  # fmt: skip
        for r in lives:
            t3.add_row(r.model, r.backend, r.precision, r.size, f"{r.source_fps:.0f}", f"{r.shown_fps:.1f}",
                       f"{r.latency_median_ms:.1f}", f"{r.latency_p95_ms:.1f}", f"{r.dropped_share:.0%}")  # fmt: skip
        console.print(t3)
    if serves:
        t4 = Table("model", "backend", "precision", "no viewer fps", "one viewer fps", "ratio", title="serve (clip looped)")
        for r in serves:
            t4.add_row(r.model, r.backend, r.precision, f"{r.alone_fps:.1f}", f"{r.one_viewer_fps:.1f}", f"{r.ratio:.2f}")
        console.print(t4)


def _bench_flicker(weights: Path | None, device: str, frames: list[Path], clip: Path | None, json_out: bool) -> None:
    import json

    from rich.table import Table

    from engines.flicker import moving_consistency, static_flicker
    from rtdepth.checkpoint import ASSETS

    from .io import read_image
    from .samples import sample_frames

    images = [("/".join(p.parts[-3:]), read_image(p)) for p in frames]
    images = images or [(f"sample {i}", f) for i, f in enumerate(sample_frames())]
    est = _estimator(weights, "auto", device, None, None, None, False, streaming=True, flip=False)
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
def serve(
    source: str = typer.Argument("0", metavar="SOURCE", help="Camera index, device path, URL, video file (looped), folder."),
    weights: Optional[Path] = WeightsOpt,
    backend: str = BackendOpt,
    device: str = DeviceOpt,
    precision: Optional[str] = PrecisionOpt,
    size: Optional[str] = SizeOpt,
    engines_dir: Optional[Path] = EnginesOpt,
    no_build: bool = NoBuildOpt,
    onnx_output: Optional[str] = OnnxOutputOpt,
    colormap: str = ColormapOpt,
    layout: str = LayoutOpt,
    alpha: float = AlphaOpt,
    range_: Optional[tuple[float, float]] = RangeOpt,
    legend: bool = LegendOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (other than localhost: a token is required)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    token: Optional[str] = typer.Option(
        None, "--token", help="Require this token on every request (?token=...); off localhost one is generated if not given."
    ),
    max_upload_mb: int = typer.Option(50, "--max-upload-mb", help="Largest upload accepted."),
    max_video_seconds: float = typer.Option(60.0, "--max-video-seconds", help="Longest uploaded video accepted."),
    flip: bool = StreamFlipOpt,
    smooth: bool = SmoothOpt,
    fx: Optional[float] = FxOpt,
    fov: Optional[float] = FovOpt,
) -> None:
    """Live depth in a web browser (MJPEG), with controls, snapshots and uploads; Ctrl-C stops it."""
    if not 0 < port < 65536:
        raise RtdepthError("--port must be 1..65535")
    if max_upload_mb < 1 or max_video_seconds <= 0:
        raise RtdepthError("--max-upload-mb and --max-video-seconds must be positive")
    viz = _viz(colormap, layout, alpha, range_, legend)
    from .serve.run import serve as run_server

    _check_camera(fx, fov)
    opener = partial(_estimator, weights, backend, device, precision, size, engines_dir, no_build, onnx_output, True, flip,
                     fx, fov)  # fmt: skip
    run_server(source, opener, viz, host, port, token, max_upload_mb, max_video_seconds, err_console, smooth)


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
