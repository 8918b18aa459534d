"""The GPU check: facts, GPU tests, latency, end-to-end rate, training speed and memory, in one folder.

    python tools/gpu_check.py -o gpu-check        (after tools/offline_install.py; `make gpu-check` runs both)

Writes ``gpu_check.json`` (everything) and ``summary.md`` (the tables and the targets) into the folder and
prints the summary. Each step is recorded even when another fails, so one broken piece costs one row.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMI_FIELDS = "name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit,pstate,temperature.gpu"


def gpu_facts() -> dict:
    import torch

    facts: dict = {}
    try:
        smi = subprocess.run(["nvidia-smi", f"--query-gpu={SMI_FIELDS}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        first = smi.stdout.strip().splitlines()[0] if smi.returncode == 0 and smi.stdout.strip() else ""
        facts["nvidia_smi"] = dict(zip(SMI_FIELDS.split(","), (v.strip() for v in first.split(",")))) if first else {}
    except FileNotFoundError:
        facts["nvidia_smi"] = {}
    facts["torch"] = torch.__version__
    facts["cuda"] = torch.version.cuda
    facts["cudnn"] = torch.backends.cudnn.version()
    facts["cuda_available"] = torch.cuda.is_available()
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        facts["gpu"] = props.name
        facts["capability"] = f"{props.major}.{props.minor}"
        facts["multiprocessors"] = props.multi_processor_count
    import onnxruntime

    from rtdepth.runtime.tensorrt import tensorrt_available

    facts["onnxruntime"] = f"{onnxruntime.__version__} {onnxruntime.get_available_providers()}"
    facts["tensorrt"] = tensorrt_available()
    facts["python"] = sys.version.split()[0]
    return facts


def gpu_tests(out: Path) -> dict:
    xml = out / "pytest.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu or tensorrt", "-q", "-rs", "-p", "no:cacheprovider",
                           f"--junitxml={xml}"], cwd=ROOT, capture_output=True, text=True, timeout=1200)  # fmt: skip
    (out / "pytest.log").write_text(proc.stdout + proc.stderr)
    import xml.etree.ElementTree as ET

    suite = ET.parse(xml).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    counts["skip_reasons"] = sorted({line.split("] ", 1)[-1] for line in proc.stdout.splitlines() if line.startswith("SKIPPED")})
    counts["exit"] = proc.returncode
    return counts


def bench(iters: int, frames: int) -> dict:
    proc = subprocess.run([sys.executable, "-m", "rtdepth", "bench", "--device", "cuda", "--models", "all", "--json", "--live",
                           "--iters", str(iters), "--e2e-frames", str(frames)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)  # fmt: skip
    if proc.returncode:
        raise RuntimeError(f"rtdepth bench exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout)


def training(models: list[str], steps: int) -> list[dict]:
    from train.throughput import measure

    return [measure(name, "cuda", (320, 240), batch=16, steps=steps).as_dict() for name in models]


def inference_memory(models: list[str]) -> list[dict]:
    """Peak GPU memory of one FP16 inference at 640x480 per model (random weights: memory does not depend on them)."""
    import numpy as np
    import torch

    from rtdepth.models import create_model
    from rtdepth.runtime.backends import TorchBackend

    rows = []
    frame = np.random.default_rng(0).integers(0, 256, (1, 480, 640, 3), dtype=np.uint8)
    for name in models:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        backend = TorchBackend(create_model(name).eval(), "cuda", "fp16")
        backend.infer(frame)
        peak = torch.cuda.max_memory_allocated() / 2**20
        rows.append({"model": name, "size": "640x480", "precision": "fp16", "peak_mem_mb": peak})
        del backend
    return rows


def profile(model: str = "resnet34_unet", size: tuple[int, int] = (640, 480), iters: int = 20) -> list[dict]:
    """Where one frame's time goes (torch profiler): GPU busy time against wall time, and the top GPU ops.

    Wall time far above GPU time means the host (Python launches, copies, synchronisation) is the limit."""
    import numpy as np
    import torch
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from rtdepth.models import create_model
    from rtdepth.runtime.backends import TorchBackend

    frame = np.random.default_rng(0).integers(0, 256, (1, size[1], size[0], 3), dtype=np.uint8)
    rows = []
    for precision, graph in (("fp32", False), ("fp16", False), ("fp16", True)):
        backend = TorchBackend(create_model(model).eval(), "cuda", precision, cuda_graph=graph)
        for _ in range(5):
            backend.infer(frame)
        torch.cuda.synchronize()
        with torch_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            t0 = time.perf_counter()
            for _ in range(iters):
                backend.infer(frame)
            wall_ms = (time.perf_counter() - t0) * 1000 / iters
        device_ms = lambda e: getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0)) / 1000 / iters  # noqa: E731
        # Kernels and copies only: an operator's device time is its kernels' again, and would count them twice.
        events = [e for e in prof.key_averages() if device_ms(e) > 0 and getattr(e, "device_type", None) == DeviceType.CUDA]
        top = sorted(events, key=device_ms, reverse=True)[:5]
        rows.append({"model": model, "size": f"{size[0]}x{size[1]}", "precision": precision + ("+graph" if graph else ""),
                     "wall_ms": wall_ms, "gpu_ms": sum(map(device_ms, events)),
                     "top": [[e.key[:60], round(device_ms(e), 3)] for e in top]})  # fmt: skip
        del backend
    return rows


def targets(report: dict) -> list[dict]:
    """The issue's targets, each with the measured value and whether it is met."""
    found: list[dict] = []
    lat = report.get("bench", {}).get("latency", [])

    def row(model: str, precision: str, size: str = "640x480") -> dict | None:
        return next((r for r in lat if r["model"] == model and r["precision"] == precision and r["size"] == size
                     and r["backend"] == "torch"), None)  # fmt: skip

    r = row("resnet34_unet", "fp16+graph")
    if r:
        found.append({"target": "resnet34_unet 640x480 FP16+graph >= 3x eager FP32", "value": round(r["speedup"], 2),
                      "met": r["speedup"] >= 3})  # fmt: skip
    for model in ("unet", report.get("default_model", "effnet_lite0_unet")):
        best = [x for x in (row(model, p) for p in ("fp32", "fp16", "fp16+graph")) if x]
        if best:
            fps = 1000 / min(x["median_ms"] for x in best)
            found.append({"target": f"{model} 640x480 > 100 fps model-only", "value": round(fps, 1), "met": fps > 100})
    for e in report.get("bench", {}).get("end_to_end", []):
        found.append({"target": f"video >= 0.9x model-only ({e['backend']} {e['precision']} {e['size']})",
                      "value": round(e["ratio"], 3), "met": e["ratio"] >= 0.9})  # fmt: skip
    return found


