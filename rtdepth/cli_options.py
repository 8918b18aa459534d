"""The option groups several commands share, declared once: how to open the model (image, video, live, serve,
eval) and how to draw depth (image, video, live, serve). A command names a group as one parameter; ``grouped``
shows typer the group's options in its place and hands the command one object."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from copy import copy
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional, get_type_hints

import typer

WeightsOpt = typer.Option(None, "--weights", "-w", help="Weights (.safetensors), .onnx or .engine; default: bundled weights.")
DeviceOpt = typer.Option("auto", "--device", help="auto, cpu or cuda.")
EnginesOpt = typer.Option(None, "--engines-dir", help="Engine cache folder (default: $RTDEPTH_ENGINES or the user cache).")
FlipOpt = typer.Option(True, "--flip/--no-flip", help="Average with the mirrored image's depth (better, 2x model time).")
MultiSizeOpt = typer.Option(False, "--multi-size", help="Also predict at 0.8x the size and average the two (better on "
                            "real rooms, 1.35-1.8x the time).")  # fmt: skip
StreamFlipOpt = typer.Option(False, "--flip/--no-flip", help="Average with the mirrored frame's depth (better, half the rate).")
SmoothOpt = typer.Option(True, "--smooth/--no-smooth", help="Steady depth over frames (static shots stop shimmering).")
HudOpt = typer.Option(False, "--hud/--no-hud", help="Burn FPS, latency, backend and model into the file.")
LiveHudOpt = typer.Option(None, "--hud/--no-hud", help="Draw FPS, latency, backend and model (default: in a window only).")


@dataclass(frozen=True)
class RuntimeOptions:
    """Which model, where and how it runs, and the camera it looks through."""

    weights: Optional[Path] = WeightsOpt
    backend: str = typer.Option("auto", "--backend", "-b", help="auto, torch, onnxruntime, openvino or tensorrt.")
    device: str = DeviceOpt
    precision: Optional[str] = typer.Option(
        None, "--precision", "-p", help="fp32, fp16, bf16 or int8 (default: the backend's best)."
    )
    size: Optional[str] = typer.Option(None, "--size", help="Inference size WxH (default: the model's training size).")
    engines_dir: Optional[Path] = EnginesOpt
    no_build: bool = typer.Option(False, "--no-build", help="Never export or build an engine; use only cached ones.")
    onnx_output: Optional[str] = typer.Option(
        None, "--onnx-output", help="What a third-party ONNX file outputs: metres, or inverse (relative inverse depth)."
    )
    fx: Optional[float] = typer.Option(
        None, "--fx", help="Camera focal length in pixels at the input's size (default: EXIF or 0.82 x width)."
    )
    fov: Optional[float] = typer.Option(None, "--fov", help="The camera's horizontal field of view in degrees (instead of --fx).")

    @classmethod
    def of(cls, **given: Any) -> RuntimeOptions:
        """The options as typer fills them when not given, with ``given`` over them (for callers other than typer)."""
        return cls(**{f.name: given.get(f.name, f.default.default) for f in fields(cls)})

    def check(self) -> None:
        """What can be checked before the model loads (--fx / --fov: one line for 0, negative, NaN, a bad FOV)."""
        from .camera import camera_for

        camera_for(64, 48, self.fx, self.fov)


@dataclass(frozen=True)
class ViewOptions:
    """How depth is drawn."""

    colormap: str = typer.Option("turbo", "--colormap", help="turbo, inferno, magma, viridis, plasma, gray.")
    layout: str = typer.Option("overlay", "--layout", help="overlay, side-by-side or depth.")
    alpha: float = typer.Option(0.6, "--alpha", help="Depth opacity for the overlay layout.")
    range_: Optional[tuple[float, float]] = typer.Option(
        None, "--range", help="Fixed colour range NEAR FAR in metres (default: adaptive)."
    )
    legend: bool = typer.Option(False, "--legend", help="Add a colour bar in metres (what each colour means).")

    def visualizer(self) -> Any:
        """The visualiser; bad values fail here, before the model loads."""
        from .stream.visualize import Visualizer

        return Visualizer(self.colormap, self.layout, self.alpha, self.range_, self.legend)


PANELS = {RuntimeOptions: "Model, runtime and camera", ViewOptions: "View"}  # the groups, by their --help heading


def grouped(func: Callable[..., Any]) -> Callable[..., Any]:
    """Let a command take option groups: a parameter annotated with ``RuntimeOptions`` or ``ViewOptions`` becomes
    the group's options (at its place in ``--help``), and the command receives one object built from them."""
    hints = get_type_hints(func)
    groups = {name: hint for name, hint in hints.items() if hint in PANELS}
    params: list[inspect.Parameter] = []
    for p in inspect.signature(func).parameters.values():
        if p.name in groups:
            params += _group_parameters(groups[p.name])
        else:
            params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation)))

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        for name, cls in groups.items():
            kwargs[name] = cls(**{f.name: kwargs.pop(f.name) for f in fields(cls)})
        return func(**kwargs)

    command.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    return command


def _group_parameters(cls: type) -> list[inspect.Parameter]:
    """A group's fields as command parameters, each option shown under the group's heading in ``--help``."""
    hints = get_type_hints(cls)
    found = []
    for f in fields(cls):
        option = copy(f.default)  # the shared Option objects stay as they are for commands that use them alone
        option.rich_help_panel = PANELS[cls]
        found.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=hints[f.name]))
    return found
