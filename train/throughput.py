"""Training speed: samples per second and peak device memory of the real training step, on real frames.

The step is ``trainer.train_step`` (mixed precision on CUDA, as ``rtdepth train`` runs it); the batch is
the bundled sample photos repeated to the batch size with a smooth depth ramp: no dataset is
needed, and the input is not zeros.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from rtdepth.bundled_frames import sample_frames
from rtdepth.runtime.preprocess import resize_rgb, to_rgb8
from rtdepth.sizes import TRAINING_SIZE

from .config import TrainConfig
from .trainer import setup_distributed, start_run, train_step


@dataclass
class TrainSpeed:
    model: str
    device: str
    precision: str
    size: str
    batch: int
    samples_per_s: float
    step_ms: float
    peak_mem_mb: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def sample_batch(batch: int, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (B, 3, H, W) in [0, 1] from the bundled photos and a smooth positive depth (B, 1, H, W)."""
    frames = [resize_rgb(to_rgb8(f), size) for f in sample_frames()]
    rgb = np.stack([frames[i % len(frames)] for i in range(batch)]).astype(np.float32) / 255
    w, h = size
    rows = np.linspace(1.0, 4.0, h, dtype=np.float32)[:, None] * np.ones((1, w), np.float32)
    depth = np.stack([rows + 0.1 * i for i in range(batch)])[:, None]
    return torch.from_numpy(rgb).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(depth)


def measure(model: str, device: str = "auto", size: tuple[int, int] = TRAINING_SIZE, batch: int = 16,
            steps: int = 20, warmup: int = 5, precision: str = "auto") -> TrainSpeed:  # fmt: skip
    """Median step time of ``steps`` optimizer steps after ``warmup``, synchronised on CUDA; ``precision`` as
    ``rtdepth train --precision`` takes it."""
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(model=model, out=out, batch_size=batch, width=size[0], height=size[1], device=device,
                          precision=precision)  # fmt: skip
        dist = setup_distributed(device)
        run = start_run(cfg, resume=False, dist=dist, steps_per_epoch=steps + warmup)
        images, depths = sample_batch(batch, size)
        cuda = dist.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(dist.device)
        times = []
        for i in range(warmup + steps):
            t0 = time.perf_counter()
            loss = train_step(run, images, depths)
            loss.item()  # waits for the step on any device
            if i >= warmup:
                times.append(time.perf_counter() - t0)
        step = float(np.median(times))
        peak = torch.cuda.max_memory_allocated(dist.device) / 2**20 if cuda else None
        return TrainSpeed(model, str(dist.device), run.precision, f"{size[0]}x{size[1]}", batch, batch / step, step * 1000, peak)


def main() -> None:
    """``python -m train.throughput [MODEL ...] [--precision P ...]``: samples/s of each, with ratios to fp32."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("models", nargs="*", default=["effnet_lite0_unet"])
    parser.add_argument("--precision", nargs="+", default=["fp32", "auto"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    for name in args.models:
        rows = [measure(name, args.device, batch=args.batch, steps=args.steps, warmup=2, precision=p) for p in args.precision]
        base = rows[0].samples_per_s
        for r in rows:
            print(json.dumps(r.as_dict() | {"x_first": round(r.samples_per_s / base, 2)}))


if __name__ == "__main__":
    main()
