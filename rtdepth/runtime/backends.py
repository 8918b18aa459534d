"""Inference backends behind one small protocol, so callers never care which runtime runs the model.

A backend takes a batch of uint8 RGB images (N x H x W x 3) and returns depth (N x H x W, float32
metres). Taking uint8 lets GPU backends upload a quarter of the bytes and normalise on the device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np
import torch

from rtdepth.errors import RtdepthError
from rtdepth.models.fold import fold_batchnorm


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
    """Eager PyTorch: FP32 on the CPU, FP16 + channels_last on CUDA by default; BatchNorm folded into the convolutions.

    With ``cuda_graph`` (CUDA only), the whole step (uint8 upload, normalise, model) is captured once
    per input shape into static buffers and replayed: one launch per frame instead of hundreds. Frames
    then travel through pinned host buffers, so both copies are DMA transfers the replay queues behind.
    On CUDA, cuDNN autotunes its convolutions for each new shape (the first frame of a size pays for it).
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
        self.model = fold_batchnorm(model).to(self.device, self.dtype)  # a copy: the caller's model is untouched
        if self.device.startswith("cuda"):
            self.model = self.model.to(memory_format=torch.channels_last)
            torch.backends.cudnn.benchmark = True  # fixed frame sizes: the fastest kernels, chosen once per shape
        if cuda_graph and not self.device.startswith("cuda"):
            raise RtdepthError("CUDA graphs need --device cuda")
        self.cuda_graph = cuda_graph
        self._graphs: dict[tuple[int, ...], _Graph] = {}

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
            self._graphs[key] = self._capture(host)
        g = self._graphs[key]
        g.host_in.copy_(host)
        g.device_in.copy_(g.host_in, non_blocking=True)
        g.graph.replay()
        g.host_out.copy_(g.device_out, non_blocking=True)
        torch.cuda.current_stream().synchronize()
        return g.host_out.numpy().copy()  # the pinned buffer is reused by the next frame

    def _capture(self, host: torch.Tensor) -> _Graph:
        device_in = torch.empty(host.shape, dtype=torch.uint8, device=self.device)
        device_in.copy_(host)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside capture: cuDNN picks its kernels here
            for _ in range(2):
                self._step(device_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            device_out = self._step(device_in)
        host_in = torch.empty(host.shape, dtype=torch.uint8, pin_memory=True)
        host_out = torch.empty(device_out.shape, dtype=device_out.dtype, pin_memory=True)
        return _Graph(graph, device_in, device_out, host_in, host_out)


@dataclass
class _Graph:
    """One captured step and its buffers: static device tensors the graph reads and writes, pinned host copies."""

    graph: torch.cuda.CUDAGraph
    device_in: torch.Tensor
    device_out: torch.Tensor
    host_in: torch.Tensor
    host_out: torch.Tensor


def _cpu_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


class OnnxRuntimeBackend:
    """ONNX Runtime with full graph optimisation; CPU by default, CUDA provider when asked and present."""

    name = "onnxruntime"

    def __init__(self, onnx_path: str | Path, device: str = "cpu", threads: int | None = None,
                 output: str | None = None, busy_wait: bool = True) -> None:  # fmt: skip
        """``busy_wait=False`` for pipelines: idle intra-op threads sleep instead of spinning, so the decoder
        and encoder threads get the cores between inferences (measured in the README's speed section)."""
        import onnxruntime as ort

        path = Path(onnx_path)
        if not path.is_file():
            raise RtdepthError(f"{path}: no such ONNX file")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or _cpu_threads()
        if not busy_wait:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
        check_onnx_io(self.session, path)
        self.input_name = self.session.get_inputs()[0].name
        dims = self.session.get_inputs()[0].shape[2:]
        self.static_hw = tuple(dims) if all(isinstance(d, int) for d in dims) else None  # fixed-size exports
        self.device = "cuda" if device.startswith("cuda") else "cpu"
        meta = self.session.get_modelmeta().custom_metadata_map
        self.precision = meta.get("precision", "fp32")
        self.metadata = dict(meta)
        if output not in (None, *ONNX_OUTPUTS):
            raise RtdepthError(f"--onnx-output {output}: use {' or '.join(ONNX_OUTPUTS)}")
        self.output = output or ("metres" if "rtdepth_version" in meta else None)
        if self.output is None:
            raise RtdepthError(
                f"{path}: no rtdepth metadata, so what it outputs is unknown; for a third-party depth model pass "
                "--onnx-output metres, or --onnx-output inverse (relative inverse depth from ImageNet-normalised "
                "input, as MiDaS and Depth Anything exports)"
            )

    def infer(self, images: np.ndarray) -> np.ndarray:
        h, w = images.shape[1:3]
        if self.static_hw is not None and (h, w) != self.static_hw:
            fixed = np.stack([cv2.resize(im, self.static_hw[::-1], interpolation=cv2.INTER_AREA) for im in images])
            return np.stack([cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR) for d in self.infer(fixed)])
        x = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)
        x *= 1.0 / 255.0
        if self.output == "inverse":
            x = (x - IMAGENET_MEAN) / IMAGENET_STD
        out = self.session.run(None, {self.input_name: x})[0]
        out = out[:, 0] if out.ndim == 4 else out
        return inverse_to_relative_depth(out) if self.output == "inverse" else out


ONNX_OUTPUTS = ("metres", "inverse")
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)


def check_onnx_io(session, path: Path) -> None:
    """One float N x 3 x H x W input and one N x 1 x H x W (or N x H x W) output, or one clear line."""
    ins, outs = session.get_inputs(), session.get_outputs()
    if len(ins) != 1 or len(outs) != 1:
        raise RtdepthError(f"{path}: a depth model has one input and one output; this one has {len(ins)} and {len(outs)}")
    i, o = ins[0], outs[0]
    if i.type != "tensor(float)" or len(i.shape) != 4 or (isinstance(i.shape[1], int) and i.shape[1] != 3):
        raise RtdepthError(f"{path}: input {i.name!r} is {i.type} {i.shape}; expected float N x 3 x H x W")
    one_channel = len(o.shape) == 3 or (len(o.shape) == 4 and not (isinstance(o.shape[1], int) and o.shape[1] != 1))
    if not one_channel:
        raise RtdepthError(f"{path}: output {o.name!r} is {o.shape}; expected N x 1 x H x W depth")


def inverse_to_relative_depth(inverse: np.ndarray) -> np.ndarray:
    """Relative inverse depth (any scale and shift) -> a positive relative depth for display and
    median-scaled metrics: each map's 2nd..98th percentiles span 1..10 (units, not metres)."""
    out = np.empty_like(inverse, dtype=np.float32)
    for k, inv in enumerate(inverse):
        lo, hi = np.percentile(inv, (2, 98))
        norm = np.clip((inv - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
        out[k] = 1.0 / (0.1 + 0.9 * norm)
    return out
