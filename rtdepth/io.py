"""Files in and out: reading images, writing atomically, and checking outputs before any work.

One owner for the rules that keep inputs safe: an output (file or folder) that is, or holds, an input is
refused; every output is checked for writability before the model loads; partial files carry a hidden,
random name no user picks, so clean-up can only ever touch what this tool created; and one run at a time
writes a given output (an advisory lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from rtdepth.errors import RtdepthError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")
RAW_SUFFIXES = (".png", ".npy")
MAX_IMAGE_PIXELS = 8192 * 8192  # 64 Mpx: larger frames are refused from their header, before decoding
PARTIAL_MARK = ".rtdepth-partial-"


class NotAnImage(RtdepthError):
    """Bytes no image decoder reads (a server answers 415 for these, 400 for other refusals)."""


def read_image(path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode any image OpenCV reads (8/16-bit, grey, alpha), unchanged, upright by its EXIF orientation;
    a clear error otherwise. The size is read from the header first, so a huge claimed size costs nothing."""
    path = Path(path)
    if path.is_dir():
        raise RtdepthError(f"{path}: is a folder; give one image file (folders are read by `rtdepth video`)")
    if not path.is_file():
        raise RtdepthError(f"{path}: no such file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RtdepthError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        return decode_image(data, max_pixels)
    except RtdepthError as exc:
        raise type(exc)(f"{path}: {exc}") from exc


def decode_image(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Image bytes -> array, refusing a header that claims more than ``max_pixels`` before decoding."""
    from rtdepth.imageinfo import exif_orientation, image_size

    size = image_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise RtdepthError(f"image too large ({size[0]}x{size[1]}; at most {max_pixels // 2**20} Mpx)")
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)  # unchanged: no orientation applied
    except cv2.error:
        image = None
    if image is None:
        raise NotAnImage("not an image OpenCV can decode")
    return apply_orientation(image, exif_orientation(data))


_UPRIGHT = {  # EXIF orientation -> what turns the stored pixels upright
    2: lambda im: cv2.flip(im, 1),
    3: lambda im: cv2.rotate(im, cv2.ROTATE_180),
    4: lambda im: cv2.flip(im, 0),
    5: cv2.transpose,
    6: lambda im: cv2.rotate(im, cv2.ROTATE_90_CLOCKWISE),
    7: lambda im: cv2.rotate(cv2.transpose(im), cv2.ROTATE_180),
    8: lambda im: cv2.rotate(im, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


def apply_orientation(image: np.ndarray, orientation: int | None) -> np.ndarray:
    """Turn an image upright by its EXIF orientation tag (1..8), as a photo viewer shows it."""
    turn = _UPRIGHT.get(orientation or 1)
    return turn(image) if turn else image


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a hidden temporary file in the same folder and rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: str | Path) -> Path:
    """Fail early (before any work) when an output file cannot be created."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise RtdepthError(f"{path}: is a folder, not an output file")
    if path.exists() and not path.is_file():
        raise RtdepthError(f"{path}: is not a regular file")
    if not parent.is_dir():
        raise RtdepthError(f"{path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise RtdepthError(f"{path}: not writable")
    return path


def check_output_dir(folder: str | Path, inputs: Iterable[str | Path | None] = ()) -> Path:
    """An output folder that exists and is writable, or can be created; never an input nor one that holds
    an input. Checked before the model loads; nothing is created here."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RtdepthError(f"{folder}: is a file, not a folder")
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise RtdepthError(f"{folder}: not writable")
    refuse_overlap([folder], inputs, folders=True)
    return folder


def check_output(path: str | Path, suffixes: tuple[str, ...], inputs: Iterable[str | Path | None] = ()) -> Path:
    """An output file is writable, has a suffix the writer handles and is none of the inputs: checked
    before any work, so a typo never costs a model load and never destroys an input."""
    refuse_overlap([path], inputs)
    path = check_writable(path)
    if path.suffix.lower() not in suffixes:
        raise RtdepthError(f"{path}: output must end in {', '.join(suffixes)}")
    return path


def input_paths(spec: str | Path | None) -> list[Path]:
    """The files or folders an input spec reads: a path as given, a glob's folder; nothing for a camera/URL."""
    if spec is None:
        return []
    text = str(spec)
    if "://" in text or text.isdigit():
        return []
    if glob.has_magic(text):
        static = Path(text.split("*")[0].split("?")[0].split("[")[0])
        return [static if text.endswith(("/", os.sep)) or static.is_dir() else static.parent]
    return [Path(text)]


def refuse_overlap(outputs: Iterable[str | Path | None], inputs: Iterable[str | Path | None], folders: bool = False) -> None:
    """Refuse (one line) an output that is an input, or, for output folders, one that holds an input or lies
    inside an input folder (where it would be read back or overwrite what is read)."""
    ins = [p for spec in inputs for p in input_paths(spec)]
    for out in outputs:
        if out is None:
            continue
        o = _real(Path(out))
        for item in ins:
            i = _real(item)
            if o == i or _same_file(Path(out), item):
                raise RtdepthError(f"{out}: is also an input ({item}); choose another output")
            if folders and (_is_within(i, o) or (item.is_dir() and _is_within(o, i))):
                raise RtdepthError(f"{out}: output folder overlaps the input {item}; choose a folder outside it")


def refuse_same_outputs(outputs: Iterable[str | Path | None]) -> None:
    """Two outputs of one run naming the same file would overwrite each other."""
    seen: dict[Path, str] = {}
    for out in outputs:
        if out is None:
            continue
        key = _real(Path(out))
        if key in seen:
            raise RtdepthError(f"{out}: named twice as an output ({seen[key]})")
        seen[key] = str(out)


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _is_within(child: Path, parent: Path) -> bool:
    return child != parent and parent in child.parents


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def partial_path(path: Path) -> Path:
    """Where one run writes an output until it is complete: a hidden name with a random part beside the
    target (``.out.rtdepth-partial-1a2b3c.mp4``), so two runs never share one and no input is ever one."""
    path = Path(path)
    return path.with_name(f".{path.stem}{PARTIAL_MARK}{secrets.token_hex(4)}{path.suffix}")


def remove_stale_partials(path: Path) -> None:
    """Remove partial files a killed run left for this output; only names this tool makes are touched.
    Call it while holding the output's lock, so no live run's partial can match."""
    path = Path(path)
    for stale in path.parent.glob(f".{glob.escape(path.stem)}{PARTIAL_MARK}*{glob.escape(path.suffix)}"):
        rest = stale.name[len(f".{path.stem}{PARTIAL_MARK}") : len(stale.name) - len(path.suffix)]
        if len(rest) == 8 and all(c in "0123456789abcdef" for c in rest):
            stale.unlink(missing_ok=True)


def _lock_folder() -> Path:
    folder = Path(tempfile.gettempdir()) / f"rtdepth-locks-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def remove_stale_temporaries(path: Path, extra: Iterable[Path] = ()) -> None:
    """Remove what a killed atomic write of ``path`` left (``.NAME.*.tmp``) and any ``extra`` scratch files;
    call it while holding the output's lock."""
    path = Path(path)
    for stale in [*path.parent.glob(f".{glob.escape(path.name)}.*.tmp"), *extra]:
        stale.unlink(missing_ok=True)


@contextlib.contextmanager
def output_lock(path: str | Path, wait: bool = False) -> Iterator[None]:
    """Hold an advisory lock on an output for the length of a run. A second run on the same output is
    refused with one line while the first holds it, or with ``wait`` (cache artefacts) waits for it. Stale
    partial and temporary files of this output are removed once the lock is held. The lock lives in a private
    temporary folder, not beside the output, so nothing is left in the user's folders."""
    key = hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:24]
    lock = _lock_folder() / f"{key}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError as exc:
            raise RtdepthError(f"{path}: another rtdepth run is writing this output; wait for it or choose another") from exc
        if Path(path).parent.is_dir():
            remove_stale_partials(Path(path))
            remove_stale_temporaries(Path(path))
        yield
    finally:
        os.close(fd)  # closing releases the lock
