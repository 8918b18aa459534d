"""Training frames in one small file, to carry to a machine without network, and back to folders there.

    python -m train.pack pack DATA... -o frames.tar [--part train] [--every K] [--max N]
    python -m train.pack unpack frames.tar -o DIR

A GPU machine that receives only tens of MiB per call cannot take our rendered rooms as PNG and JPEG
(~70 KB a frame). Packed, a frame is stored at the training size: RGB as JPEG, depth in millimetres,
row-differenced modulo 2^16 and LZMA-compressed (lossless in mm; ~4x smaller than PNG on rendered rooms).
``--part train`` keeps only the frames training would train on under its own split, so the held-out
frames we choose by stay unseen wherever the pack is trained. Unpacking writes each source as a folder
(``rgb/*.jpg``, ``depth/*.png`` in mm) that every reader opens.
"""

from __future__ import annotations

import io
import lzma
import tarfile
from pathlib import Path

import cv2
import numpy as np
import typer

from rtdepth.data import RGBDDataset, open_dataset
from rtdepth.data.splits import spread_evenly
from rtdepth.errors import RtdepthError, run_app
from rtdepth.stream.depth_io import depth_to_mm16, write_bytes, write_image
from train.augment import resize_pair
from train.config import TrainConfig
from train.render.writer import make_dataset_folders

app = typer.Typer(add_completion=False, no_args_is_help=True)


def encode_depth(depth_m: np.ndarray) -> bytes:
    """Depth in metres -> compressed millimetres (0 stays 'no measurement'); exact for whole millimetres."""
    mm = depth_to_mm16(depth_m)
    rows = np.diff(mm.astype(np.int32), axis=1, prepend=0).astype(np.uint16)  # wraps: inverted exactly below
    header = np.array(mm.shape, dtype="<u4").tobytes()
    return header + lzma.compress(rows.astype("<u2").tobytes(), preset=6)


def decode_depth(blob: bytes) -> np.ndarray:
    """The uint16 millimetre image ``encode_depth`` stored."""
    h, w = np.frombuffer(blob[:8], dtype="<u4")
    rows = np.frombuffer(lzma.decompress(blob[8:]), dtype="<u2").reshape(int(h), int(w))
    return np.cumsum(rows, axis=1, dtype=np.uint16)  # uint16 arithmetic wraps like the encoder did


def frame_indices(dataset: RGBDDataset, part: str, every: int, limit: int | None) -> list[int]:
    """Which frames of a source go in: all, or the part training trains on (its split, its defaults)."""
    n = len(dataset)
    if part == "all":
        picked = list(range(n))
    else:
        train, val = TrainConfig().split_spec.indices(dataset)
        picked = train if part == "train" else val
    picked = picked[::every]
    return picked if limit is None else spread_evenly(picked, limit)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _source_names(specs: list[str]) -> list[str]:
    names: list[str] = []
    for spec in specs:
        base = Path(spec.rstrip("/")).name or "data"
        name, k = base, 1
        while name in names:
            k += 1
            name = f"{base}_{k}"
        names.append(name)
    return names


@app.command()
def pack(
    data: list[str] = typer.Argument(..., help="Datasets (any spec training reads); each becomes one folder."),
    output: Path = typer.Option(..., "--output", "-o", help="The .tar to write."),
    part: str = typer.Option("all", help="all | train | val: the part of each source under training's split."),
    every: int = typer.Option(1, min=1, help="Keep every K-th frame of that part."),
    limit: int | None = typer.Option(None, "--max", min=1, help="At most N frames per source, spread evenly."),
    quality: int = typer.Option(90, min=50, max=100, help="JPEG quality of the RGB frames."),
    width: int = typer.Option(320, help="Training width: frames are stored at the training size."),
    height: int = typer.Option(240, help="Training height."),
) -> None:
    """Pack datasets at the training size into one file (RGB JPEG, lossless mm depth)."""
    from rich.progress import Progress

    if part not in ("all", "train", "val"):
        raise RtdepthError(f"--part must be all, train or val, not {part!r}")
    if output.suffix != ".tar":
        raise RtdepthError(f"{output}: the pack is a .tar file")
    sources = [open_dataset(spec) for spec in data]  # every source opens before any work
    chosen = [frame_indices(ds, part, every, limit) for ds in sources]
    tmp = output.with_name(f".{output.name}.partial")
    total = sum(map(len, chosen))
    with tarfile.open(tmp, "w") as tar, Progress(*Progress.get_default_columns(), transient=True) as bar:
        task = bar.add_task("packing frames", total=total)
        for name, ds, indices in zip(_source_names(data), sources, chosen):
            for i in indices:
                sample = resize_pair(ds[i], (width, height))
                ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(sample.rgb, cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_JPEG_QUALITY, quality])  # fmt: skip
                if not ok:
                    raise RtdepthError(f"{name} frame {i}: JPEG encoding failed")
                _add(tar, f"{name}/rgb/{i:06d}.jpg", jpg.tobytes())
                _add(tar, f"{name}/depth/{i:06d}.mmz", encode_depth(sample.depth))
                bar.advance(task)
    tmp.replace(output)
    size = output.stat().st_size / 2**20
    per_frame = size * 1024 / max(total, 1)
    typer.echo(f"{total} frames from {len(data)} sources -> {output} ({size:.1f} MiB, {per_frame:.1f} KiB a frame)")


@app.command()
def unpack(
    pack_file: Path = typer.Argument(..., help="A .tar written by `pack`."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder to write one dataset folder per source into."),
) -> None:
    """Write each packed source as an RGB-D folder (rgb/*.jpg, depth/*.png in mm); frames on disk are kept."""
    if not pack_file.is_file():
        raise RtdepthError(f"{pack_file}: no such pack")
    written, sources = 0, set()
    with tarfile.open(pack_file, "r") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if len(parts) != 3 or parts[1] not in ("rgb", "depth") or ".." in parts:
                raise RtdepthError(f"{pack_file}: unexpected entry {member.name!r}; not a pack from train.pack")
            if parts[0] not in sources:
                make_dataset_folders(output / parts[0], ("rgb", "depth"))
                sources.add(parts[0])
            folder = output / parts[0] / parts[1]
            target = folder / (parts[2] if parts[1] == "rgb" else Path(parts[2]).stem + ".png")
            if target.exists():
                continue
            data = tar.extractfile(member).read()
            if parts[1] == "rgb":
                write_bytes(target, data)
            else:
                write_image(target, decode_depth(data))
            written += 1
    typer.echo(f"{written} files of {len(sources)} sources -> {output}: {', '.join(sorted(sources))}")


def main() -> None:
    run_app(app, prog_name="python -m train.pack")


if __name__ == "__main__":
    main()
