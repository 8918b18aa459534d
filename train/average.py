"""Average the weights of fine-tunes of one model (``python -m train.average A B ... -o OUT``).

Two runs of one recipe from one start differ by their data order and augmentation about as much as
by any lever we try (12 real frames: 0.703 and 0.690 for two seeds); their average keeps what they
agree on. Every float tensor, BatchNorm statistics included, is the mean; integer buffers come from
the first file. The output records which files went in.
"""

from __future__ import annotations

from pathlib import Path

import torch
import typer

from rtdepth.checkpoint import WeightsInfo, file_sha256, load_model, save_weights
from rtdepth.errors import RtdepthError, run_app
from rtdepth.models import DepthNet

app = typer.Typer(add_completion=False)


def average_weights(paths: list[Path]) -> tuple[DepthNet, WeightsInfo]:
    """The element-wise mean of weights files of one architecture; refuses files of different models."""
    if len(paths) < 2:
        raise RtdepthError("averaging takes two or more weights files")
    loaded = [load_model(p) for p in paths]
    model, info = loaded[0]
    for path, (_, other) in zip(paths[1:], loaded[1:]):
        if (other.model, other.kwargs) != (info.model, info.kwargs):
            raise RtdepthError(f"{path}: {other.model} {other.kwargs} cannot be averaged with {info.model} {info.kwargs}")
        if other.camera != info.camera:  # canonical-camera and metric outputs mean different depths
            raise RtdepthError(f"{path}: camera space {other.camera or 'metric'} differs from {info.camera or 'metric'}")
    states = [m.state_dict() for m, _ in loaded]
    mean = {
        k: torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype) if v.is_floating_point() else v
        for k, v in states[0].items()
    }
    model.load_state_dict(mean)
    sources = [{"file": f"{p.parent.name}/{p.name}", "sha256": file_sha256(p), "seed": i.training.get("seed")}
               for p, (_, i) in zip(paths, loaded)]  # fmt: skip
    info.training = {**info.training, "weight_average_of": sources}
    info.metrics = {}  # the runs' validation scores do not describe their average
    return model, info


@app.command()
def main(
    weights: list[Path] = typer.Argument(..., help="Weights files of one architecture (two or more)."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the average (.safetensors)."),
) -> None:
    """Average the weights of runs of one model into one file."""
    model, info = average_weights(weights)
    save_weights(model, output, info)
    typer.echo(f"averaged {len(weights)} files -> {output}")


if __name__ == "__main__":
    run_app(app)
