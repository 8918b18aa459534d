"""The ``video`` and ``live`` jobs: open a source, an estimator and sinks, run the pipeline, report.

The estimator comes from a factory called after the source has opened, so a bad source fails in
one line before the model loads."""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from rtdepth.errors import SIGNAL_EXIT, RtdepthError
from rtdepth.estimator import DepthEstimator
from rtdepth.stream.pipeline import RunStats, Sinks, run_stream
from rtdepth.stream.sinks import VIDEO_SUFFIXES, PointCloudSink, RawDepthSink, VideoSink, WindowSink, check_output
from rtdepth.stream.sources import open_source
from rtdepth.stream.visualize import Visualizer


@dataclass
class ExtraOutputs:
    """Optional per-frame outputs besides the video."""

    raw_dir: Path | None = None
    raw_format: str = "png"
    ply_dir: Path | None = None
    ply_every: int = 1
    intrinsics: tuple[float | None, float | None, float | None, float | None] = (None, None, None, None)

    def open(self, sinks: Sinks) -> None:
        if self.raw_dir is not None:
            sinks.raw = RawDepthSink(self.raw_dir, self.raw_format)
        if self.ply_dir is not None:
            sinks.ply = PointCloudSink(self.ply_dir, self.ply_every, self.intrinsics)


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
    hud: bool = True,
    console: Console | None = None,
) -> RunStats:
    """Every frame of a file (or stream) to an H.264 MP4 at the source fps, with a progress bar."""
    console = console or Console(stderr=True)
    check_output(output, VIDEO_SUFFIXES, (source_spec,))
    source = open_source(source_spec)
    with source:
        estimator = open_estimator()
        sinks = Sinks(video=VideoSink(output, source.fps, notice=lambda m: console.print(f"[yellow]{m}[/]")))
        if extras is not None:
            extras.open(sinks)
        columns = (TextColumn("[bold]depth"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[fps]:.1f} fps"),
                   TimeRemainingColumn())  # fmt: skip
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("video", total=source.frame_count, fps=0.0)
            stats = run_stream(source, estimator, viz, sinks, hud=hud,
                               on_frame=lambda s, fps: progress.update(task, completed=s.frames, fps=fps))  # fmt: skip
    _finish(stats, f"{output}", console)
    return stats


def run_live(
    camera: str,
    open_estimator: Callable[[], DepthEstimator],
    viz: Visualizer,
    record: Path | None = None,
    window: bool = True,
    hud: bool = True,
    max_frames: int | None = None,
    console: Console | None = None,
) -> RunStats:
    """A camera (or any source) in a window, optionally recorded; headless with ``window=False``."""
    console = console or Console(stderr=True)
    if not window and record is None:
        raise RtdepthError("headless live needs --record out.mp4 (nothing would be shown or saved)")
    if record is not None:
        check_output(record, VIDEO_SUFFIXES, (camera,))
    sinks = Sinks(window=WindowSink(f"rtdepth - {camera}") if window else None)
    try:
        source = open_source(camera)
    except BaseException:
        sinks.close()
        raise
    with source:
        estimator = open_estimator()
        if record is not None:
            sinks.video = VideoSink(record, source.fps, notice=lambda m: console.print(f"[yellow]{m}[/]"))
        with console.status("live") as status:

            def report(s: RunStats, fps: float) -> None:
                status.update(f"live: {s.frames} frames, {fps:.1f} FPS ({estimator.describe()})")

            stats = run_stream(source, estimator, viz, sinks, hud=hud, max_frames=max_frames, on_frame=report)
    _finish(stats, str(record) if record else None, console)
    return stats


def _finish(stats: RunStats, output: str | None, console: Console) -> None:
    where = f" to {output}" if output else ""
    stages = ", ".join(f"{k} {v:.1f}" for k, v in stats.stage_ms.items())
    summary = f"{stats.frames} frames{where} at {stats.fps:.1f} fps (median ms: {stages})"
    if stats.interrupted:
        raise StreamInterrupted(f"interrupted{' (SIGTERM)' if stats.terminated else ''}: wrote {summary}",
                                SIGNAL_EXIT[signal.SIGTERM if stats.terminated else signal.SIGINT])
    if stats.error:
        raise StreamFailed(f"{stats.error}; wrote {summary}")
    console.print(f"wrote {summary}" if output else f"done: {summary}")
