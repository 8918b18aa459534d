"""OpenVINO on the CPU: the exported ONNX compiled for this CPU's matrix units (bf16 with AMX/AVX-512 BF16,
int8 from the QDQ model ``build-engine`` gates), latency hint, one thread per usable core.

OpenVINO is imported lazily. Its compiled blobs live in the engine cache, in a folder per weights file
and precision (``<model>-<hash>-openvino-<precision>``), like every other artefact; a blob that cannot be
read is dropped and the model compiled again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from rtdepth.errors import RtdepthError
from rtdepth.runtime.cpu import has_bf16, usable_cores

PRECISIONS = ("fp32", "bf16", "int8")
_HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}  # int8 comes from the QDQ model itself


def openvino_available() -> bool:
    """Whether the ``openvino`` package imports here."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def _core():
    try:
        import openvino as ov
    except ImportError as exc:
        raise RtdepthError("OpenVINO is not installed: pip install openvino (or use --backend onnxruntime)") from exc
    return ov.Core()


class OpenVinoBackend:
    """Same call as every backend: N x H x W x 3 uint8 RGB -> N x H x W float32 metres."""

    name = "openvino"
    device = "cpu"

    def __init__(self, onnx_path: str | Path, precision: str = "fp32", cache_dir: Path | None = None,
                 threads: int | None = None, flags: frozenset[str] | None = None) -> None:  # fmt: skip
        path = Path(onnx_path)
        if precision not in PRECISIONS:
            raise RtdepthError(f"OpenVINO runs {', '.join(PRECISIONS)}, not {precision}")
        if precision == "bf16" and not has_bf16(flags):
            raise RtdepthError("this CPU has no bf16 matrix support (amx_bf16 or avx512_bf16): use -p fp32")
        if not path.is_file():
            raise RtdepthError(f"{path}: no such ONNX file")
        self.precision, self.path = precision, path
        self.threads = threads or usable_cores()
        self._core = _core()
        self.cache_dir = cache_dir
        try:
            self._compiled = self._compile()
        except RuntimeError as exc:
            if cache_dir is None or not cache_dir.exists():
                raise RtdepthError(f"{path}: OpenVINO cannot compile it ({str(exc).splitlines()[0][:120]})") from exc
            shutil.rmtree(cache_dir, ignore_errors=True)  # a damaged compiled blob: drop it, compile again
            self._compiled = self._compile()
        self._request = self._compiled.create_infer_request()

    def _compile(self):
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": _HINTS[self.precision],
                  "INFERENCE_NUM_THREADS": str(self.threads)}  # fmt: skip
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            config["CACHE_DIR"] = str(self.cache_dir)
        return self._core.compile_model(str(self.path), "CPU", config)  # by path: the blob cache applies

    def infer(self, images: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)
        x *= 1.0 / 255.0
        out = self._request.infer({0: x})[0]
        out = np.asarray(out)
        return (out[:, 0] if out.ndim == 4 else out).astype(np.float32, copy=False)
