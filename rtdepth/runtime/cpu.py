"""What this CPU offers: its feature flags (bf16 and int8 matrix units) and its usable cores.

Read once from ``/proc/cpuinfo`` (Linux); every policy that depends on them takes the flags as an argument,
so tests choose a CPU by passing flags instead of needing one.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

BF16_FLAGS = ("amx_bf16", "avx512_bf16")
INT8_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``lscpu``'s Flags); empty where they cannot be read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def has_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU computes bf16 in hardware (AMX-BF16 or AVX-512 BF16): bf16 then runs 2-4x faster
    than fp32; elsewhere it would be emulated and slower."""
    return bool((cpu_flags() if flags is None else flags) & set(BF16_FLAGS))


def matrix_features(flags: frozenset[str] | None = None) -> list[str]:
    """The bf16/int8 matrix features present, for reports."""
    flags = cpu_flags() if flags is None else flags
    return [f for f in (*BF16_FLAGS, *INT8_FLAGS) if f in flags]


def usable_cores() -> int:
    """Cores this process may run on (its affinity), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1