def summary_markdown(report: dict) -> str:
    lines = ["# GPU check", ""]
    facts = report.get("facts", {})
    smi = facts.get("nvidia_smi", {})
    lines.append(
        f"{facts.get('gpu', smi.get('name', '?'))}, driver {smi.get('driver_version', '?')}, "
        f"torch {facts.get('torch')}, CUDA {facts.get('cuda')}, cuDNN {facts.get('cudnn')}, "
        f"TensorRT {'yes' if facts.get('tensorrt') else 'absent'}"
    )
    lines.append("")
    tests = report.get("tests")
    if isinstance(tests, dict) and "tests" in tests:
        failed = tests["failures"] + tests["errors"]
        lines.append(f"GPU tests: {tests['passed']} passed, {failed} failed, {tests['skipped']} skipped")
        lines += [f"- skipped: {r}" for r in tests["skip_reasons"]]
        lines.append("")
    from engines.report import markdown

    lines += markdown(report.get("bench", {}))
    if isinstance(report.get("training"), list):
        lines += ["| training | precision | size | batch | samples/s | step ms | peak MB |", "|---|---|---|---|---|---|---|"]
        for t in report["training"]:
            lines.append(
                f"| {t['model']} | {t['precision']} | {t['size']} | {t['batch']} | {t['samples_per_s']:.1f} | "
                f"{t['step_ms']:.1f} | {t['peak_mem_mb']:.0f} |"
            )
        lines.append("")
    if isinstance(report.get("profile"), list):
        lines += ["| where the time goes (profiled) | size | precision | wall ms | GPU busy ms | top GPU ops (ms) |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for p in report["profile"]:
            top = "; ".join(f"{k} {v:.2f}" for k, v in p["top"][:3])
            lines.append(f"| {p['model']} | {p['size']} | {p['precision']} | {p['wall_ms']:.2f} | {p['gpu_ms']:.2f} | {top} |")
        lines.append("")
    if isinstance(report.get("inference_memory"), list):
        lines += ["| inference peak memory | size | precision | MB |", "|---|---|---|---|"]
        for m in report["inference_memory"]:
            lines.append(f"| {m['model']} | {m['size']} | {m['precision']} | {m['peak_mem_mb']:.0f} |")
        lines.append("")
    lines += ["| target | value | met |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['value']} | {'yes' if t['met'] else '**no**'} |" for t in report.get("targets", [])]
    errors = {k: v for k, v in report.items() if isinstance(v, dict) and "error" in v and k != "facts"}
    if errors:
        lines += ["", "Steps that failed:"] + [f"- {k}: {v['error'].splitlines()[-1]}" for k, v in errors.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "gpu-check", help="folder for the results")
    parser.add_argument("--iters", type=int, default=50, help="timed runs per latency case")
    parser.add_argument("--e2e-frames", type=int, default=150, help="demo-clip frames for the video rate")
    parser.add_argument("--train-steps", type=int, default=30, help="timed training steps per model")
    parser.add_argument("--skip", nargs="*", default=[], choices=["tests", "bench", "training", "memory", "profile"])
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    from rtdepth.checkpoint import default_weights, read_info
    from rtdepth.models import list_models

    report: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "default_model": read_info(default_weights()).model}
    steps = [("facts", gpu_facts), ("tests", lambda: gpu_tests(out)), ("bench", lambda: bench(args.iters, args.e2e_frames)),
             ("training", lambda: training(["unet", "resnet34_unet", report["default_model"]], args.train_steps)),
             ("memory", lambda: inference_memory(list_models())), ("profile", profile)]  # fmt: skip
    for name, step in steps:
        if name in args.skip or (name != "facts" and not report.get("facts", {}).get("cuda_available")):
            continue
        t0 = time.perf_counter()
        key = "inference_memory" if name == "memory" else name
        try:
            report[key] = step()
        except Exception:  # noqa: BLE001 - recorded, and the next step still runs
            report[key] = {"error": traceback.format_exc()}
        print(f"{name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        (out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
    report["targets"] = targets(report)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
    text = summary_markdown(report)
    (out / "summary.md").write_text(text)
    if not report.get("facts", {}).get("cuda_available"):
        print(
            f"error: no CUDA GPU visible to torch {report.get('facts', {}).get('torch', '?')}; facts are in {out}",
            file=sys.stderr,
        )
        return 1
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
