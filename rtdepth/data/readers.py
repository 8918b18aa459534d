"""RGB-D readers behind one interface: ``dataset[i] -> Sample(rgb uint8 HxWx3, depth float32 metres)``.

Depth 0 means "no measurement"; every consumer derives the validity mask from ``depth > 0``.
Formats: a generic folder (``pairs.txt`` or ``rgb/`` + ``depth/``), TUM RGB-D sequences
(``rgb.txt`` + ``depth.txt``), NYU Depth V2 labeled ``.mat`` and DenseDepth's CSV / zip lists.
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from rtdepth.camera import NYU_640, Intrinsics, tum_intrinsics
from rtdepth.data.sample import Sample
from rtdepth.errors import RtdepthError


def read_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8 (grey and alpha converted); a clear error when it is not one."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise RtdepthError(f"{path}: cannot read image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _read_depth_png(path: Path, scale: float, shape: tuple[int, int] | None = None) -> np.ndarray:
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise RtdepthError(f"{path}: cannot read depth image")
    if raw.ndim != 2 or raw.dtype not in (np.uint16, np.uint8):
        raise RtdepthError(f"{path}: depth must be a single-channel 16-bit PNG, got {raw.dtype} {raw.shape}")
    if shape is not None and raw.shape != shape:
        raise RtdepthError(f"{path}: depth is {raw.shape[1]}x{raw.shape[0]}, RGB is {shape[1]}x{shape[0]}")
    return raw.astype(np.float32) / scale


class PairListDataset:
    """Pairs of (rgb path, depth path) with a depth scale (raw units per metre)."""

    sequential = True  # folders and TUM recordings are video: neighbouring frames are near duplicates

    def __init__(self, pairs: list[tuple[Path, Path]], depth_scale: float, name: str = "",
                 cameras: Callable[[int], Intrinsics | None] | None = None) -> None:  # fmt: skip
        """``cameras(index)`` gives a frame's intrinsics at any size (scaled to the image as read)."""
        if not pairs:
            raise RtdepthError(f"{name or 'dataset'}: no RGB-D pairs found")
        self.pairs = pairs
        self.depth_scale = depth_scale
        self.name = name
        self.cameras = cameras

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Sample:
        rgb_path, depth_path = self.pairs[index]
        rgb = read_rgb(rgb_path)
        camera = self.cameras(index) if self.cameras is not None else None
        if camera is not None and (camera.width, camera.height) != (rgb.shape[1], rgb.shape[0]):
            camera = camera.scaled(rgb.shape[1], rgb.shape[0])
        return Sample(rgb, _read_depth_png(depth_path, self.depth_scale, rgb.shape[:2]), camera)


def folder_dataset(root: str | Path, depth_scale: float = 1000.0) -> PairListDataset:
    """A folder with ``pairs.txt`` (index rgb depth ...) or matching names in ``rgb/`` and ``depth/``.

    Depth PNGs are uint16 in ``1/depth_scale`` metres (1000: millimetres, as in ../shared/data).
    A folder with ``rgb.txt`` and ``depth.txt`` is read as a TUM sequence instead.
    """
    root = Path(root)
    if not root.is_dir():
        raise RtdepthError(f"{root}: no such dataset folder")
    if (root / "rgb.txt").is_file() and (root / "depth.txt").is_file():
        return tum_dataset(root)
    pairs: list[tuple[Path, Path]] = []
    if (root / "pairs.txt").is_file():
        for line in (root / "pairs.txt").read_text().splitlines():
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            if len(parts) < 3:
                raise RtdepthError(f"{root / 'pairs.txt'}: malformed line {line!r}")
            pairs.append((root / parts[1], root / parts[2]))
    elif (root / "rgb").is_dir() and (root / "depth").is_dir():
        depth_by_stem = {p.stem: p for p in (root / "depth").glob("*.png")}
        rgbs = sorted(p for p in (root / "rgb").iterdir() if p.is_file() and not p.name.startswith("."))
        pairs = [(rgb, depth_by_stem[rgb.stem]) for rgb in rgbs if rgb.stem in depth_by_stem]
        if pairs and len(pairs) < len(rgbs):
            logging.getLogger("rtdepth").warning(
                f"note: {root}: {len(rgbs) - len(pairs)} of {len(rgbs)} RGB frames have no depth/<same name>.png; skipped"
            )
    else:
        raise RtdepthError(f"{root}: expected pairs.txt, rgb/ + depth/, or TUM rgb.txt + depth.txt")
    return PairListDataset(pairs, depth_scale, str(root), folder_cameras(root, pairs))


