"""``python -m train.render --rooms 200 --views 10 -o data/rooms``: path-traced rooms as an RGB-D folder.

Writes ``rgb/RRRRR_VV.jpg`` and ``depth/RRRRR_VV.png`` (uint16 millimetres, planar z), which
``rtdepth train --data data/rooms`` reads like any folder dataset (views of one room are neighbours,
so the default block split keeps whole rooms out of training). Room ``r`` is a pure function of
(seed, r). Rooms already on disk (``meta/RRRRR.json``) are skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import os
import time
from multiprocessing import get_context
from pathlib import Path

import typer

from rtdepth.bundled_frames import SAMPLES
from rtdepth.errors import RtdepthError, run_app
from train.render.writer import CLOSE_UP_SHARE, make_dataset_folders, render_job, worker_init

app = typer.Typer(add_completion=False)


def photo_files(specs: list[str]) -> list[Path]:
    """Image files from folders or globs; the bundled sample frames when none are given."""
    paths: list[Path] = []
    for spec in specs or [str(SAMPLES)]:
        p = Path(spec)
        if p.is_dir():
            paths += [q for q in sorted(p.rglob("*")) if q.suffix.lower() in (".jpg", ".jpeg", ".png")]
        else:
            paths += sorted(Path().glob(spec)) if any(c in spec for c in "*?[") else ([p] if p.is_file() else [])
    if not paths:
        raise RtdepthError(f"no photos found in {', '.join(specs)}")
    return paths


@app.command()
def render(
    output: Path = typer.Option(..., "--output", "-o", help="Dataset folder to write (rgb/, depth/, meta/)."),
    rooms: int = typer.Option(200, help="Number of rooms."),
    views: int = typer.Option(10, help="Camera views per room (a room compiles once; views are cheap)."),
    first: int = typer.Option(0, help="Index of the first room (to add rooms to a dataset)."),
    seed: int = typer.Option(0, help="Room r is a pure function of (seed, r)."),
    size: str = typer.Option("320x240", help="Frame size WxH."),
    spp: int = typer.Option(16, help="Path-tracing samples per pixel."),
    workers: int = typer.Option(2, help="Worker processes (each renders whole rooms)."),
    photos: list[str] = typer.Option([], help="Folders or globs of photos for texture crops (repeatable)."),
    close_ups: float = typer.Option(CLOSE_UP_SHARE, "--close-ups", help="Share of views that look at a table or cabinet top."),
    near: float = typer.Option(0.0, "--near", help="Share of close-ups from 0.2-0.5 m (measured to hurt real metres: off)."),
) -> None:
    """Render furnished, lit rooms with Mitsuba 3 into an RGB-D folder dataset."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from rtdepth.sizes import parse_size

    frame = parse_size(size, "--size")
    if rooms < 1 or views < 1 or spp < 1 or workers < 1:
        raise RtdepthError("--rooms, --views, --spp and --workers must be at least 1")
    if not (0 <= close_ups <= 1 and 0 <= near <= 1):
        raise RtdepthError("--close-ups and --near are shares: 0 to 1")
    paths = photo_files(photos)
    make_dataset_folders(output)
    for stale in output.rglob("*.tmp"):
        stale.unlink()
    todo = [r for r in range(first, first + rooms) if not (output / "meta" / f"{r:05d}.json").is_file()]
    jobs = [(output, r, seed, views, frame, spp, paths, close_ups, near) for r in todo]
    threads = max(1, (os.cpu_count() or 1) // workers)
    started, frames = time.perf_counter(), 0
    bar = Progress(TextColumn("rendering rooms"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[frames]} frames, {task.fields[rate]:.1f} frames/min"),
                   TimeRemainingColumn())  # fmt: skip
    with bar:
        task = bar.add_task("rooms", total=len(jobs), frames=0, rate=0.0)
        if workers == 1:
            worker_init(threads)
            results = map(render_job, jobs)
        else:
            pool = get_context("spawn").Pool(workers, worker_init, (threads,))
            results = pool.imap_unordered(render_job, jobs)
        for done, n in enumerate(results, 1):
            frames += n
            rate = frames / max((time.perf_counter() - started) / 60, 1e-9)
            bar.update(task, advance=1, frames=frames, rate=rate)
            if not bar.console.is_terminal and (done % 5 == 0 or done == len(jobs)):  # logs get a line now and then
                bar.console.print(f"rooms {done}/{len(jobs)}, {frames} frames, {rate:.1f} frames/min")
        if workers > 1:
            pool.close()
            pool.join()
    minutes = (time.perf_counter() - started) / 60
    typer.echo(
        f"{frames} frames from {len(jobs)} rooms in {minutes:.1f} min ({frames / max(minutes, 1e-9):.0f} frames/min) -> {output}"
    )


if __name__ == "__main__":
    run_app(app)
