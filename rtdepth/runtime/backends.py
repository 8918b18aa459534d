"""Inference backends behind one small protocol, so callers never care which runtime runs the model.

A backend takes a batch of uint8 RGB images (N x H x W x 3) and returns depth (N x H x W, float32
metres). Taking uint8 lets GPU backends upload a quarter of the bytes and normalise on the device.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from rtdepth.errors import RtdepthError


@runtime_checkable
class Backend(Protocol):
    """What every runtime offers: a name, where it runs, at what precision, and ``infer``."""

    name: str
    device: str
    precision: str

    def infer(self, images: np.ndarray) -> np.ndarray:
        """N x H x W x 3 uint8 RGB -> N x H x W float32 depth in metres."""
        ...


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA GPU is visible, else ``cpu``; asking for a missing GPU is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RtdepthError("no CUDA GPU available (use --device cpu)")
    if device != "cpu" and not device.startswith("cuda"):
        raise RtdepthError(f"unknown device {device!r}; use auto, cpu or cuda")
    return device


class TorchBackend:
    """Eager PyTorch: FP32 on the CPU, FP16 + channels_last on CUDA by default.

    With ``cuda_graph`` (CUDA only), the whole step (uint8 upload, normalise, model) is captured once
    per input shape into static buffers and replayed: one launch per frame instead of hundreds.
    """

    name = "torch"

    def __init__(self, model: torch.nn.Module, device: str = "cpu", precision: str | None = None,
                 cuda_graph: bool = False) -> None:  # fmt: skip
        self.device = resolve_device(device)
        self.precision = precision or ("fp16" if self.device.startswith("cuda") else "fp32")
        if self.precision not in ("fp32", "fp16"):
            raise RtdepthError(f"torch backend runs fp32 or fp16, not {self.precision}")
        if self.precision == "fp16" and self.device == "cpu":
            raise RtdepthError("fp16 needs a CUDA device; use fp32 on the CPU")
        self.dtype = torch.float16 if self.precision == "fp16" else torch.float32
        self.model = model.eval().to(self.device, self.dtype)
        if self.device.startswith("cuda"):
            self.model = self.model.to(memory_format=torch.channels_last)
        if cuda_graph and not self.device.startswith("cuda"):
            raise RtdepthError("CUDA graphs need --device cuda")
        self.cuda_graph = cuda_graph
        self._graphs: dict[tuple[int, ...], tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}

    def _step(self, raw: torch.Tensor) -> torch.Tensor:
        x = raw.permute(0, 3, 1, 2).to(self.dtype).div_(255)
        if self.device.startswith("cuda"):
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)[:, 0].float()

    @torch.inference_mode()
    def infer(self, images: np.ndarray) -> np.ndarray:
        host = torch.from_numpy(np.ascontiguousarray(images))
        if not self.cuda_graph:
            return self._step(host.to(self.device, non_blocking=True)).cpu().numpy()
        key = tuple(host.shape)
        if key not in self._graphs:
            static_in = torch.empty(key, dtype=torch.uint8, device=self.device)
            static_in.copy_(host)
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):  # warm-up outside capture: cuDNN picks its kernels here
                for _ in range(2):
                    self._step(static_in)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self._step(static_in)
            self._graphs[key] = (graph, static_in, static_out)
        graph, static_in, static_out = self._graphs[key]
        static_in.copy_(host, non_blocking=True)
        graph.replay()
        return static_out.cpu().numpy()


def _cpu_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


class OnnxRuntimeBackend:
    """ONNX Runtime with full graph optimisation; CPU by default, CUDA provider when asked and present."""

    name = "onnxruntime"

    def __init__(self, onnx_path: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        import onnxruntime as ort

        path = Path(onnx_path)
        if not path.is_file():
            raise RtdepthError(f"{path}: no such ONNX file")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or _cpu_threads()
        opts.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise RtdepthError("this onnxruntime has no CUDA provider (pip install onnxruntime-gpu)")
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types for bad files
            raise RtdepthError(f"{path}: not a loadable ONNX model ({str(exc).splitlines()[0][:120]})") from exc
        self.input_name = self.session.get_inputs()[0].name
        self.device = "cuda" if device.startswith("cuda") else "cpu"
        meta = self.session.get_modelmeta().custom_metadata_map
        self.precision = meta.get("precision", "fp32")
        self.metadata = dict(meta)

    def infer(self, images: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)
        x *= 1.0 / 255.0
        return self.session.run(None, {self.input_name: x})[0][:, 0]
