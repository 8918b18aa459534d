"""The training loop as plain functions: build, train one epoch, evaluate, fit.

Rank 0 logs and writes checkpoints; under ``torchrun`` every rank trains its shard with DDP.
Checkpoints are atomic; Ctrl-C saves a state that ``--resume`` continues from the same step.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from rtdepth.checkpoint import WeightsInfo, file_sha256, load_model, resolve_weights, save_weights
from rtdepth.data import open_dataset
from rtdepth.errors import SIGNAL_EXIT, RtdepthError
from rtdepth.metrics import MetricAccumulator, compute_metrics
from rtdepth.models import DepthNet, create_model, load_encoder_weights
from rtdepth.stopping import StopRequests, stop_requests
from train.augment import AugmentConfig, small_view
from train.config import TrainConfig
from train.data import DepthTrainingSet, EpochSampler
from train.losses import DepthLoss
from train.progress import TrainProgress
from train.state import TrainState, load_train_state, save_train_state


class Interrupted(RtdepthError):
    """Training stopped by Ctrl-C (130) or SIGTERM (143) after saving a resumable state."""

    exit_code = 130


@dataclass
class Dist:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str) -> Dist:
    """Join the process group when launched by torchrun (gloo on CPU, NCCL on GPU)."""
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device == "cuda" and not torch.cuda.is_available():
        raise RtdepthError("--device cuda asked for, but no CUDA GPU is available")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(device=torch.device("cuda" if use_cuda else "cpu"))
    torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
    rank, local = torch.distributed.get_rank(), int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local)
    return Dist(rank, world, torch.device(f"cuda:{local}" if use_cuda else "cpu"))


def build_datasets(cfg: TrainConfig) -> tuple[DepthTrainingSet, DepthTrainingSet]:
    """Open every data spec, split each the same way, and wrap train (augmented) and val (not).

    ``train_only`` specs (and ``synthetic:N``) give every frame to training: extra rendered rooms from a
    generator whose held-out part another folder already holds, so no render is spent on a second one.
    """
    if not cfg.data:
        raise RtdepthError("no training data given (--data PATH)")
    from torch.utils.data import ConcatDataset

    bases, train_idx, val_idx, offset = [], [], [], 0
    for spec, whole in [(s, False) for s in cfg.data] + [(s, True) for s in cfg.train_only]:
        base = open_dataset(spec)
        if whole or str(spec).startswith("synthetic:"):  # synthetic scenes only train; validation stays real
            tr, va = list(range(len(base))), []
        else:
            tr, va = cfg.split_spec.indices(base)
        train_idx += [offset + i for i in tr]
        val_idx += [offset + i for i in va]
        bases.append(base)
        offset += len(base)
    joined = ConcatDataset(bases) if len(bases) > 1 else bases[0]
    aug = AugmentConfig(scale=(1.0, cfg.max_zoom)) if cfg.augment else None
    train = DepthTrainingSet(joined, train_idx, cfg.size, aug, cfg.seed, cfg.cache, cfg.canonical_fx)
    # Validation in the same space: delta and abs rel are ratios, so they read as in metres.
    val = DepthTrainingSet(joined, val_idx or train_idx[-1:], cfg.size, None, cfg.seed, cfg.cache, cfg.canonical_fx)
    return train, val


def require_valid_depth(dataset: DepthTrainingSet, label: str, probes: int = 12) -> None:
    """Refuse, before any step, training data whose depth has no valid pixel in frames spread over it."""
    from rtdepth.data.splits import spread_evenly

    base, indices = dataset.base, dataset.indices
    for i in spread_evenly(list(indices), probes):
        depth = base[i].depth
        if depth is not None and bool(np.any((depth > 0) & np.isfinite(depth))):
            return
    raise RtdepthError(f"{label}: no valid depth in {min(probes, len(indices))} frames spread over it "
                       "(all zero or missing); nothing to train on")  # fmt: skip


def build_model(cfg: TrainConfig) -> DepthNet:
    """The registered model, with ImageNet encoder weights or a whole weights file to start from when asked for."""
    model = create_model(cfg.model, **cfg.model_kwargs)
    if cfg.encoder_weights:
        load_encoder_weights(model, None if cfg.encoder_weights == "packaged" else cfg.encoder_weights)
    if cfg.init:
        start, info = load_model(init_weights(cfg.init))
        if info.model != cfg.model or info.kwargs != cfg.model_kwargs:
            raise RtdepthError(
                f"--init {cfg.init} holds {_arch(info.model, info.kwargs)}, not {_arch(cfg.model, cfg.model_kwargs)}"
            )
        model.load_state_dict(start.state_dict())
    if cfg.keeps_encoder_stats and not isinstance(getattr(model, "encoder", None), torch.nn.Module):
        key = "freeze_encoder" if cfg.freeze_encoder else "freeze_encoder_stats"
        raise RtdepthError(f"{key}: {cfg.model} has no separate encoder (use an encoder U-Net)")
    if cfg.freeze_encoder:
        model.encoder.requires_grad_(False)
    return model


def set_training_mode(model: torch.nn.Module, cfg: TrainConfig) -> None:
    """Training mode, except a frozen encoder or its statistics: its BatchNorm layers keep normalising with the
    statistics of the images it learnt on, not drifting towards the training batches' (rendered) ones."""
    model.train()
    if cfg.keeps_encoder_stats:
        for layer in getattr(model, "module", model).encoder.modules():
            if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
                layer.eval()


