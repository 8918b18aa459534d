"""Resumable training state in safetensors: model, optimizer moments and counters, no pickle."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from rtdepth.errors import RtdepthError
from rtdepth.io import atomic_write_bytes


@dataclass
class TrainState:
    """Where a run stands: what ``--resume`` restores, and what callbacks read."""

    epoch: int = 0  # epochs finished
    step: int = 0  # optimizer steps taken, all epochs
    step_in_epoch: int = 0  # steps taken in the epoch under way
    best: float = -math.inf  # best validation delta1 so far
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per finished epoch

    @classmethod
    def from_header(cls, meta: dict[str, Any]) -> TrainState:
        return cls(**{f.name: meta[f.name] for f in fields(cls) if f.name in meta})


def save_train_state(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: TrainState,
                     config: dict[str, Any]) -> None:  # fmt: skip
    """Write model + optimizer tensors, the counters and the run's config atomically."""
    from safetensors.torch import save

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for idx, slots in opt["state"].items():
        for name, value in slots.items():
            tensors[f"optim.{idx}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    header = {"meta": asdict(state) | {"config": config}, "param_groups": opt["param_groups"]}
    atomic_write_bytes(path, save(tensors, metadata={"rtdepth_train_state": json.dumps(header)}))


def load_train_state(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> TrainState:
    """Restore what :func:`save_train_state` wrote; a state of another model is a clear error."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not path.is_file():
        raise RtdepthError(f"{path}: no training state to resume from")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = json.loads((f.metadata() or {})["rtdepth_train_state"])
        tensors = load_file(str(path))
    except Exception as exc:  # noqa: BLE001
        raise RtdepthError(f"{path}: not an rtdepth training state (corrupt or another file)") from exc
    _check_header(path, header)
    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(model_state, strict=True)
    except RuntimeError as exc:
        saved = header["meta"].get("config", {}).get("model", "?")
        raise RtdepthError(f"{path}: training state is for model {saved!r}, not this one") from exc
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    try:
        optimizer.load_state_dict({"state": state, "param_groups": header["param_groups"]})
    except (ValueError, KeyError, TypeError) as exc:
        raise RtdepthError(f"{path}: its optimizer state does not fit this model (another run's state?)") from exc
    return TrainState.from_header(header["meta"])


COUNTERS = ("epoch", "step", "step_in_epoch")


def _check_header(path: Path, header: object) -> None:
    """The header a state needs, checked before anything is restored: one line instead of a traceback."""
    bad = RtdepthError(f"{path}: damaged training state header; start again without --resume, or use another -o")
    if not isinstance(header, dict) or not isinstance(header.get("meta"), dict):
        raise bad
    meta, groups = header["meta"], header.get("param_groups")
    if not all(isinstance(meta.get(k), int) and not isinstance(meta.get(k), bool) and meta[k] >= 0 for k in COUNTERS):
        raise bad
    if not isinstance(groups, list) or not groups or not all(isinstance(g, dict) and isinstance(g.get("params"), list)
                                                              for g in groups):  # fmt: skip
        raise bad
