"""From readers to batches: the torch Dataset wrapper and a resumable per-epoch sampler."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from rtdepth.camera import DEFAULT_FX_RATIO
from rtdepth.data import RGBDDataset, Sample
from rtdepth.errors import RtdepthError
from train.augment import AugmentConfig, augment, resize_pair


class DepthTrainingSet(Dataset):
    """Resizes to the training size, augments with a per-(epoch, index) seed, returns tensors.

    Seeding each sample from (seed, epoch, index) makes a run reproducible whatever the number of
    loader workers, which is what lets ``--resume`` continue exactly.
    """

    def __init__(
        self,
        base: RGBDDataset,
        indices: list[int],
        size: tuple[int, int],
        aug: AugmentConfig | None = None,
        seed: int = 0,
        cache: bool = False,
        canonical_fx: float | None = None,
    ) -> None:
        if not indices:
            raise RtdepthError("empty split: no samples to train or validate on")
        self.base, self.indices, self.size = base, list(indices), size
        self.aug, self.seed, self.canonical_fx = aug, seed, canonical_fx
        self._cache: dict[int, Sample] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.indices)

    def _load(self, i: int) -> Sample:
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        sample = resize_pair(self.base[self.indices[i]], self.size)
        if self._cache is not None:
            self._cache[i] = sample
        return sample

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        # The sampler passes (index, epoch) so persistent workers see the epoch without being rebuilt.
        i, epoch = key if isinstance(key, tuple) else (key, 0)
        sample = self._load(i)
        if self.aug is not None:
            sample = augment(sample, self.aug, np.random.default_rng((self.seed, epoch, i)))
        image = torch.from_numpy(np.ascontiguousarray(sample.rgb)).permute(2, 0, 1).float().div_(255)
        depth = torch.from_numpy(np.ascontiguousarray(sample.depth, dtype=np.float32))[None]
        if self.canonical_fx is not None:
            depth.mul_(canonical_scale(sample, self.canonical_fx))
        return image, depth


def canonical_scale(sample: Sample, canonical_fx: float) -> float:
    """Metres -> canonical depth: what a camera of focal length ``canonical_fx`` x width would see, where
    the sample's camera sees this (a longer lens makes things look nearer, so canonical depth is smaller).
    A sample of unknown camera counts as the documented default camera."""
    ratio = sample.camera.fx_ratio if sample.camera is not None else DEFAULT_FX_RATIO
    return canonical_fx / ratio


class EpochSampler(Sampler[tuple[int, int]]):
    """A fixed permutation per epoch, sharded across ranks, that can skip the batches already done."""

    def __init__(self, n: int, seed: int = 0, rank: int = 0, world: int = 1, shuffle: bool = True) -> None:
        self.n, self.seed, self.rank, self.world, self.shuffle = n, seed, rank, world, shuffle
        self.epoch, self.skip = 0, 0
        self.per_rank = (n + world - 1) // world

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Select the epoch's permutation; ``skip`` samples (of this rank) are dropped, for resume."""
        self.epoch, self.skip = epoch, skip

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = np.random.default_rng((self.seed, self.epoch)).permutation(self.n) if self.shuffle else np.arange(self.n)
        order = np.resize(order, self.per_rank * self.world)  # pad by wrapping so every rank has equal work
        return iter((i, self.epoch) for i in order[self.rank :: self.world][self.skip :].tolist())

    def __len__(self) -> int:
        return self.per_rank - self.skip
