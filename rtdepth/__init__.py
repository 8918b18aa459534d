"""rtdepth: real-time monocular depth.

The public API is reached lazily, so ``import rtdepth`` loads nothing heavy (no torch, no onnx, no
OpenCV window) until a name is used.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

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
