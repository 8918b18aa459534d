"""Train on a lent GPU for a fixed time from carried packs, and bring back a few epochs' weights.

    python3 tools/gpu_train.py --packs pack --config pack/gpu.yaml --seconds 280 -o $OUT

(after ``python -m train.pack`` here; see the README's "Training on an offline GPU machine"). A lent
machine gives minutes, not epochs: the packs are unpacked into ``/tmp/d`` (the config's data paths point
there), the number of epochs is set so the polynomial decay ends inside ``--seconds`` at the measured
rate (the GPU check's training figure for the config's model, when its JSON is on the machine, else
``--rate``), training stops cleanly at the time limit whatever happens, and ``--keep`` epochs spread over
the run (the last included) are copied to the output folder with the run's log and config.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measured_rate(check_json: Path, model: str) -> float | None:
    """Samples/s of ``model``'s training step from a GPU check report, if there is one."""
    try:
        rows = json.loads(check_json.read_text())["training"]
        return float(next(r["samples_per_s"] for r in rows if r["model"] == model))
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None


def epochs_for(seconds: float, rate: float, frames: int, overhead: float = 40.0, most: int = 200) -> int:
    """Epochs that fit ``seconds`` (less start-up) at ``rate`` samples/s over ``frames`` training frames."""
    return max(1, min(most, int(rate * max(seconds - overhead, 0.0) / max(frames, 1))))


def spread(paths: list[Path], keep: int) -> list[Path]:
    """``keep`` of the epoch files, evenly spaced, the last always among them."""
    if len(paths) <= keep:
        return paths
    if keep <= 1:
        return paths[-1:]
    return [paths[i] for i in sorted({round(k * (len(paths) - 1) / (keep - 1)) for k in range(keep)})]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packs", type=Path, required=True, help="folder of .tar packs from train.pack")
    parser.add_argument("--config", type=Path, required=True, help="training YAML whose data paths are under --data")
    parser.add_argument("--seconds", type=float, required=True, help="training time limit")
    parser.add_argument("-o", "--output", type=Path, required=True, help="where the chosen weights and the log go")
    parser.add_argument("--data", type=Path, default=Path("/tmp/d"), help="where the packs are unpacked")
    parser.add_argument("--check", type=Path, default=Path("/tmp/gpu-check/gpu_check.json"), help="a GPU check report")
    parser.add_argument("--rate", type=float, default=300.0, help="samples/s when no report gives one")
    parser.add_argument("--keep", type=int, default=3, help="epoch weights to bring back")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import yaml

    packs = sorted(args.packs.glob("*.tar"))
    if not packs:
        print(f"error: no .tar packs in {args.packs}", file=sys.stderr)
        return 2
    cfg = yaml.safe_load(args.config.read_text())
    unpack = [subprocess.Popen([sys.executable, "-m", "train.pack", "unpack", str(p), "-o", str(args.data)], cwd=ROOT)
              for p in packs]  # fmt: skip
    if any(p.wait() for p in unpack):
        print("error: unpacking failed", file=sys.stderr)
        return 1
    frames = sum(len(list((Path(spec) / "rgb").glob("*.jpg"))) for spec in cfg.get("train_only", []) + cfg.get("data", []))
    rate = measured_rate(args.check, cfg.get("model", "unet")) or args.rate
    epochs = epochs_for(args.seconds, rate, frames)
    out_dir = Path(cfg.get("out", "/tmp/run"))
    args.output.mkdir(parents=True, exist_ok=True)
    plan = f"{frames} frames, {rate:.0f} samples/s, {epochs} epochs, limit {args.seconds:.0f} s"
    print(plan, flush=True)
    cmd = [sys.executable, "-m", "train", "--config", str(args.config), "--epochs", str(epochs), "--keep-epochs"]
    with open(args.output / "train.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            code = proc.wait(timeout=args.seconds)
        except subprocess.TimeoutExpired:  # stop like Ctrl-C: the trainer saves its state and keeps finished epochs
            proc.send_signal(signal.SIGINT)
            code = proc.wait()
    epochs_done = sorted(out_dir.glob("epoch*.safetensors"), key=lambda p: int(re.findall(r"\d+", p.stem)[0]))
    chosen = spread(epochs_done, args.keep)
    for path in chosen + [out_dir / "log.jsonl", out_dir / "config.yaml"]:
        if path.is_file():
            shutil.copy(path, args.output / path.name)
    (args.output / "plan.txt").write_text(f"{plan}\ntrain exit {code} at {time.strftime('%H:%M:%S')}\n")
    print(f"train exit {code}; returned {[p.name for p in chosen]} of {len(epochs_done)} epochs", flush=True)
    return 0 if chosen else 1


if __name__ == "__main__":
    sys.exit(main())