def folder_cameras(root: Path, pairs: list[tuple[Path, Path]]) -> Callable[[int], Intrinsics | None] | None:
    """Where a folder's intrinsics come from: ``camera.json`` beside ``rgb/``; rendered rooms' ``meta/``
    (each view's field of view); a TUM sequence known by its name; else unknown (None)."""
    if (root / "camera.json").is_file():
        camera = Intrinsics.from_json(root / "camera.json")
        return lambda index: camera
    if (root / "meta").is_dir():
        return _rendered_cameras(root, pairs)
    known = tum_intrinsics(root.name)
    if known is not None:
        tum = Intrinsics(*known, 640, 480)
        return lambda index: tum
    return None


def _rendered_cameras(root: Path, pairs: list[tuple[Path, Path]]) -> Callable[[int], Intrinsics | None]:
    """Rendered rooms: ``meta/RRRRR.json`` lists each view's horizontal field of view (exact)."""
    import json

    fovs: dict[str, float] = {}
    for meta in sorted((root / "meta").glob("*.json")):
        try:
            fovs |= {v["name"]: float(v["fov"]) for v in json.loads(meta.read_text()).get("views", [])}
        except (OSError, ValueError, KeyError, TypeError):
            continue

    def camera(index: int) -> Intrinsics | None:
        fov = fovs.get(pairs[index][0].stem)
        if fov is None:
            return None
        h, w = _image_shape(pairs[index][0])
        return Intrinsics.from_fov(fov, w, h)

    return camera


def _image_shape(path: Path) -> tuple[int, int]:
    from rtdepth.imageinfo import image_size

    size = image_size(path.read_bytes()[:65536])
    if size is None:
        img = cv2.imread(str(path))
        return img.shape[:2]
    return size[1], size[0]


def _tum_list(path: Path) -> list[tuple[float, str]]:
    """``timestamp filename`` lines; a malformed line is one clear error naming the file and line."""
    rows = []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise RtdepthError(f"{path}: cannot read ({exc.__class__.__name__})") from exc
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        try:
            if len(parts) < 2:
                raise ValueError
            rows.append((float(parts[0]), parts[1]))
        except ValueError:
            raise RtdepthError(f"{path}:{number}: expected 'timestamp filename', got {line[:60]!r}") from None
    return rows


def tum_dataset(root: str | Path, max_dt: float = 0.02) -> PairListDataset:
    """TUM RGB-D sequence: ``rgb.txt`` and ``depth.txt`` associated by nearest timestamp, depth scale 5000."""
    root = Path(root)
    rgb, depth = _tum_list(root / "rgb.txt"), _tum_list(root / "depth.txt")
    if not depth:
        raise RtdepthError(f"{root}: depth.txt lists no frames")
    stamps = np.array([t for t, _ in depth])
    pairs = []
    for t, name in rgb:
        j = int(np.argmin(np.abs(stamps - t)))
        if abs(stamps[j] - t) < max_dt:
            pairs.append((root / name, root / depth[j][1]))
    known = tum_intrinsics(root.name)
    camera = Intrinsics(*known, 640, 480) if known else None
    return PairListDataset(pairs, 5000.0, str(root), (lambda index: camera) if camera else None)


