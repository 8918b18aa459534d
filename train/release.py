"""Turn a run's weights into the small fp16 file the package ships (``python -m train.release``).

A default ships only with an int8 CPU model that passes the accuracy gate: the release builds it with
``rtdepth build-engine --device cpu --precision int8`` (a separate process: ``train`` never imports the
builders) on the candidate file, and replaces the shipped weights only when the gate passes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer

from rtdepth.checkpoint import DEFAULT_WEIGHTS, load_model, save_weights
from rtdepth.errors import RtdepthError, run_app

app = typer.Typer(add_completion=False)


def release(src: str | Path, dst: str | Path = DEFAULT_WEIGHTS, calib: str | Path | None = None) -> tuple[Path, str]:
    """Write ``src`` to ``dst`` in fp16 (the loader upcasts); with ``calib``, only after its int8 model passed
    the gate. Returns the path and the gate's report (empty without ``calib``)."""
    model, info = load_model(src)
    info.training = {**info.training, "released_from": Path(src).name}
    dst = Path(dst)
    candidate = dst.with_name(f".{dst.stem}.candidate{dst.suffix}")
    save_weights(model, candidate, info, half=True)
    try:
        report = ""
        if calib is not None:
            gate = subprocess.run([sys.executable, "-m", "rtdepth", "build-engine", "-w", str(candidate), "--device", "cpu",
                                   "--precision", "int8", "--calib", str(calib)], capture_output=True, text=True)  # fmt: skip
            if gate.returncode:
                raise RtdepthError(f"int8 gate failed, {dst} not replaced: {gate.stderr.strip().splitlines()[-1]}")
            report = gate.stdout.strip()
        os.replace(candidate, dst)
    finally:
        candidate.unlink(missing_ok=True)
    return dst, report


@app.command()
def main(
    weights: Path = typer.Option(..., "--weights", "-w", help="The run's weights (e.g. runs/x/best.safetensors)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Where to write (default: the bundled default)."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Real frames for the int8 gate (required for the default)."),
) -> None:
    """Ship a run's weights as the package default (fp16), gated by its int8 CPU model."""
    output = output or DEFAULT_WEIGHTS
    if calib is None and Path(output).resolve() == DEFAULT_WEIGHTS.resolve():
        raise RtdepthError("the default ships with a gated int8 model: --calib DIR (real frames: ../shared/data/tum_fr1_xyz)")
    out, report = release(weights, output, calib)
    typer.echo((report + "\n" if report else "") + f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    run_app(app)
