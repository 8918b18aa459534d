"""INT8 on the CPU: static QDQ quantization with ONNX Runtime, calibrated on real frames, checked for accuracy.

Calibration frames come from a folder the user names (its ``rgb/`` subfolder when there is one).
The folder is split in sequence order: the first 70% calibrate, the last 30% are held out to
measure what int8 costs. Against ground truth when the folder has ``depth/`` PNGs (mm), otherwise
against the fp32 model's own output. A delta1 drop beyond ``max_drop`` refuses the engine.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rtdepth.checkpoint import read_info, resolve_weights
from rtdepth.data import open_dataset
from rtdepth.data.readers import read_rgb
from rtdepth.data.splits import SplitSpec, spread_evenly
from rtdepth.errors import RtdepthError
from rtdepth.io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, output_lock, remove_stale_temporaries
from rtdepth.metrics import MetricAccumulator, compute_metrics
from rtdepth.runtime import cache
from rtdepth.runtime.preprocess import resize_rgb

from .export import ensure_onnx


@dataclass
class Int8Report:
    """Accuracy of int8 against the reference (ground truth or fp32) on held-out frames."""

    path: Path
    reference: str  # "ground truth" or "fp32 output"
    frames: int
    fp32: dict[str, float]
    int8: dict[str, float]

    @property
    def delta1_drop(self) -> float:
        return self.fp32["delta1"] - self.int8["delta1"]


@dataclass
class CalibrationFrames:
    """Frames to calibrate on and held-out frames to judge on (with depth when the folder has it)."""

    calibrate: list[np.ndarray]  # RGB uint8 at the model's input size
    judge: list[tuple[np.ndarray, np.ndarray | None]]  # (RGB, depth in metres or None)

    @property
    def key(self) -> str:
        """Names the int8 model by what it was calibrated on, so a new set builds a new model."""
        digest = hashlib.sha256()
        for rgb in self.calibrate:
            digest.update(rgb.tobytes())
        return digest.hexdigest()[:12]


# What calibrates never judges: the first 70% of the frames in sequence order, the rest held out.
CALIBRATION_SPLIT = SplitSpec(mode="tail", val_fraction=0.3)


def calibration_frames(folder: str | Path, size: tuple[int, int], n_calib: int = 32, n_eval: int = 16) -> CalibrationFrames:
    """The first 70% of a folder (or video) calibrates, the rest judges; an RGB-D folder is read by the dataset
    readers and judged against its ground truth."""
    folder = Path(folder)
    if folder.is_file() and folder.suffix.lower() in VIDEO_SUFFIXES:
        video = _video_frames(folder)
        count = len(video)

        def read(i: int) -> tuple[np.ndarray, np.ndarray | None]:
            return video[i], None

        return _split_frames(folder, count, read, size, n_calib, n_eval)
    if not folder.is_dir():
        raise RtdepthError(f"{folder}: no such calibration folder (a folder of frames, an RGB-D folder or a video)")
    try:
        dataset = open_dataset(folder)
    except RtdepthError:  # plain images: judged against the fp32 output
        dataset = None
    if dataset is None:
        images = folder / "rgb" if (folder / "rgb").is_dir() else folder
        files = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    count = len(dataset) if dataset is not None else len(files)

    def read(i: int) -> tuple[np.ndarray, np.ndarray | None]:
        if dataset is None:
            return read_rgb(files[i]), None
        sample = dataset[i]  # one read per sample
        return sample.rgb, sample.depth

    return _split_frames(folder, count, read, size, n_calib, n_eval)


def _video_frames(path: Path, limit: int = 512) -> list[np.ndarray]:
    """Up to ``limit`` RGB frames of a video file, in order."""
    from rtdepth.stream.sources import VideoSource

    with VideoSource(path) as source:
        frames = []
        while len(frames) < limit and (frame := source.read()) is not None:
            frames.append(cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB))
    return frames


def _split_frames(folder: Path, count: int, read, size: tuple[int, int], n_calib: int, n_eval: int) -> CalibrationFrames:
    """The first 70% (in sequence order) calibrate, frames spread over the rest judge."""
    if count < 4:
        raise RtdepthError(f"{folder}: calibration needs at least 4 images, found {count}")
    first, rest = CALIBRATION_SPLIT.indices(range(count))
    calibrate = [resize_rgb(read(i)[0], size) for i in spread_evenly(first, n_calib)]
    judge = []
    for i in spread_evenly(rest, n_eval):
        rgb, depth = read(i)
        if depth is not None:
            depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)
        judge.append((resize_rgb(rgb, size), depth))
    return CalibrationFrames(calibrate, judge)


def build_int8(weights: str | Path | None, calib: str | Path, out_dir: Path | None = None, n_calib: int = 32,
               n_eval: int = 16, max_drop: float = 0.01, force: bool = False) -> Int8Report:  # fmt: skip
    """Quantize (or reuse the cached int8 model) and measure it; raises when accuracy drops too much."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    weights = resolve_weights(weights)
    info = read_info(weights)
    size = tuple(info.input_size)
    frames = calibration_frames(calib, size, n_calib, n_eval)
    fp32 = ensure_onnx(weights, out_dir)
    target = cache.int8_path(weights, frames.key, out_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    if force or not target.is_file():

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self._it = iter(frames.calibrate)

            def get_next(self) -> dict[str, np.ndarray] | None:
                rgb = next(self._it, None)
                return None if rgb is None else {"image": rgb.transpose(2, 0, 1)[None].astype(np.float32) / 255}

        logging.getLogger().setLevel(logging.ERROR)  # the quantizer warns about 1-D batch-norm weights
        pre, tmp = target.with_suffix(".pre.onnx"), target.with_suffix(".tmp.onnx")
        with output_lock(target, wait=True):
            remove_stale_temporaries(target, (pre, tmp))  # what a killed build left
            try:
                quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)  # dynamic H/W defeat symbolic inference
                quantize_static(str(pre), str(tmp), Reader(), quant_format=QuantFormat.QDQ,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                                calibrate_method=CalibrationMethod.MinMax)  # fmt: skip
                _mark_int8(tmp)
                tmp.replace(target)
            finally:
                pre.unlink(missing_ok=True)
                tmp.unlink(missing_ok=True)
    report = measure_int8(fp32, target, frames.judge)
    if report.delta1_drop > max_drop:
        bad = target.with_suffix(".rejected.onnx")
        target.replace(bad)
        raise RtdepthError(f"int8 loses {report.delta1_drop:.3f} delta1 (> {max_drop}) on held-out frames; kept fp32 "
                           f"(rejected model at {bad})")  # fmt: skip
    return report


