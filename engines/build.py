"""``rtdepth build-engine``: the fastest engine for the machine at hand, TensorRT on NVIDIA GPUs, int8 on CPUs.

The dispatch lives here, beside the builders, so the CLI only parses options and prints what comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rtdepth.checkpoint import ASSETS
from rtdepth.errors import RtdepthError
from rtdepth.runtime.backends import resolve_device

BUNDLED_CALIBRATION = ASSETS / "demo.mp4"  # held-out real frames shipped with the package


def build_for_machine(weights: Path | None, device: str, precision: str | None, sizes: tuple[str, str, str],
                      workspace: float, output: Path | None, engines_dir: Path | None, no_build: bool, force: bool,
                      verify: bool, calib: Path | None, say: Callable[[str], None],
                      notice: Callable[[str], None]) -> Path:  # fmt: skip
    """Build (or reuse) the engine ``device`` calls for (``auto``: this machine) and report it through ``say``."""
    dev = resolve_device(device)
    if dev == "cpu":
        return _cpu_int8(weights, precision, output, engines_dir, force, calib, say, notice)
    from engines.tensorrt import build_engine, verify_engine
    from rtdepth.runtime.engine_header import ShapeProfile
    from rtdepth.sizes import parse_size

    precision = precision or "fp16"
    if precision not in ("fp16", "fp32"):
        raise RtdepthError(f"TensorRT engines are fp16 or fp32, not {precision} (int8 is built for the CPU: --device cpu)")
    profile = ShapeProfile(*(parse_size(text, flag) for text, flag in zip(sizes, ("--min", "--opt", "--max"))))
    path = build_engine(weights, precision, profile, output, workspace, no_build, force, notice, engines_dir)
    say(f"engine: {path}")
    if verify:
        max_err, d1 = verify_engine(path, weights)
        say(f"verify: max |engine - fp32| {max_err:.4f} m, delta1 vs fp32 {d1:.4f} (needs >= 0.99)")
    return path


def _cpu_int8(weights, precision, output, engines_dir, force, calib, say, notice) -> Path:
    from engines.quantize import build_int8

    if precision not in (None, "int8"):
        raise RtdepthError(f"on the CPU build-engine makes int8 models, not {precision}")
    if output is not None:
        raise RtdepthError("int8 models live in the engine cache: use --engines-dir instead of --output")
    if calib is None:
        calib = BUNDLED_CALIBRATION
        notice(f"calibrating int8 on the bundled clip ({calib.name}); --calib DIR uses your own frames")
    r = build_int8(weights, calib, engines_dir, force=force)
    say(f"wrote {r.path}\nheld-out frames: {r.frames}, reference: {r.reference}")
    for name, m in (("fp32", r.fp32), ("int8", r.int8)):
        say(f"  {name}: delta1 {m['delta1']:.4f}  abs rel {m['abs_rel']:.4f}  rmse {m['rmse']:.4f}")
    say(f"  delta1 drop {r.delta1_drop:+.4f} (limit 0.01)")
    return r.path
