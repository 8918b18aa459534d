"""Train / validation splits, shared by training and ``rtdepth eval --subset`` so both see the same frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

from rtdepth.errors import RtdepthError

T = TypeVar("T")


@dataclass(frozen=True)
class SplitSpec:
    """Which frames of a dataset train and which are held out. Never scoring on seen frames is a promise:
    training stores this verbatim in the weights' header, and eval, pack and int8 calibration read it back."""

    mode: str = "auto"  # auto | random | blocks | tail
    val_fraction: float = 0.3
    blocks: int = 20
    seed: int = 0

    def indices(self, dataset: Sequence[Any]) -> tuple[list[int], list[int]]:
        """(train, held-out) indices of ``dataset``."""
        return split_indices(len(dataset), self.val_fraction, resolve_split(self.mode, dataset), self.blocks, self.seed)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_header(cls, training: dict[str, Any]) -> SplitSpec | None:
        """The split a weights file was trained with (its ``split_spec``; older files: its config keys); None
        when the file does not say."""
        if isinstance(training.get("split_spec"), dict):
            return cls(**training["split_spec"])
        if "split" not in training:
            return None
        default = cls()
        return cls(training["split"], training.get("val_fraction", default.val_fraction),
                   training.get("split_blocks", default.blocks), training.get("seed", default.seed))  # fmt: skip


def resolve_split(mode: str, dataset: object) -> str:
    """``auto``: contiguous blocks for video sequences, the paper's random split for independent frames."""
    if mode != "auto":
        return mode
    return "blocks" if getattr(dataset, "sequential", False) else "random"


def split_indices(n: int, val_fraction: float = 0.3, mode: str = "random", blocks: int = 20, seed: int = 0):
    """Train / validation indices.

    ``random``: the paper's shuffled 70/30 split. ``blocks``: the sequence is cut into contiguous
    blocks and whole blocks go to validation, spread along it, because neighbouring video frames are
    near duplicates and a random split would score the model on frames it has effectively seen.
    ``tail``: the last part of a sequence is held out (what calibrates never judges).
    """
    if n < 2:
        raise RtdepthError(f"need at least 2 samples to split, got {n}")
    if mode == "tail":
        cut = min(n - 1, max(1, int(n * (1 - val_fraction))))
        return list(range(cut)), list(range(cut, n))
    if mode == "random":
        order = np.random.default_rng(seed).permutation(n)
        n_val = max(1, round(n * val_fraction))
        return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())
    if mode == "blocks":
        blocks = max(2, min(blocks, n))
        edges = np.linspace(0, n, blocks + 1).round().astype(int)
        n_val_blocks = max(1, round(blocks * val_fraction))
        val_blocks = set(np.linspace(0, blocks - 1, n_val_blocks + 2)[1:-1].round().astype(int).tolist())
        train, val = [], []
        for b in range(blocks):
            (val if b in val_blocks else train).extend(range(edges[b], edges[b + 1]))
        return train, val
    raise RtdepthError(f"unknown split {mode!r}; use auto, random, blocks or tail")


def spread_evenly(items: Sequence[T], most: int) -> list[T]:
    """At most ``most`` items, evenly spaced from the first to the last (positions rounded down).

    Picking from a video's frames or a folder's photos: the whole length is represented, not its start.
    """
    if len(items) <= most:
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, most)]
