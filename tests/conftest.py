"""Shared fixtures: the bundled 16 real TUM RGB-D pairs, tiny weights files, tiny clips made on the spot.

Nothing here needs ../shared: a fresh clone runs every non-GPU test."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers import cache_export, make_clip, tum_rgb

from rtdepth.checkpoint import WeightsInfo, save_weights
from rtdepth.models import create_model

REPO = Path(__file__).resolve().parents[1]
TUM = REPO / "tests" / "data" / "tum_fr1_xyz_16"


@pytest.fixture(autouse=True, scope="session")
def private_engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Exports and engines made by tests go to a temporary cache, never the user's."""
    import os

    path = tmp_path_factory.mktemp("engines")
    os.environ["RTDEPTH_ENGINES"] = str(path)
    return path


@pytest.fixture(scope="session")
def tum_dir() -> Path:
    """16 real TUM fr1_xyz RGB-D pairs bundled with the tests (CC BY 4.0)."""
    return TUM


@pytest.fixture(scope="session")
def real_frame(tum_dir: Path) -> np.ndarray:
    """A real 320x240 BGR frame from the TUM sequence."""
    return cv2.imread(str(tum_rgb(tum_dir, 2)))


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small U-Net (width 4) saved in the weights format: fast to load, export and run."""
    torch.manual_seed(0)
    model = create_model("unet", width=4)
    path = tmp_path_factory.mktemp("weights") / "tiny_unet.safetensors"
    save_weights(model, path, WeightsInfo("unet", {"width": 4}, (64, 48)))
    return path


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory, tiny_weights: Path) -> Path:
    """The tiny weights exported to ONNX once per session: an export takes 10-20 s here, whatever the model's size."""
    from engines.export import ensure_onnx

    return ensure_onnx(tiny_weights, tmp_path_factory.mktemp("tiny-onnx"))


@pytest.fixture
def seed_onnx(tiny_weights: Path, tiny_onnx: Path) -> Callable[..., Path]:
    """``seed_onnx(folder)`` puts the session's export where ``rtdepth export`` would cache it in ``folder``
    (default: ``$RTDEPTH_ENGINES``), for tests of what comes after an export."""
    return partial(cache_export, tiny_weights, tiny_onnx)


@pytest.fixture(scope="session")
def real_clip(tmp_path_factory: pytest.TempPathFactory, tum_dir: Path) -> Path:
    """Six real TUM frames, downscaled to 64x48, as an MP4 at 10 fps."""
    frames = [cv2.resize(cv2.imread(str(tum_rgb(tum_dir, i))), (64, 48), interpolation=cv2.INTER_AREA) for i in range(6)]
    return make_clip(tmp_path_factory.mktemp("clips") / "real.mp4", frames)
