"""Single-shot CLI jobs (image), composed from library pieces."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rtdepth.errors import RtdepthError
from rtdepth.io import IMAGE_SUFFIXES, RAW_SUFFIXES, check_output, read_image, refuse_same_outputs
from rtdepth.stream.depth_io import save_depth, write_image


def depth_for_image(source: Path, output: Path, raw: Path | None, viz, open_estimator) -> np.ndarray:
    """Predict depth for one image file and write the colour picture (and raw depth when asked).

    Inputs and outputs are checked before ``open_estimator`` loads the model."""
    from rtdepth.runtime.preprocess import to_bgr8

    frame = read_image(source)
    check_output(output, IMAGE_SUFFIXES, (source,))
    if raw is not None:
        check_output(raw, RAW_SUFFIXES, (source,))
        try:
            refuse_same_outputs((output, raw))
        except RtdepthError as exc:
            raise RtdepthError(f"{raw}: --raw and --output name the same file") from exc
    estimator = open_estimator()
    depth = estimator.predict(frame)
    write_image(output, viz.render(to_bgr8(frame), depth))
    if raw is not None:
        save_depth(raw, depth)
    return depth