class NYULabeledDataset:
    """NYU Depth V2 ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3 = HDF5).

    HDF5 stores MATLAB arrays transposed: images are (N, 3, W, H) and depths (N, W, H).
    """

    sequential = False  # hand-picked frames: the paper's random 70/30 split applies

    def __init__(self, path: str | Path, indices: list[int] | None = None) -> None:
        import h5py

        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r")
            self._images, self._depths = self._file["images"], self._file["depths"]
        except (OSError, KeyError) as exc:
            raise RtdepthError(f"{path}: not an NYU labeled .mat file ({exc})") from exc
        n = self._images.shape[0]
        self.indices = list(range(n)) if indices is None else [i for i in indices if i < n]
        if not self.indices:
            raise RtdepthError(f"{path}: empty split")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Sample:
        i = self.indices[index]
        rgb = np.ascontiguousarray(np.asarray(self._images[i]).transpose(2, 1, 0))
        depth = np.ascontiguousarray(np.asarray(self._depths[i], dtype=np.float32).T)
        return Sample(rgb.astype(np.uint8), depth, Intrinsics(*NYU_640, 640, 480).scaled(rgb.shape[1], rgb.shape[0]))


class DenseDepthCSVDataset:
    """DenseDepth's ``nyu_data.zip`` or an unpacked folder, listed by ``nyu2_train.csv`` / ``nyu2_test.csv``.

    Train depth PNGs are uint8 scaled to 0..255 = 0..10 m; test PNGs are uint16 millimetres.
    """

    sequential = True  # the training list is consecutive video frames, scene after scene

    def __init__(self, source: str | Path, csv_name: str = "data/nyu2_test.csv") -> None:
        self.source = Path(source)
        try:
            self._zip = zipfile.ZipFile(self.source) if self.source.suffix == ".zip" else None
        except (zipfile.BadZipFile, OSError) as exc:
            raise RtdepthError(f"{source}: not a readable zip archive") from exc
        if not self._exists(csv_name):
            raise RtdepthError(f"{source}: no {csv_name} inside")
        try:
            text = self._read(csv_name).decode()
        except (UnicodeDecodeError, OSError, zipfile.BadZipFile) as exc:
            raise RtdepthError(f"{source}: cannot read {csv_name} ({exc.__class__.__name__})") from exc
        self.rows = [(r[0], r[1]) for r in csv.reader(io.StringIO(text)) if len(r) >= 2]
        if not self.rows:
            raise RtdepthError(f"{source}: {csv_name} lists no pairs")
        missing = next((name for row in self.rows[:1] + self.rows[-1:] for name in row if not self._exists(name)), None)
        if missing is not None:  # the first and last rows are checked now; any other at its read
            raise RtdepthError(f"{source}: {csv_name} lists {missing}, which is not there")

    def _read(self, name: str) -> bytes:
        try:
            if self._zip is not None:
                return self._zip.read(name)
            return (self.source / name).read_bytes()
        except (KeyError, FileNotFoundError) as exc:
            raise RtdepthError(f"{self.source}: {name} is listed but not there") from exc

    def _exists(self, name: str) -> bool:
        if self._zip is not None:
            return name in self._zip.NameToInfo
        return (self.source / name).is_file()

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Sample:
        rgb_name, depth_name = self.rows[index]
        rgb = cv2.imdecode(np.frombuffer(self._read(rgb_name), np.uint8), cv2.IMREAD_COLOR)
        raw = cv2.imdecode(np.frombuffer(self._read(depth_name), np.uint8), cv2.IMREAD_UNCHANGED)
        if rgb is None or raw is None:
            raise RtdepthError(f"{self.source}: cannot decode {rgb_name} / {depth_name}")
        if raw.ndim == 3:
            raw = raw[..., 0]
        depth = raw.astype(np.float32) * (10.0 / 255.0) if raw.dtype == np.uint8 else raw.astype(np.float32) / 1000.0
        camera = Intrinsics(*NYU_640, 640, 480).scaled(rgb.shape[1], rgb.shape[0])  # NYU Depth V2's Kinect
        return Sample(cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB), depth, camera)
