"""Engine files: a JSON header in front of a serialized TensorRT engine.

Everything here runs without TensorRT: the header, the cache key, the shape profile and the
compatibility checks, so they are tested on any machine. ``runtime.tensorrt`` runs engines,
``engines.tensorrt`` builds them, ``runtime.cache`` names and finds them.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from rtdepth import __version__
from rtdepth.errors import RtdepthError
from rtdepth.io import atomic_write_bytes
from rtdepth.sizes import DEPTH_RANGE, TRAINING_SIZE

MAGIC = b"RTDEPTH-ENGINE1\n"


@dataclass(frozen=True)
class ShapeProfile:
    """One optimisation profile: the frame sizes (width, height) an engine accepts, and the batch range."""

    min: tuple[int, int] = TRAINING_SIZE
    opt: tuple[int, int] = (640, 480)
    max: tuple[int, int] = (1280, 720)
    max_batch: int = 1

    def __post_init__(self) -> None:
        for i in (0, 1):
            if not self.min[i] <= self.opt[i] <= self.max[i]:
                raise RtdepthError(f"profile needs min <= opt <= max in each side, got {self.min} {self.opt} {self.max}")
        if min(self.min) < 32:
            raise RtdepthError("profile sides must be at least 32 pixels")

    @classmethod
    def covering(cls, size: tuple[int, int]) -> ShapeProfile:
        """The default profile widened to accept ``size`` and tuned for it: what a user's ``--size`` asks for."""
        default = cls()
        low = tuple(max(32, min(default.min[i], size[i])) for i in (0, 1))
        high = tuple(max(default.max[i], size[i]) for i in (0, 1))
        opt = tuple(min(max(size[i], low[i]), high[i]) for i in (0, 1))
        return cls(low, opt, high)

    def contains(self, size: tuple[int, int]) -> bool:
        return all(self.min[i] <= size[i] <= self.max[i] for i in (0, 1))

    def fit(self, size: tuple[int, int], multiple: int = 8) -> tuple[int, int]:
        """The size to run a frame of ``size`` at: itself when inside, else scaled into range (aspect kept
        as far as the profile allows)."""
        if self.contains(size):
            return size
        w, h = size
        lo = max(self.min[0] / w, self.min[1] / h)
        hi = min(self.max[0] / w, self.max[1] / h)
        scale = lo if lo > 1 else hi
        out = []
        for i, side in enumerate((w * scale, h * scale)):
            side = round(side / multiple) * multiple
            out.append(int(min(max(side, self.min[i]), self.max[i])))
        return out[0], out[1]

    def trt_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(min, opt, max) NCHW shapes for TensorRT's ``profile.set_shape``."""

        def nchw(n: int, wh: tuple[int, int]) -> tuple[int, ...]:
            return (n, 3, wh[1], wh[0])

        return nchw(1, self.min), nchw(1, self.opt), nchw(self.max_batch, self.max)


@dataclass
class EngineHeader:
    """What an engine was built from and for; checked before deserialising."""

    model: str
    precision: str
    profile: dict[str, list[int] | int]
    onnx_sha256: str
    weights_sha256: str
    trt_version: str
    gpu_name: str
    compute_capability: str
    input_size: list[int] = field(default_factory=lambda: list(TRAINING_SIZE))
    depth_range: list[float] = field(default_factory=lambda: list(DEPTH_RANGE))
    build_date: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    rtdepth_version: str = __version__

    @property
    def shape_profile(self) -> ShapeProfile:
        p = self.profile
        return ShapeProfile(tuple(p["min"]), tuple(p["opt"]), tuple(p["max"]), int(p.get("max_batch", 1)))

    @property
    def cache_key(self) -> str:
        return cache_key(self.onnx_sha256, self.trt_version, self.gpu_name, self.compute_capability,
                         self.precision, self.shape_profile)  # fmt: skip


def cache_key(onnx_sha256: str, trt_version: str, gpu: str, capability: str, precision: str, profile: ShapeProfile) -> str:
    """Hash of everything that makes an engine valid: same key, same engine."""
    text = json.dumps([onnx_sha256, trt_version, gpu, capability, precision, asdict(profile)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_engine_file(path: str | Path, header: EngineHeader, engine: bytes) -> Path:
    """Header + engine, atomically."""
    blob = json.dumps(asdict(header), sort_keys=True).encode()
    path = Path(path)
    try:
        atomic_write_bytes(path, MAGIC + struct.pack("<I", len(blob)) + blob + bytes(engine))
    except OSError as exc:
        raise RtdepthError(f"{path}: cannot write engine ({exc.strerror or exc})") from exc
    return path


def read_engine_header(path: str | Path) -> tuple[EngineHeader, int]:
    """The header and the byte offset where the serialized engine starts."""
    path = Path(path)
    if not path.is_file():
        raise RtdepthError(f"{path}: no such engine file")
    with open(path, "rb") as f:
        head = f.read(len(MAGIC) + 4)
        if len(head) < len(MAGIC) + 4 or not head.startswith(MAGIC):
            raise RtdepthError(f"{path}: not an rtdepth engine file (build one with rtdepth build-engine)")
        (n,) = struct.unpack("<I", head[len(MAGIC) :])
        raw = f.read(n)
    try:
        header = EngineHeader(**json.loads(raw))
    except (ValueError, TypeError) as exc:
        raise RtdepthError(f"{path}: corrupt engine header") from exc
    return header, len(MAGIC) + 4 + n


def read_engine_file(path: str | Path) -> tuple[EngineHeader, bytes]:
    header, offset = read_engine_header(path)
    data = Path(path).read_bytes()[offset:]
    if not data:
        raise RtdepthError(f"{path}: engine file is truncated (header only)")
    return header, data


def check_compatible(header: EngineHeader, trt_version: str, gpu_name: str, capability: str, path: str | Path = "") -> None:
    """TensorRT engines only run on the GPU model and TensorRT version they were built with."""
    if header.trt_version != trt_version:
        raise RtdepthError(f"{path}: engine built with TensorRT {header.trt_version}, this is {trt_version}; "
                           "rebuild with rtdepth build-engine")  # fmt: skip
    if header.gpu_name != gpu_name or header.compute_capability != capability:
        raise RtdepthError(f"{path}: engine built for {header.gpu_name} (sm {header.compute_capability}), this GPU is "
                           f"{gpu_name} (sm {capability}); rebuild with rtdepth build-engine")  # fmt: skip


def check_matches_weights(header: EngineHeader, weights_sha256: str, path: str | Path = "") -> None:
    if header.weights_sha256 != weights_sha256:
        raise RtdepthError(f"{path}: engine was built from other weights ({header.model}, {header.weights_sha256}); "
                           "rebuild with rtdepth build-engine")  # fmt: skip