class StopRequest:
    """Ctrl-C or SIGTERM asks the run to stop at the next safe point (after a step, between validation
    batches, after a save), where the state is saved; a second signal interrupts at once (``rtdepth.stopping``)."""

    def __init__(self, requested: StopRequests) -> None:
        self.requested = requested

    def __call__(self) -> bool:
        return bool(self.requested)

    def stop(self, run: Run, where: str) -> None:
        """Save the resumable state and end the run with the signal's exit code."""
        save_state(run)
        raise Interrupted(
            f"{where} (step {run.state.step}); state saved in {run.out / 'state.safetensors'}, continue with --resume",
            SIGNAL_EXIT[signal.SIGTERM if self.requested.terminated else signal.SIGINT],
        )


def stop_agreed(stop_requested: Callable[[], bool], dist: Dist) -> bool:
    """Whether any rank was asked to stop. Under DDP every rank must stop at the same step, or the
    others wait forever in the next gradient all-reduce; single-process runs ask no one."""
    if dist.world == 1:
        return stop_requested()
    flag = torch.tensor([1.0 if stop_requested() else 0.0], device=dist.device)
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return bool(flag.item())


def poly_lr(step: int, total: int, cfg: TrainConfig) -> float:
    """Polynomial decay from ``lr`` to ``end_lr`` over ``total`` steps."""
    frac = min(step / max(total, 1), 1.0)
    return (cfg.lr - cfg.end_lr) * (1 - frac) ** cfg.poly_power + cfg.end_lr


@torch.no_grad()
def validate(model: torch.nn.Module, dataset: DepthTrainingSet, device: torch.device, max_depth: float,
             stop_requested: Callable[[], bool] = lambda: False) -> dict[str, float] | None:  # fmt: skip
    """Validation metrics at the training size, raw and with median scaling (suffix ``_ms``);
    None when a stop was requested part-way."""
    model.eval()
    raw, scaled = MetricAccumulator(), MetricAccumulator()
    loader = DataLoader(dataset, batch_size=8, shuffle=False, num_workers=0)
    for images, depths in loader:
        if stop_requested():
            model.train()
            return None
        preds = model(images.to(device)).float().cpu().numpy()[:, 0]
        for p, g in zip(preds, depths.numpy()[:, 0]):
            raw.add(compute_metrics(p, g, max_depth=max_depth))
            scaled.add(compute_metrics(p, g, max_depth=max_depth, median_scaling=True))
    model.train()
    return raw.mean() | {f"{k}_ms": v for k, v in scaled.mean().items()}


def _export_weights(paths: list[Path], model: DepthNet, cfg: TrainConfig, summary: dict[str, Any],
                    metrics: dict[str, float]) -> None:  # fmt: skip
    kwargs = dict(cfg.model_kwargs)
    camera = {"canonical_fx_ratio": cfg.canonical_fx} if cfg.canonical_fx is not None else {}
    info = WeightsInfo(cfg.model, kwargs, cfg.size, (model.min_depth, model.max_depth), summary, metrics, camera)
    save_weights(model, paths[0], info, copies=paths[1:])


@dataclass
class Callbacks:
    """Hooks into a run (progress, logging, tests): ``on_step(run, loss)`` after every optimizer step and
    ``on_epoch_end(run, record)`` after each epoch's validation and save, on every rank."""

    on_step: list[Callable[[Run, float], None]] = field(default_factory=list)
    on_epoch_end: list[Callable[[Run, dict[str, Any]], None]] = field(default_factory=list)


