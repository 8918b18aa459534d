"""Single-shot CLI jobs (image), composed from library pieces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rtdepth.errors import RtdepthError
from rtdepth.stream.depth_io import save_depth, write_image


def read_image(path: str | Path) -> np.ndarray:
    """Decode any image OpenCV reads (8/16-bit, grey, alpha), unchanged; a clear error otherwise."""
    path = Path(path)
    if not path.is_file():
        raise RtdepthError(f"{path}: no such file")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise RtdepthError(f"{path}: not an image OpenCV can decode")
    return img


def depth_for_image(source: Path, output: Path, raw: Path | None, viz, open_estimator) -> np.ndarray:
    """Predict depth for one image file and write the colour picture (and raw depth when asked).

    Inputs and outputs are checked before ``open_estimator`` loads the model."""
    from rtdepth.runtime.preprocess import to_bgr8
    from rtdepth.stream.sinks import IMAGE_SUFFIXES, check_output

    frame = read_image(source)
    check_output(output, IMAGE_SUFFIXES, (source,))
    if raw is not None:
        check_output(raw, (".png", ".npy"), (source,))
        if raw.resolve() == output.resolve():
            raise RtdepthError(f"{raw}: --raw and --output name the same file")
    estimator = open_estimator()
    depth = estimator.predict(frame)
    write_image(output, viz.render(to_bgr8(frame), depth))
    if raw is not None:
        save_depth(raw, depth)
    return depth
