"""Running TensorRT engines: the backend, and finding a cached engine for weights on this GPU.

``tensorrt`` is imported lazily, only by the functions that need it. TensorRT 10 tensor-name API only
(``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``); I/O buffers are torch CUDA
tensors allocated once at the profile's largest shape (no pycuda). Building is ``engines.tensorrt``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtdepth.checkpoint import file_sha256
from rtdepth.errors import RtdepthError
from rtdepth.runtime import cache
from rtdepth.runtime.engine_header import check_compatible, check_matches_weights, read_engine_file, read_engine_header

INSTALL_HINT = 'TensorRT is not installed: pip install "rtdepth[tensorrt]" (NVIDIA GPU, TensorRT >= 10)'


def import_tensorrt() -> Any:
    """The tensorrt module, or a one-line error saying how to install it."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise RtdepthError(INSTALL_HINT) from exc
    if int(trt.__version__.split(".")[0]) < 10:
        raise RtdepthError(f"TensorRT {trt.__version__} found; rtdepth needs TensorRT >= 10")
    return trt


def tensorrt_available() -> bool:
    try:
        import_tensorrt()
    except RtdepthError:
        return False
    import torch

    return torch.cuda.is_available()


def gpu_identity() -> tuple[str, str]:
    """(GPU name, compute capability 'major.minor') of the current CUDA device."""
    import torch

    if not torch.cuda.is_available():
        raise RtdepthError("no CUDA GPU available: TensorRT engines need an NVIDIA GPU")
    major, minor = torch.cuda.get_device_capability()
    return torch.cuda.get_device_name(), f"{major}.{minor}"


class TensorRTBackend:
    """Runs a serialized engine on the current CUDA device; buffers allocated once, reused every frame.

    With ``cuda_graph``, the first call at a shape is captured in a CUDA graph and later calls at
    that shape replay it (one launch instead of one per layer).
    """

    name = "tensorrt"
    device = "cuda"

    def __init__(self, path: str | Path, weights_sha256: str | None = None, cuda_graph: bool = False) -> None:
        import torch

        trt = import_tensorrt()
        path = Path(path)
        header, blob = read_engine_file(path)
        check_compatible(header, trt.__version__, *gpu_identity(), path)
        if weights_sha256 is not None:
            check_matches_weights(header, weights_sha256, path)
        self.header, self.precision, self.profile = header, header.precision, header.shape_profile
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(blob)
        if self.engine is None:
            raise RtdepthError(f"{path}: TensorRT could not deserialize the engine (corrupt or incompatible)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        self.stream = torch.cuda.Stream()
        mw, mh = self.profile.max
        nmax = self.profile.max_batch
        self._in = torch.empty(nmax * 3 * mh * mw, dtype=torch.float32, device="cuda")
        self._out = torch.empty(nmax * mh * mw, dtype=torch.float32, device="cuda")
        self._upload = torch.empty(nmax * mh * mw * 3, dtype=torch.uint8, device="cuda")
        self.cuda_graph = cuda_graph
        self._graphs: dict[tuple[int, int, int], Any] = {}
        self._warned = False

    def _views(self, n: int, h: int, w: int):
        return (self._upload[: n * h * w * 3].view(n, h, w, 3), self._in[: n * 3 * h * w].view(n, 3, h, w),
                self._out[: n * h * w].view(n, 1, h, w))  # fmt: skip

    def _enqueue(self, n: int, h: int, w: int) -> None:
        raw, x, y = self._views(n, h, w)
        x.copy_(raw.permute(0, 3, 1, 2)).div_(255.0)
        self.context.set_input_shape(self.input_name, (n, 3, h, w))
        self.context.set_tensor_address(self.input_name, x.data_ptr())
        self.context.set_tensor_address(self.output_name, y.data_ptr())
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise RtdepthError("TensorRT execution failed")

    def infer(self, images: np.ndarray) -> np.ndarray:
        import torch

        n, h, w = images.shape[:3]
        fit = self.profile.fit((w, h))
        if fit != (w, h):
            if not self._warned:
                print(f"note: {w}x{h} is outside the engine's profile; running at {fit[0]}x{fit[1]}", file=sys.stderr)
                self._warned = True
            images = np.stack([cv2.resize(im, fit, interpolation=cv2.INTER_AREA) for im in images])
            n, h, w = images.shape[:3]
        if n > self.profile.max_batch:
            return np.concatenate(
                [self.infer(images[i : i + self.profile.max_batch]) for i in range(0, n, self.profile.max_batch)]
            )
        raw, _, y = self._views(n, h, w)
        with torch.cuda.stream(self.stream):
            raw.copy_(torch.from_numpy(np.ascontiguousarray(images)), non_blocking=True)
            key = (n, h, w)
            if self.cuda_graph and key in self._graphs:
                self._graphs[key].replay()
            elif self.cuda_graph:
                self._enqueue(n, h, w)  # warm-up run: TensorRT allocates lazily on first enqueue
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, stream=self.stream):
                    self._enqueue(n, h, w)
                self._graphs[key] = graph
                graph.replay()
            else:
                self._enqueue(n, h, w)
            out = y[:, 0].to("cpu", non_blocking=True)
        self.stream.synchronize()
        return out.numpy()


def find_engine(weights: Path, precision: str = "fp16", size: tuple[int, int] | None = None,
                folder: str | Path | None = None) -> Path | None:  # fmt: skip
    """The newest cached engine of these weights for this GPU and TensorRT that accepts ``size`` (cheap; never builds)."""
    if not tensorrt_available():
        return None
    import tensorrt as trt

    gpu, capability = gpu_identity()
    sha = file_sha256(weights)
    for path in reversed(cache.candidates(weights, "-*.engine", folder)):
        try:
            header, _ = read_engine_header(path)
        except RtdepthError:
            continue
        usable = (header.weights_sha256 == sha and header.precision == precision and header.trt_version == trt.__version__
                  and header.gpu_name == gpu and header.compute_capability == capability)  # fmt: skip
        if usable and (size is None or header.shape_profile.contains(size)):
            return path
    return None
