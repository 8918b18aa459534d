"""The `image` command's work: one picture in, colour depth (and raw metres) out, composed from library pieces."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rtdepth.camera import Intrinsics, from_exif
from rtdepth.errors import RtdepthError
from rtdepth.imageinfo import exif_tags
from rtdepth.io import IMAGE_SUFFIXES, RAW_SUFFIXES, check_output, read_image, refuse_same_outputs
from rtdepth.stream.depth_io import save_depth, write_image


def depth_for_image(source: Path, output: Path, raw: Path | None, viz, open_estimator) -> tuple[np.ndarray, str]:
    """Predict depth for one image file and write the colour picture (and raw depth when asked); returns the
    depth and which camera it assumed (said once: --fx / --fov, the photo's EXIF, or the documented default).

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
    camera, said = photo_camera(source, frame, estimator)
    depth = estimator.predict(frame, camera=camera)
    write_image(output, viz.render(to_bgr8(frame), depth))
    if raw is not None:
        save_depth(raw, depth)
    return depth, said


def photo_camera(source: Path, frame: np.ndarray, estimator) -> tuple[Intrinsics, str]:
    """The photo's camera: --fx / --fov, else its EXIF focal length, else the documented default."""
    h, w = frame.shape[:2]
    if estimator.fx is not None or estimator.fov is not None:
        camera = estimator.camera_for(w, h)
        return camera, f"camera fx {camera.fx:.0f} px as given"
    camera = from_exif(exif_tags(Path(source).read_bytes()[:262144]), w, h)
    if camera is not None:
        return camera, f"camera fx {camera.fx:.0f} px from EXIF"
    camera = Intrinsics.default(w, h)
    return camera, f"camera unknown: assumed fx {camera.fx:.0f} px ({camera.hfov_deg:.0f} degrees; --fx or --fov to say)"
