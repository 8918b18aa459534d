"""Train / validation splits, shared by training and ``rtdepth eval --subset`` so both see the same frames."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from rtdepth.errors import RtdepthError

T = TypeVar("T")


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
    """
    if n < 2:
        raise RtdepthError(f"need at least 2 samples to split, got {n}")
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
    raise RtdepthError(f"unknown split {mode!r}; use auto, random or blocks")


def spread_evenly(items: Sequence[T], most: int) -> list[T]:
    """At most ``most`` items, evenly spaced from the first to the last (positions rounded down).

    Picking from a video's frames or a folder's photos: the whole length is represented, not its start.
    """
    if len(items) <= most:
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, most)]