@dataclass
class Run:
    """What one training run holds while it goes: the model, its optimizer, counters and where it writes."""

    cfg: TrainConfig
    dist: Dist
    model: DepthNet
    net: torch.nn.Module  # the model, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    loss_fn: DepthLoss
    state: TrainState
    out: Path
    total_steps: int
    use_amp: bool = False
    amp_dtype: torch.dtype = torch.float16
    samples_seen: int = 0
    last_save: float = field(default_factory=time.monotonic)
    callbacks: Callbacks = field(default_factory=Callbacks)

    @property
    def precision(self) -> str:
        """What the steps compute in, as recorded in the weights' training header."""
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.amp_dtype, "fp32") if self.use_amp else "fp32"


def shows_small_view(cfg: TrainConfig, step: int) -> bool:
    """Whether step ``step`` trains on the smaller view: drawn from the seed and the step alone, so a resumed run
    and every rank of a distributed one draw the same."""
    return cfg.small_view_prob > 0 and np.random.default_rng([cfg.seed, step]).random() < cfg.small_view_prob


def train_step(run: Run, images: torch.Tensor, depths: torch.Tensor) -> torch.Tensor:
    """One optimizer step (autocast at the run's precision, clipped gradients); returns the loss, not synchronised.

    A non-finite loss skips the update (the scaler's rule); the caller decides whether that is fatal."""
    device = run.dist.device
    images = images.to(device, non_blocking=True)
    depths = depths.to(device, non_blocking=True)
    if shows_small_view(run.cfg, run.state.step):
        images, depths = small_view(images, depths)
    if device.type == "cuda" or run.use_amp:
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=run.amp_dtype, enabled=run.use_amp):
        pred = run.net(images)
    loss = run.loss_fn(pred.float(), depths)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.unscale_(run.optimizer)
    if run.cfg.clip_grad:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.cfg.clip_grad)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    return loss


def _batches(loader: DataLoader) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The loader's batches; a data error raised in a worker process comes out as its own one line,
    not wrapped in the worker's traceback."""
    it = iter(loader)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except RtdepthError as exc:
            text = str(exc).strip()
            if "Original Traceback" in text:
                text = text.splitlines()[-1].split("RtdepthError: ", 1)[-1]
            raise RtdepthError(text) from None
        yield batch


def train_one_epoch(run: Run, loader: DataLoader, progress: TrainProgress, stop: StopRequest) -> float:
    """One pass over ``loader`` (resuming mid-epoch where the sampler says); returns the mean loss.

    The state is saved every ``save_every`` minutes, so a killed run loses at most that much."""
    cfg, dist, state = run.cfg, run.dist, run.state
    task = progress.start_epoch(state.epoch, cfg.epochs, len(loader), state.step_in_epoch)
    set_training_mode(run.net, cfg)
    for images, depths in _batches(loader):
        if state.step >= run.total_steps:
            break
        for group in run.optimizer.param_groups:
            group["lr"] = poly_lr(state.step, run.total_steps, cfg)
        loss = train_step(run, images, depths)
        if not torch.isfinite(loss):
            raise RtdepthError(f"loss became {loss.item()} at step {state.step}; lower --lr")
        state.step += 1
        state.step_in_epoch += 1
        run.samples_seen += images.shape[0] * dist.world
        value = loss.item()  # one host sync a step, shared by the progress bar and the hooks
        progress.advance(task, value, images.shape[0] * dist.world)
        for hook in run.callbacks.on_step:
            hook(run, value)
        if stop_agreed(stop, dist):
            stop.stop(run, "interrupted during training")
        if cfg.save_every and time.monotonic() - run.last_save >= cfg.save_every * 60:
            save_state(run)
    return progress.mean_loss(task)


def save_state(run: Run) -> None:
    """The resumable state (model, optimizer, counters, config), atomically; rank 0 only."""
    if run.dist.main:
        save_train_state(run.out / "state.safetensors", run.model, run.optimizer, run.state, asdict(run.cfg))
    run.last_save = time.monotonic()


