"""OpenVINO's bf16 accuracy gate: bf16 against fp32 on held-out real frames, refused past a delta1 drop of
0.005 (int8's gate allows 0.01: bf16 needs no calibration and should lose almost nothing)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rtdepth.checkpoint import read_info, resolve_weights
from rtdepth.metrics import MetricAccumulator, compute_metrics
from rtdepth.runtime import cache

from .build import BUNDLED_CALIBRATION
from .export import ensure_onnx

BF16_LIMIT = 0.005


def gate_bf16(weights: Path | None, engines_dir: Path | None = None, notice: Callable[[str], None] | None = None,
              frames_from: Path = BUNDLED_CALIBRATION, limit: float = BF16_LIMIT, low: str = "bf16") -> dict:  # fmt: skip
    """Measure bf16 against fp32 (OpenVINO both) on the held-out part of ``frames_from``; record the verdict.
    (``low`` is the precision judged: bf16; tests on CPUs without bf16 units judge fp32 against itself.)"""
    from rtdepth.runtime.openvino import OpenVinoBackend

    from .quantize import calibration_frames

    weights = resolve_weights(weights)
    onnx = ensure_onnx(weights, engines_dir, notice)
    if notice is not None:
        notice(f"checking bf16 against fp32 on held-out frames of {frames_from.name} once (accuracy gate)")
    judge = calibration_frames(frames_from, tuple(read_info(weights).input_size), n_calib=1, n_eval=16).judge
    fp32 = OpenVinoBackend(onnx, "fp32", cache.openvino_dir(onnx))
    bf16 = OpenVinoBackend(onnx, low, cache.openvino_dir(onnx))
    ref, low = MetricAccumulator(), MetricAccumulator()
    for rgb, _ in judge:
        d32 = fp32.infer(rgb[None])[0]
        ref.add(compute_metrics(d32, d32))
        low.add(compute_metrics(bf16.infer(rgb[None])[0], d32))
    drop = ref.mean()["delta1"] - low.mean()["delta1"]
    verdict = {"passed": drop <= limit, "drop": round(drop, 5), "limit": limit, "frames": len(judge),
               "reference": "fp32 output", "abs_rel": round(low.mean()["abs_rel"], 5)}  # fmt: skip
    cache.write_gate(weights, "openvino-bf16", verdict, engines_dir)
    if notice is not None and not verdict["passed"]:
        notice(f"bf16 refused: delta1 drops {drop:.4f} (> {limit}); running fp32")
    return verdict
