"""The ``video`` and ``live`` jobs: open a source, an estimator and sinks, run the pipeline, report.

The estimator comes from a factory called after the source has opened, so a bad source fails in
one line before the model loads."""

from __future__ import annotations

import contextlib
import math
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from rtdepth.errors import SIGNAL_EXIT, RtdepthError
from rtdepth.estimator import DepthEstimator
from rtdepth.io import VIDEO_SUFFIXES, check_output, check_output_dir, output_lock, refuse_same_outputs
from rtdepth.stream.pipeline import RunStats, Sinks, run_stream
from rtdepth.stream.sinks import PointCloudSink, RawDepthSink, Sink, VideoSink, WindowSink, display_available
from rtdepth.stream.sources import open_source
from rtdepth.stream.stabilize import TemporalStabilizer
from rtdepth.stream.visualize import Visualizer


@dataclass
class ExtraOutputs:
    """Optional per-frame outputs besides the video."""

    raw_dir: Path | None = None
    raw_format: str = "png"
    ply_dir: Path | None = None
    ply_every: int = 1
    intrinsics: tuple[float | None, float | None, float | None, float | None] = (None, None, None, None)
    fov: float | None = None  # horizontal degrees, instead of fx

    def check(self, inputs: tuple[str | Path | None, ...]) -> None:
        """Before any work: the folders can be written, hold no input, and the intrinsics make sense."""
        for folder in (self.raw_dir, self.ply_dir):
            if folder is not None:
                check_output_dir(folder, inputs)
        if self.raw_format not in ("png", "npy"):
            raise RtdepthError("--raw-format must be png or npy")
        for name, value in zip(("--fx", "--fy", "--cx", "--cy"), self.intrinsics):
            if value is not None and not (math.isfinite(value) and (value > 0 or name in ("--cx", "--cy"))):
                raise RtdepthError(f"{name} {value}: must be a finite{' positive' if name in ('--fx', '--fy') else ''} number")
        if self.ply_every < 1:
            raise RtdepthError("--ply-every must be at least 1")
        if self.fov is not None:
            from rtdepth.camera import camera_for

            camera_for(64, 48, self.intrinsics[0], self.fov)

    def open(self) -> list[Sink]:
        """The side outputs, their folders made and probed."""
        sinks: list[Sink] = []
        if self.raw_dir is not None:
            sinks.append(RawDepthSink(self.raw_dir, self.raw_format))
        if self.ply_dir is not None:
            sinks.append(PointCloudSink(self.ply_dir, self.ply_every, self.intrinsics, fov=self.fov))
        return sinks


class StreamFailed(RtdepthError):
    """The run ended early (decode error, camera lost); the output holds the frames done."""

    exit_code = 3


class StreamInterrupted(RtdepthError):
    """Ctrl-C: the output was finalised with the frames done."""

    exit_code = 130


def run_video(
    source_spec: str,
    output: Path,
    open_estimator: Callable[[], DepthEstimator],
    viz: Visualizer,
    extras: ExtraOutputs | None = None,
    hud: bool = False,
    console: Console | None = None,
    smooth: bool = True,
) -> RunStats:
    """Every frame of a file (or stream) to an H.264 MP4 at the source fps, with a progress bar."""
    console = console or Console(stderr=True)
    extras = extras or ExtraOutputs()
    check_output(output, VIDEO_SUFFIXES, (source_spec,))
    extras.check((source_spec,))
    refuse_same_outputs((output, extras.raw_dir, extras.ply_dir))
    source = open_source(source_spec)
    with source, output_lock(output):
        side = extras.open()  # folders made and probed before the model loads
        estimator = open_estimator()
        # Side outputs before the video: a frame whose side output failed is not in the video.
        sinks = Sinks([*side, VideoSink(output, source.fps, notice=lambda m: console.print(f"[yellow]{m}[/]"))])
        columns = (TextColumn("[bold]depth"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[fps]:.1f} fps"),
                   TimeRemainingColumn())  # fmt: skip
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("video", total=source.frame_count, fps=0.0)
            stats = run_stream(source, estimator, viz, sinks, hud=hud, stabilizer=TemporalStabilizer() if smooth else None,
                               on_frame=lambda s, fps: progress.update(task, completed=s.inferred, fps=fps))  # fmt: skip
    _report_end(stats, f"{output}", console)
    return stats


def run_live(
    camera: str,
    open_estimator: Callable[[], DepthEstimator],
    viz: Visualizer,
    record: Path | None = None,
    window: bool = True,
    hud: bool | None = None,
    max_frames: int | None = None,
    console: Console | None = None,
    smooth: bool = True,
) -> RunStats:
    """A camera (or any source) in a window, optionally recorded; headless with ``window=False``."""
    console = console or Console(stderr=True)
    if not window and record is None:
        raise RtdepthError("headless live needs --record out.mp4 (nothing would be shown or saved)")
    if record is not None:
        check_output(record, VIDEO_SUFFIXES, (camera,))
    if window and not display_available():
        if record is None:
            raise RtdepthError("no display for a window: add --record out.mp4 to run headless and record")
        console.print(f"no display: running headless, recording to {record}")
        window = False
    hud = window if hud is None else hud  # the HUD belongs on a screen; in a recording only when asked
    source = open_source(camera)
    with source, output_lock(record) if record is not None else contextlib.nullcontext():
        sinks = Sinks(window=WindowSink(f"rtdepth - {camera}") if window else None)
        estimator = open_estimator()
        if record is not None:
            sinks.files.append(VideoSink(record, source.fps, notice=lambda m: console.print(f"[yellow]{m}[/]")))
        with console.status("live") as status:

            def report(s: RunStats, fps: float) -> None:
                status.update(f"live: {s.inferred} frames, {fps:.1f} FPS ({estimator.describe()})")

            stats = run_stream(source, estimator, viz, sinks, hud=hud, max_frames=max_frames, on_frame=report,
                               stabilizer=TemporalStabilizer() if smooth else None)  # fmt: skip
    _report_end(stats, str(record) if record else None, console)
    return stats


def _report_end(stats: RunStats, output: str | None, console: Console) -> None:
    where = f" to {output}" if output else ""
    stages = ", ".join(f"{k} {v:.1f}" for k, v in stats.stage_ms.items())
    summary = f"{stats.frames} frames{where} at {stats.fps:.1f} fps (median ms: {stages})"
    if stats.interrupted:
        raise StreamInterrupted(
            f"interrupted{' (SIGTERM)' if stats.terminated else ''}: wrote {summary}",
            SIGNAL_EXIT[signal.SIGTERM if stats.terminated else signal.SIGINT],
        )
    if stats.error:
        kept = "; nothing written, any previous output kept" if not stats.frames else f"; wrote {summary}"
        raise StreamFailed(f"{stats.error}{kept}")
    console.print(f"wrote {summary}" if output else f"done: {summary}")