def _mark_int8(path: Path) -> None:
    """Say in the model's own metadata that it is int8 (the backend reports it from there)."""
    import onnx

    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props} | {"precision": "int8"}
    del proto.metadata_props[:]
    for k, v in props.items():
        proto.metadata_props.add(key=k, value=v)
    onnx.save(proto, str(path))


def measure_int8(fp32: Path, int8: Path, judge: list[tuple[np.ndarray, np.ndarray | None]]) -> Int8Report:
    """delta1 / abs rel of fp32 and int8 on held-out frames, against ground truth where every frame has it, else fp32."""
    from rtdepth.runtime.backends import OnnxRuntimeBackend

    full, quant = OnnxRuntimeBackend(fp32), OnnxRuntimeBackend(int8)
    acc32, acc8 = MetricAccumulator(), MetricAccumulator()
    has_gt = all(depth is not None for _, depth in judge)
    for rgb, depth in judge:
        d32, d8 = full.infer(rgb[None])[0], quant.infer(rgb[None])[0]
        reference = depth if has_gt else d32
        acc32.add(compute_metrics(d32, reference))
        acc8.add(compute_metrics(d8, reference))
    return Int8Report(int8, "ground truth" if has_gt else "fp32 output", len(acc8), acc32.mean(), acc8.mean())
