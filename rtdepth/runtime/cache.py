"""The one engine cache: where exported ONNX, int8 models and TensorRT engines live, their names, and lookup.

Default location: a per-user cache directory (``$XDG_CACHE_HOME/rtdepth/engines``, ``~/Library/Caches``
on macOS, ``%LOCALAPPDATA%`` on Windows), overridable by ``RTDEPTH_ENGINES`` or an explicit folder.
Never the current directory, so running a command never litters the folder it runs in. Artefacts
written elsewhere (``build-engine -o FILE``) are recorded in the cache's ``index.json``, so every
lookup finds them too. ``engines/`` writes through these names; the runtime only reads.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from rtdepth.checkpoint import file_sha256, read_info
from rtdepth.errors import RtdepthError
from rtdepth.io import atomic_write_bytes

INDEX = "index.json"


def engines_dir(folder: str | Path | None = None) -> Path:
    """The cache folder: ``folder`` if given, else ``$RTDEPTH_ENGINES``, else the per-user cache; a path that
    exists but is not a folder is one clear error."""
    chosen = Path(folder) if folder else Path(os.environ["RTDEPTH_ENGINES"]) if os.environ.get("RTDEPTH_ENGINES") else None
    if chosen is not None:
        if chosen.exists() and not chosen.is_dir():
            how = "--engines-dir" if folder else "RTDEPTH_ENGINES"
            raise RtdepthError(f"{chosen}: {how} names a file; it must be a folder for the engine cache")
        return chosen
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "rtdepth" / "Cache"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches" / "rtdepth"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rtdepth"
    return base / "engines"


def weights_stem(weights: Path) -> str:
    """``<model>-<weights hash>``: what every artefact of one weights file starts with."""
    return f"{read_info(weights).model}-{file_sha256(weights)}"


def onnx_path(weights: Path, folder: str | Path | None = None) -> Path:
    """The fp32 ONNX export of a weights file."""
    return engines_dir(folder) / f"{weights_stem(weights)}-fp32.onnx"


def int8_path(weights: Path, calib_key: str, folder: str | Path | None = None) -> Path:
    """An int8 model of a weights file, per calibration set."""
    return engines_dir(folder) / f"{weights_stem(weights)}-int8-{calib_key}.onnx"


def engine_path(weights: Path, precision: str, gpu: str, key: str, folder: str | Path | None = None) -> Path:
    """A TensorRT engine: ``<model>-<hash>-<precision>-<gpu>-<key>.engine``."""
    slug = "".join(c if c.isalnum() else "-" for c in gpu.lower()).strip("-")
    return engines_dir(folder) / f"{weights_stem(weights)}-{precision}-{slug}-{key}.engine"


def register(path: Path, folder: str | Path | None = None) -> None:
    """Record an artefact written outside the cache folder, so lookups find it."""
    index_path = engines_dir(folder) / INDEX
    paths = _index(index_path)
    resolved = str(Path(path).resolve())
    if resolved not in paths:
        index_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(index_path, json.dumps(sorted(paths | {resolved}), indent=1).encode())


def _index(index_path: Path) -> set[str]:
    """The paths the index records; a damaged index counts as empty (it only adds to what a glob finds)."""
    try:
        entries = json.loads(index_path.read_text())
    except (OSError, ValueError):
        return set()
    return {e for e in entries if isinstance(e, str)} if isinstance(entries, list) else set()


def candidates(weights: Path, suffix: str, folder: str | Path | None = None) -> list[Path]:
    """Artefacts of these weights with this suffix (``-int8-*.onnx``, ``*.engine``), newest last."""
    root = engines_dir(folder)
    stem = weights_stem(weights)
    found = set(root.glob(f"{stem}{suffix}")) if root.is_dir() else set()
    found |= {Path(p) for p in _index(root / INDEX) if Path(p).name.startswith(stem) and Path(p).match(f"*{suffix}")}
    found = {p for p in found if p.is_file() and not p.name.endswith((".tmp.onnx", ".pre.onnx", ".rejected.onnx"))}
    return sorted(found, key=lambda p: p.stat().st_mtime)


def find_onnx(weights: Path, folder: str | Path | None = None) -> Path | None:
    """The cached fp32 ONNX of these weights, if exported."""
    path = onnx_path(weights, folder)
    return path if path.is_file() else None


def find_int8(weights: Path, folder: str | Path | None = None) -> Path | None:
    """The newest int8 model built for these weights, if any."""
    found = candidates(weights, "-int8-*.onnx", folder)
    return found[-1] if found else None


def openvino_dir(artefact: Path) -> Path:
    """Where OpenVINO keeps the compiled blobs of one ONNX artefact (already keyed by the weights' hash and
    precision), beside it in the cache."""
    return artefact.with_name(artefact.stem + "-openvino")


def gate_path(weights: Path, name: str, folder: str | Path | None = None) -> Path:
    """The verdict of an accuracy gate (``openvino-bf16``) for a weights file."""
    return engines_dir(folder) / f"{weights_stem(weights)}-{name}.gate.json"


def read_gate(weights: Path, name: str, folder: str | Path | None = None) -> dict | None:
    """A gate's recorded verdict (``passed``, ``drop``, ``limit``, ...), or None when never measured."""
    try:
        verdict = json.loads(gate_path(weights, name, folder).read_text())
    except (OSError, ValueError):
        return None
    return verdict if isinstance(verdict, dict) and "passed" in verdict else None


def write_gate(weights: Path, name: str, verdict: dict, folder: str | Path | None = None) -> Path:
    """Record a gate's verdict (engines/ measures it; the runtime only reads it)."""
    path = gate_path(weights, name, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(verdict, indent=1).encode())
    return path