def save_checkpoints(run: Run, record: dict[str, Any], summary: dict[str, Any]) -> bool:
    """Best (by validation delta1) and last weights, and a log line; returns whether this epoch is the best.
    A validation that yields no delta1 (no valid depth) still saves the last weights; it is never the best."""
    state = run.state
    score = record.get("delta1")
    improved = isinstance(score, float) and math.isfinite(score) and score > state.best
    if improved:
        state.best, state.best_epoch = score, record["epoch"]
        summary = summary | {"best_epoch": record["epoch"]}
    paths = [run.out / "last.safetensors"] + ([run.out / "best.safetensors"] if improved else [])
    if run.cfg.keep_epochs:  # candidates for a selection rule that looks beyond the validation split
        paths.append(run.out / f"epoch{record['epoch']}.safetensors")
    _export_weights(paths, run.model, run.cfg, summary, record)  # one serialisation, several files
    with open(run.out / "log.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    return improved


def step_precision(cfg: TrainConfig, device: torch.device, bf16_cpu: bool | None = None) -> torch.dtype | None:
    """The autocast dtype of a training step (None: fp32). On a CPU, bf16 only where its matrix units compute
    it (AMX-BF16 or AVX-512 BF16: 2-4x the fp32 rate; emulated elsewhere, and slower); on CUDA, AMP as before."""
    if cfg.precision == "fp32" or (device.type == "cuda" and not cfg.amp):
        return None
    if device.type == "cuda":
        return torch.bfloat16 if cfg.precision == "bf16" or torch.cuda.is_bf16_supported() else torch.float16
    if bf16_cpu is None:
        from rtdepth.runtime.cpu import has_bf16

        bf16_cpu = has_bf16()
    if cfg.precision == "bf16" and not bf16_cpu:
        raise RtdepthError("--precision bf16: this CPU has no bf16 matrix support (amx_bf16 or avx512_bf16); use fp32")
    return torch.bfloat16 if bf16_cpu else None


def start_run(cfg: TrainConfig, resume: bool, dist: Dist, steps_per_epoch: int) -> Run:
    """Model, optimizer and counters, fresh or restored from the run folder's state."""
    amp_dtype = step_precision(cfg, dist.device)
    model = build_model(cfg).to(dist.device)
    if dist.device.type == "cuda" or amp_dtype is not None:  # channels-last: what the fast convolutions read
        model = model.to(memory_format=torch.channels_last)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trained, lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = TrainState()
    out = Path(cfg.out)
    if resume:
        state = load_train_state(out / "state.safetensors", model, optimizer)
    net = model
    if dist.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None
        )
    use_amp = amp_dtype is not None
    amp_dtype = amp_dtype or torch.float32
    scaler = torch.amp.GradScaler(dist.device.type, enabled=use_amp and amp_dtype == torch.float16)
    loss_fn = DepthLoss(
        max_depth=model.max_depth, w_ssi=cfg.ssi_weight, w_match=cfg.match_weight, w_log_scale=cfg.log_scale_weight
    )
    total = cfg.max_steps or cfg.epochs * steps_per_epoch
    return Run(cfg, dist, model, net, optimizer, scaler, loss_fn, state, out, total, use_amp, amp_dtype)


def check_run_folder(out: Path, resume: bool, overwrite: bool) -> None:
    """A run folder is a folder; an earlier run in it is continued (``--resume``) or replaced only when asked."""
    if out.exists() and not out.is_dir():
        raise RtdepthError(f"{out}: is a file; -o names a run folder")
    if resume or overwrite:
        return
    earlier = [n for n in ("state.safetensors", "last.safetensors", "best.safetensors") if (out / n).exists()]
    if earlier:
        raise RtdepthError(f"{out}: holds an earlier run ({', '.join(earlier)}); use --resume to continue it, "
                           "--overwrite to replace it, or another -o")  # fmt: skip


