"""RGB-D data: the Sample and dataset protocol, readers (folders, TUM, NYU, DenseDepth), synthetic rooms, splits."""

from __future__ import annotations

from pathlib import Path

from rtdepth.data.readers import DenseDepthCSVDataset, NYULabeledDataset, folder_dataset
from rtdepth.data.sample import RGBDDataset, Sample
from rtdepth.data.synthetic import SyntheticRooms
from rtdepth.errors import RtdepthError

__all__ = ["RGBDDataset", "Sample", "open_dataset"]


def open_dataset(spec: str | Path) -> RGBDDataset:
    """Open a dataset by path: folder (pairs/rgb+depth/TUM), ``.mat``, ``.zip`` or ``.csv``; ``synthetic:N[:SEED]``.

    Training uses seed 0; evaluating on another seed gives rooms the model never saw."""
    text = str(spec)
    if text.startswith("synthetic:"):
        parts = text.split(":")
        try:
            n, seed = int(parts[1]), int(parts[2]) if len(parts) > 2 else 0
        except (IndexError, ValueError):
            raise RtdepthError(f"{text}: use synthetic:N or synthetic:N:SEED") from None
        return SyntheticRooms(n, seed=seed)
    path = Path(text)
    if not path.exists():
        raise RtdepthError(f"{path}: no such dataset")
    if path.suffix == ".mat":
        return NYULabeledDataset(path)
    if path.suffix == ".zip":
        return DenseDepthCSVDataset(path)
    if path.suffix == ".csv":  # lists name files relative to the folder that holds data/
        root = path.parent.parent if path.parent.name == "data" else path.parent
        return DenseDepthCSVDataset(root, str(path.relative_to(root)))
    return folder_dataset(path)
