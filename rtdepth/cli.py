"""The ``rtdepth`` command: parse options, build objects, call library functions. No logic of its own."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from . import __version__
from .errors import RtdepthError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Real-time monocular depth.", rich_markup_mode="rich")
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


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def train(ctx: typer.Context) -> None:
    """Train a model (same options as python -m train; --help for them)."""
    from train.cli import app as train_app

    train_app(args=ctx.args, prog_name="rtdepth train", standalone_mode=False)


def main() -> None:
    """Console entry point: user errors become one line on stderr and a non-zero exit."""
    try:
        app(standalone_mode=False)
    except RtdepthError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