def fit(cfg: TrainConfig, resume: bool = False, overwrite: bool = False, callbacks: Callbacks | None = None) -> dict[str, Any]:
    """Train, validate each epoch, keep best and last weights in ``cfg.out``; returns the summary.

    Ctrl-C or SIGTERM at any point saves what exists and raises ``Interrupted``; ``resume`` continues
    from the last save (an epoch end, a periodic save, or the interrupt). An earlier run in ``cfg.out`` is
    replaced only with ``overwrite``."""
    cfg.check()
    check_run_folder(Path(cfg.out), resume, overwrite)
    with stop_requests() as requested:
        stop = StopRequest(requested)
        dist = setup_distributed(cfg.device)
        torch.manual_seed(cfg.seed)
        train_set, val_set = build_datasets(cfg)
        require_valid_depth(train_set, ", ".join(map(str, [*cfg.data, *cfg.train_only])))
        init = _describe_init(cfg.init)  # hashed once, as loaded
        sampler = EpochSampler(len(train_set), cfg.seed, dist.rank, dist.world)
        drop_last = sampler.per_rank >= 2 * cfg.batch_size
        steps_per_epoch = sampler.per_rank // cfg.batch_size if drop_last else math.ceil(sampler.per_rank / cfg.batch_size)
        run = start_run(cfg, resume, dist, steps_per_epoch)
        run.callbacks = callbacks or Callbacks()
        state = run.state
        if dist.main:
            run.out.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(run.out)
            cfg.save(run.out / "config.yaml")
        if stop_agreed(stop, dist):
            stop.stop(run, "interrupted during start-up")
        progress = TrainProgress(enabled=dist.main)
        started = time.perf_counter()

        def summary() -> dict[str, Any]:
            return _summary(cfg, state, started, run.samples_seen, dist, len(train_set), len(val_set), init,
                            run.precision)  # fmt: skip

        with progress:
            while state.epoch < cfg.epochs and state.step < run.total_steps:
                epoch = state.epoch
                sampler.set_epoch(epoch, skip=state.step_in_epoch * cfg.batch_size)
                loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                                    drop_last=drop_last, pin_memory=dist.device.type == "cuda")  # fmt: skip
                mean_loss = train_one_epoch(run, loader, progress, stop)
                steps_done = state.step_in_epoch
                state.epoch += 1
                state.step_in_epoch = 0
                record: dict[str, Any] = {"epoch": epoch + 1, "step": state.step, "loss": mean_loss}
                last = state.epoch >= cfg.epochs or state.step >= run.total_steps
                validated = True
                if dist.main and ((epoch + 1) % cfg.val_every == 0 or last):
                    metrics = validate(run.model, val_set, dist.device, run.model.max_depth, stop)
                    if metrics is None:  # saved as "all steps of this epoch done": --resume validates it
                        state.epoch, state.step_in_epoch = epoch, steps_done
                        validated = False
                    else:
                        record |= metrics
                        progress.report(record)
                        save_checkpoints(run, record, summary())
                if validated:
                    state.history.append(record)
                    save_state(run)
                    for hook in run.callbacks.on_epoch_end:
                        hook(run, record)
                if stop_agreed(stop, dist):  # every rank asks here, so an interrupted validation stops them all
                    stop.stop(run, f"interrupted after epoch {epoch + 1}" if validated else "interrupted during validation")
                if cfg.patience and state.epoch - max(state.best_epoch, 0) > cfg.patience:
                    break
    if dist.world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return summary()


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the ``.NAME.*.tmp`` files a killed save left behind (atomic writes name them so)."""
    stale = [p for p in folder.glob(".*.tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _arch(model: str, kwargs: dict[str, Any]) -> str:
    return f"{model} {kwargs}" if kwargs else model


def init_weights(init: str) -> Path:
    """The weights file ``--init`` names: a path, or ``default`` for the bundled weights."""
    return resolve_weights(init)


def _describe_init(init: str | None) -> str | None:
    """Name the starting weights by content hash, since 'default' changes from release to release."""
    return f"{init} (sha256 {file_sha256(init_weights(init))})" if init else None


NOT_IN_SUMMARY = (
    "out",
    "workers",
    "cache",
    "device",
    "save_every",
    "keep_epochs",
    "max_steps",
    "model",
    "model_kwargs",
    "epochs",
    "amp",
    "val_every",
    "patience",
)  # where a run wrote and how it was scheduled, not what it learned


def _summary(
    cfg: TrainConfig,
    state: TrainState,
    started: float,
    seen: int,
    dist: Dist,
    n_train: int,
    n_val: int,
    init: str | None,
    precision: str = "fp32",
) -> dict[str, Any]:
    """The weights' training header: the config's learning choices (from its fields, not listed by hand) and
    what the run did."""
    elapsed = time.perf_counter() - started
    chosen = {k: v for k, v in asdict(cfg).items() if k not in NOT_IN_SUMMARY}
    return chosen | {
        "data": [str(d) for d in cfg.data],
        "train_only": [str(d) for d in cfg.train_only],
        "train_samples": n_train,
        "val_samples": n_val,
        "epochs": state.epoch,
        "steps": state.step,
        "best_epoch": state.best_epoch,
        "seconds": round(elapsed, 1),
        "samples_per_s": round(seen / max(elapsed, 1e-9), 2),
        "device": str(dist.device),
        "world_size": dist.world,
        "init": init,
        "precision": precision,
        "split_spec": cfg.split_spec.as_dict(),  # read back by eval, pack and calibration (SplitSpec.from_header)
    }
