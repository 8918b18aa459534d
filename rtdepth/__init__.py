"""rtdepth: real-time monocular depth.

The public API is reached lazily, so ``import rtdepth`` loads nothing heavy (no torch, no onnx, no
OpenCV window) until a name is used.
"""

from __future__ import annotations

import os
from typing import Any

__version__ = "0.1.0"

# OpenMP threads that spin while idle fight every other process for the cores: on a busy 2-core machine eager
# PyTorch took 703 ms a frame instead of 183 (README, speed). Idle threads sleep instead, unless the user says
# otherwise. Set before torch is first imported (it reads the variable once).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_LAZY = {
    "create_model": "rtdepth.models",
    "list_models": "rtdepth.models",
    "load_model": "rtdepth.checkpoint",
    "DepthEstimator": "rtdepth.estimator",
    "RtdepthError": "rtdepth.errors",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rtdepth' has no attribute {name!r}")
