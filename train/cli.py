"""``python -m train`` / ``rtdepth train`` and ``rtdepth eval``'s data side: thin typer commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from rtdepth.errors import run_app
from rtdepth.sizes import parse_size
from train.config import TrainConfig

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Train rtdepth models.")


@app.command()
def train(
    data: list[str] = typer.Option(
        [], "--data", "-d", help="Dataset: folder, NYU .mat, DenseDepth .zip/.csv, synthetic:N. Repeatable."
    ),
    train_only: list[str] = typer.Option(
        [], "--train-only", help="Dataset trained on whole, no held-out part (more rooms of a kind --data holds). Repeatable."
    ),
    model: Optional[str] = typer.Option(None, help="Model name (rtdepth models)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config; flags override it."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Run folder (weights, state, config, log)."),
    epochs: Optional[int] = typer.Option(None, help="Passes over the training data (default 20)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Samples per step (default 16)."),
    lr: Optional[float] = typer.Option(None, help="Adam learning rate at the start of the poly decay (default 1e-4)."),
    size: Optional[str] = typer.Option(None, "--size", help="Training size WxH (default 320x240)."),
    split: Optional[str] = typer.Option(
        None, help="auto (default: blocks for video sequences, random otherwise), random (70/30) or blocks."
    ),
    encoder_weights: Optional[str] = typer.Option(
        None, "--encoder-weights", help="ImageNet encoder weights file, or 'packaged'."
    ),
    init: Optional[str] = typer.Option(
        None, "--init", help="Start from a weights file, or 'default' (fine-tune the bundled weights); sets --model."
    ),
    ssi_weight: Optional[float] = typer.Option(
        None, "--ssi-weight", help="Weight of a scale-and-shift-invariant disparity term beside the paper's loss (0: off)."
    ),
    match_weight: Optional[float] = typer.Option(
        None, "--match-weight", help="Weight of multi-scale gradient matching on the aligned disparity (0: off)."
    ),
    freeze_encoder: Optional[bool] = typer.Option(
        None, "--freeze-encoder/--no-freeze-encoder", help="Train the decoder only (encoder weights and statistics kept)."
    ),
    freeze_encoder_stats: Optional[bool] = typer.Option(
        None, "--freeze-encoder-stats/--no-freeze-encoder-stats",
        help="Keep the encoder's BatchNorm statistics (its weights still train).",
    ),
    workers: Optional[int] = typer.Option(None, help="Data-loading worker processes (default 2)."),
    cache: Optional[bool] = typer.Option(None, "--cache/--no-cache", help="Keep decoded samples in memory."),
    augment: Optional[bool] = typer.Option(
        None, "--augment/--no-augment", help="Flips, scale-crops, colour jitter (default on)."
    ),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after N optimizer steps (smoke runs)."),
    save_every: Optional[float] = typer.Option(
        None, "--save-every", help="Minutes between state saves inside an epoch (default 5; 0: at epoch ends only)."
    ),
    keep_epochs: Optional[bool] = typer.Option(
        None, "--keep-epochs/--no-keep-epochs", help="Also keep each epoch's weights (epochN.safetensors)."
    ),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda."),
    precision: Optional[str] = typer.Option(
        None, "--precision", help="auto (bf16 where the CPU has bf16 matrix units; AMP on CUDA), fp32 or bf16."
    ),
    seed: Optional[int] = typer.Option(None, help="Seed of the split, the sampling order and augmentation (default 0)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its saved state."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier run in --out (default: refused)."),
) -> None:
    """Train a depth model; best/last weights land in the run folder."""
    from train.trainer import fit

    width, height = parse_size(size, "--size") if size else (None, None)
    flags = dict(data=data or None, train_only=train_only or None, model=model, out=out, epochs=epochs,
                 batch_size=batch_size, lr=lr, width=width, height=height, split=split, encoder_weights=encoder_weights,
                 workers=workers, cache=cache, augment=augment, max_steps=max_steps, device=device, seed=seed, init=init,
                 ssi_weight=ssi_weight, match_weight=match_weight, freeze_encoder=freeze_encoder,
                 freeze_encoder_stats=freeze_encoder_stats,
                 save_every=save_every, keep_epochs=keep_epochs, precision=precision)  # fmt: skip
    if init and not model:  # fine-tuning: the architecture comes from the weights file
        from rtdepth.checkpoint import read_info
        from train.trainer import init_weights

        start = read_info(init_weights(init))
        flags["model"] = model = start.model
        flags["model_kwargs"] = start.kwargs
    if resume and config is None and out and (Path(out) / "config.yaml").is_file():
        config = Path(out) / "config.yaml"
    cfg = (
        TrainConfig.from_yaml(config, **flags)
        if config
        else TrainConfig.from_dict({k: v for k, v in flags.items() if v is not None})
    )
    if out is None and cfg.out == TrainConfig.out and model:  # an explicit --out is never replaced
        cfg.out = f"runs/{cfg.model}"
    summary = fit(cfg, resume=resume, overwrite=overwrite)
    typer.echo(json.dumps(summary))


def main() -> None:
    """Entry point that turns user errors into one line and an exit code."""
    run_app(app)
