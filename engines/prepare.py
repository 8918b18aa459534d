"""Make what a plan lacks (an ONNX export, a TensorRT engine, the bf16 gate's verdict), each said in one
line; the CLI calls this unless ``--no-build``. The runtime never builds: it only opens plans."""

from __future__ import annotations

from collections.abc import Callable

from rtdepth.runtime.plan import Plan, plan

from .export import ensure_onnx


def make_missing(chosen: Plan, notice: Callable[[str], None]) -> Plan:
    """Build each missing artefact of ``chosen``, then plan again (a refused gate changes the precision)."""
    spec = chosen.spec
    for item in chosen.missing:
        if item == "onnx":
            ensure_onnx(spec.weights, spec.engines_dir, notice)
        elif item == "bf16-gate":
            from .openvino import gate_bf16

            gate_bf16(spec.weights, spec.engines_dir, notice)
        elif item == "engine":
            from rtdepth.runtime.engine_header import ShapeProfile

            from .tensorrt import build_engine

            profile = ShapeProfile.covering(spec.size) if spec.size else None  # tuned for the size asked
            build_engine(spec.weights, chosen.precision, profile, notice=notice, engines_dir=spec.engines_dir)
    return plan(spec) if chosen.missing else chosen
