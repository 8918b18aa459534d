"""Turn a run's best weights into the small fp16 file the package ships (``python -m train.release``)."""

from __future__ import annotations

import sys
from pathlib import Path

from rtdepth.checkpoint import DEFAULT_WEIGHTS, load_model, save_weights


def release(src: str | Path, dst: str | Path = DEFAULT_WEIGHTS) -> Path:
    """Copy weights and their metadata to ``dst`` in fp16 (half the size; the loader upcasts to fp32)."""
    model, info = load_model(src)
    info.training = {**info.training, "released_from": Path(src).name}
    return save_weights(model, dst, info, half=True)


if __name__ == "__main__":
    out = release(*sys.argv[1:3])
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
