"""Per-stage timers and rate meters for the streaming pipeline and benchmarks."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


class StageTimer:
    """Keeps the last ``window`` durations of each named stage; thread-safe."""

    def __init__(self, window: int = 300) -> None:
        self._times: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=window))
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._times[stage].append(seconds)

    @contextmanager
    def time(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - t0)

    def percentiles_ms(self, stage: str, qs: tuple[float, ...] = (50, 95)) -> tuple[float, ...] | None:
        """Percentiles of one stage in milliseconds; None if it never ran."""
        with self._lock:
            values = list(self._times.get(stage, ()))
        return tuple(float(v) * 1000 for v in np.percentile(values, qs)) if values else None

    def medians_ms(self) -> dict[str, float]:
        """Median milliseconds per stage."""
        with self._lock:
            return {k: float(np.median(v)) * 1000 for k, v in self._times.items() if v}


class RateMeter:
    """Frames per second as an exponential moving average of frame intervals."""

    def __init__(self, momentum: float = 0.9) -> None:
        self.momentum = momentum
        self._last: float | None = None
        self._interval: float | None = None

    def tick(self) -> float:
        now = time.perf_counter()
        if self._last is not None:
            dt = now - self._last
            self._interval = dt if self._interval is None else self.momentum * self._interval + (1 - self.momentum) * dt
        self._last = now
        return self.fps

    @property
    def fps(self) -> float:
        return 1.0 / self._interval if self._interval else 0.0
