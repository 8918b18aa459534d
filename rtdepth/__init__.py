"""rtdepth: real-time monocular depth. Imports nothing heavy at import time."""

from __future__ import annotations

__version__ = "0.1.0"
