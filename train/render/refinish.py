"""``python -m train.render.refinish SRC -o DST``: rendered frames with the noise of real cameras.

The generator leaves a quarter of its frames grainier than any real camera and a third cleaner than
any (``camera_effects.REAL_NOISE``). Re-rendering costs hours; the noise can be matched on the finished
frames instead: each RGB frame goes through ``match_sensor_noise`` (deterministic per
file name and seed); depth and meta are the same files (hard links where the disk allows). Frames
already in DST are skipped, so an interrupted run resumes. Depth is untouched, so DST trains and
validates like SRC with the same split.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from pathlib import Path

import cv2
import numpy as np
import typer

from rtdepth.data.readers import folder_dataset, read_rgb
from rtdepth.errors import RtdepthError, run_app
from rtdepth.stream.depth_io import write_image
from train.render.camera_effects import REAL_NOISE, match_sensor_noise, noise_sigma
from train.render.writer import make_dataset_folders

app = typer.Typer(add_completion=False)


def _link(src: Path, dst: Path) -> None:
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(src, dst)


def refinish_frame(src: Path, dst: Path, seed: int) -> tuple[float, float]:
    """Write ``src`` (an RGB frame) to ``dst`` with real-camera noise; returns the noise before and after."""
    rgb = read_rgb(src)
    out = match_sensor_noise(rgb, np.random.default_rng((seed, zlib.crc32(src.stem.encode()))))
    write_image(dst, cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100])  # compressed already
    return noise_sigma(rgb), noise_sigma(out)


@app.command()
def refinish(
    source: Path = typer.Argument(..., help="Rendered RGB-D folder (rgb/, depth/, meta/)."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder to write; depth and meta are linked."),
    seed: int = typer.Option(0, help="Noise draws are a pure function of (seed, frame name)."),
) -> None:
    """Match the noise of rendered frames to real cameras' (a measured lever: see the lever table in docs/model-card.md)."""
    from rich.progress import track

    if not (source / "rgb").is_dir() or not (source / "depth").is_dir():
        raise RtdepthError(f"{source} is not an RGB-D folder (needs rgb/ and depth/)")
    if output.resolve() == source.resolve():
        raise RtdepthError("--output must not be the source folder")
    pairs = folder_dataset(source).pairs  # the frames training reads: RGB with a depth of the same name
    make_dataset_folders(output)
    for extra in [*(depth for _, depth in pairs), *(source / "meta").glob("*.json")]:
        _link(extra, output / extra.parent.name / extra.name)
    frames = [rgb for rgb, _ in pairs]
    before, after = [], []
    for frame in track(frames, description="refinishing frames"):
        dst = output / "rgb" / f"{frame.stem}.jpg"
        if dst.is_file():
            continue
        b, a = refinish_frame(frame, dst, seed)
        before.append(b)
        after.append(a)
    summary = {"source": str(source), "seed": seed, "band": REAL_NOISE, "frames": len(frames), "written": len(before)}
    (output / "refinish.json").write_text(json.dumps(summary))
    if before:
        pct = lambda v: " / ".join(f"{x:.1f}" for x in np.percentile(v, [10, 50, 90]))  # noqa: E731
        typer.echo(f"{len(before)} frames -> {output}; noise p10/p50/p90 {pct(before)} -> {pct(after)}")
    else:
        typer.echo(f"nothing to do: {output} already holds all {len(frames)} frames")


if __name__ == "__main__":
    run_app(app)
