"""Turn a run's best weights into the small fp16 file the package ships (``python -m train.release``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from rtdepth.checkpoint import DEFAULT_WEIGHTS, load_model, save_weights

app = typer.Typer(add_completion=False)


def release(src: str | Path, dst: str | Path = DEFAULT_WEIGHTS) -> Path:
    """Copy weights and their metadata to ``dst`` in fp16 (half the size; the loader upcasts to fp32)."""
    model, info = load_model(src)
    info.training = {**info.training, "released_from": Path(src).name}
    return save_weights(model, dst, info, half=True)


@app.command()
def main(
    weights: Path = typer.Option(..., "--weights", "-w", help="The run's weights (e.g. runs/x/best.safetensors)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Where to write (default: the bundled default)."),
) -> None:
    """Ship a run's weights as the package default (fp16)."""
    out = release(weights, output or DEFAULT_WEIGHTS)
    typer.echo(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    app()
