"""What to open for a request, decided in one place: a frozen ``OpenSpec`` of what was asked -> ``plan(spec)``
(which runtime, which precision, which artefact, what is missing) -> the CLI builds what is missing unless
``--no-build`` -> ``open_plan``. ``bench`` iterates over plans too. (Polygraphy's split: loaders apart from
runners.) A new backend touches its runtime module and the table in ``_cpu`` / ``_cuda`` only.

The table, for an rtdepth weights file:
- explicit ``--backend``: that runtime; a precision it cannot run is one line.
- ``auto`` on a CUDA GPU: a TensorRT engine built for this GPU (built when TensorRT is installed and building is
  allowed), else CUDA PyTorch FP16.
- ``auto`` on a CPU: an int8 model that ``build-engine`` made and gated, run by OpenVINO when installed, else
  ONNX Runtime; otherwise OpenVINO on the exported ONNX at bf16 where the CPU has bf16 matrix units and the
  bf16 gate passed (fp32 elsewhere), else ONNX Runtime fp32; PyTorch when nothing is exported and nothing
  may be built (the Python API never builds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rtdepth.errors import RtdepthError
from rtdepth.runtime import cache

BACKENDS = ("auto", "torch", "onnxruntime", "openvino", "tensorrt")
PRECISIONS = (None, "fp32", "fp16", "bf16", "int8")
RUNS = {  # what each runtime can run, per device
    ("torch", "cpu"): ("fp32",),
    ("torch", "cuda"): ("fp16", "fp32"),
    ("onnxruntime", "cpu"): ("fp32", "int8"),
    ("onnxruntime", "cuda"): ("fp32",),
    ("openvino", "cpu"): ("fp32", "bf16", "int8"),
    ("tensorrt", "cuda"): ("fp16", "fp32"),
}


@dataclass(frozen=True)
class OpenSpec:
    """What was asked: the same fields whether from the CLI or the API."""

    weights: Path
    backend: str = "auto"
    device: str = "cpu"  # resolved: cpu or cuda[:N]
    precision: str | None = None
    size: tuple[int, int] | None = None
    engines_dir: Path | None = None
    streaming: bool = False  # other threads run beside the model (decode, encode): idle threads must not spin
    may_build: bool = False  # the CLI may export or build what is missing; the API never does


@dataclass(frozen=True)
class Plan:
    """What will run: a runtime at a precision on an artefact (None until built), and what must be made first."""

    spec: OpenSpec
    runtime: str
    precision: str
    artefact: Path | None
    missing: tuple[str, ...] = field(default=())  # "onnx", "bf16-gate", "engine"

    @property
    def label(self) -> str:
        return f"{self.runtime} {self.precision}"


@dataclass(frozen=True)
class Machine:
    """What the table depends on besides the cache; tests pass their own."""

    openvino: bool
    tensorrt: bool
    bf16: bool

    @classmethod
    def here(cls, device: str) -> Machine:
        from rtdepth.runtime.cpu import has_bf16
        from rtdepth.runtime.openvino import openvino_available

        trt = False
        if device.startswith("cuda"):
            from rtdepth.runtime.tensorrt import tensorrt_available

            trt = tensorrt_available()
        return cls(openvino=openvino_available(), tensorrt=trt, bf16=has_bf16())


def plan(spec: OpenSpec, machine: Machine | None = None) -> Plan:
    """The one decision of what to open for ``spec`` (see the module's table)."""
    if spec.backend not in BACKENDS:
        raise RtdepthError(f"unknown backend {spec.backend!r}; use one of {', '.join(BACKENDS)}")
    if spec.precision not in PRECISIONS:
        raise RtdepthError(f"unknown precision {spec.precision!r}; use fp32, fp16, bf16 or int8")
    machine = machine or Machine.here(spec.device)
    cuda = spec.device.startswith("cuda")
    chosen = _cuda(spec, machine) if cuda else _cpu(spec, machine)
    allowed = RUNS.get((chosen.runtime, "cuda" if cuda else "cpu"))
    if allowed is None:
        raise RtdepthError(f"{chosen.runtime} does not run on {spec.device}")
    if chosen.precision not in allowed:
        raise RtdepthError(f"{chosen.runtime} on {spec.device} runs {', '.join(allowed)}, not {chosen.precision}")
    return chosen


def _cuda(spec: OpenSpec, m: Machine) -> Plan:
    from rtdepth.runtime.tensorrt import find_engine

    backend = spec.backend
    if backend == "auto":
        if spec.precision in ("fp32", "fp16", None):
            engine = find_engine(spec.weights, spec.precision or "fp16", spec.size)
            if engine is not None:
                return Plan(spec, "tensorrt", spec.precision or "fp16", engine)
            if m.tensorrt and spec.may_build:
                return Plan(spec, "tensorrt", spec.precision or "fp16", None, ("engine",))
        backend = "torch"
    if backend == "tensorrt":
        engine = find_engine(spec.weights, spec.precision or "fp16", spec.size)
        return Plan(spec, "tensorrt", spec.precision or "fp16", engine, () if engine else ("engine",))
    if backend == "onnxruntime":
        onnx = cache.find_onnx(spec.weights, spec.engines_dir)
        return Plan(spec, "onnxruntime", spec.precision or "fp32", onnx, () if onnx else ("onnx",))
    return Plan(spec, backend, spec.precision or "fp16", spec.weights)


def _cpu(spec: OpenSpec, m: Machine) -> Plan:
    backend, precision = spec.backend, spec.precision
    int8 = cache.find_int8(spec.weights, spec.engines_dir) if precision in (None, "int8") else None
    onnx = cache.find_onnx(spec.weights, spec.engines_dir)
    if backend == "auto":
        if int8 is not None:
            backend = "openvino" if m.openvino else "onnxruntime"
        elif precision == "int8":
            raise _no_int8(spec)
        elif m.openvino and (onnx or spec.may_build) and precision in (None, "fp32", "bf16"):
            backend = "openvino"
        elif (onnx or spec.may_build) and precision in (None, "fp32"):
            backend = "onnxruntime"
        else:
            backend = "torch"
    if backend == "torch":
        return Plan(spec, "torch", precision or "fp32", spec.weights)
    if backend == "openvino" and not m.openvino:
        raise RtdepthError("OpenVINO is not installed: pip install openvino (or use --backend onnxruntime)")
    if backend in ("onnxruntime", "openvino") and (precision == "int8" or (precision is None and int8)):
        if int8 is None:
            raise _no_int8(spec)
        return Plan(spec, backend, "int8", int8)
    missing = () if onnx else ("onnx",)
    if backend == "onnxruntime":
        return Plan(spec, backend, precision or "fp32", onnx, missing)
    if backend != "openvino":
        raise RtdepthError(f"{backend} needs a CUDA GPU (use --device cuda)")
    return _openvino_float(spec, m, onnx, missing)


def _openvino_float(spec: OpenSpec, m: Machine, onnx: Path | None, missing: tuple[str, ...]) -> Plan:
    """bf16 where the CPU has it and its gate passed (measured once when missing, if building is allowed)."""
    if spec.precision == "bf16" and not m.bf16:
        raise RtdepthError("this CPU has no bf16 matrix support (amx_bf16 or avx512_bf16): use -p fp32")
    if spec.precision == "fp32" or not m.bf16:
        return Plan(spec, "openvino", "fp32", onnx, missing)
    verdict = cache.read_gate(spec.weights, "openvino-bf16", spec.engines_dir)
    if verdict is None:
        if spec.may_build:
            return Plan(spec, "openvino", "bf16", onnx, (*missing, "bf16-gate"))
        return Plan(spec, "openvino", "fp32", onnx, missing)  # unmeasured: the API stays on fp32
    if not verdict.get("passed"):
        if spec.precision == "bf16":
            raise RtdepthError(f"bf16 was refused by its accuracy gate (delta1 drop {verdict.get('drop', float('nan')):.4f} "
                               f"> {verdict.get('limit')}): use -p fp32")  # fmt: skip
        return Plan(spec, "openvino", "fp32", onnx, missing)
    return Plan(spec, "openvino", "bf16", onnx, missing)


def _no_int8(spec: OpenSpec) -> RtdepthError:
    return RtdepthError(f"no int8 model for {spec.weights.name}: rtdepth build-engine (on this CPU) makes one")
