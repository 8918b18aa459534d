"""``python -m train.stereo_rooms SOURCE -o data/oakd``: real rooms with stereo depth, as an RGB-D folder.

SOURCE is a folder of rectified stereo pairs ``NAME_left.png`` / ``NAME_right.png`` with a
``stereodemo_calibration.json`` (fx, baseline), such as the OAK-D living rooms, bedrooms, corridors
and desks that the ``stereodemo`` package ships (CC BY 4.0). Depth comes from OpenCV's semi-global
matching with a left-right consistency check: noisy, with holes, but measured in real rooms that
neither the desk sequence nor the renderer has seen, which is what a model is chosen by.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import typer

from rtdepth.errors import RtdepthError, run_app
from rtdepth.sizes import TRAINING_SIZE
from rtdepth.stream.depth_io import save_depth, write_image

app = typer.Typer(add_completion=False)


def sgbm_disparity(left: np.ndarray, right: np.ndarray, max_disp: int = 128) -> np.ndarray:
    """Left disparity in pixels (float32, 0 = unknown) with a left-right consistency check."""
    block = 5
    args = dict(minDisparity=0, numDisparities=max_disp, blockSize=block, P1=8 * block * block, P2=32 * block * block,
                disp12MaxDiff=1, uniquenessRatio=10, speckleWindowSize=100, speckleRange=2,
                mode=cv2.STEREO_SGBM_MODE_HH)  # fmt: skip
    matcher = cv2.StereoSGBM_create(**args)

    def match(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # SGBM leaves the first max_disp columns empty: pad them on, match, crop them off.
        pa, pb = (cv2.copyMakeBorder(x, 0, 0, max_disp, 0, cv2.BORDER_REPLICATE) for x in (a, b))
        return matcher.compute(pa, pb)[:, max_disp:].astype(np.float32) / 16

    disp_l = match(left, right)
    disp_r = match(right[:, ::-1].copy(), left[:, ::-1].copy())[:, ::-1]  # right view's disparity, via the mirror
    h, w = disp_l.shape
    xs = np.arange(w)[None, :] - np.round(disp_l).astype(int)
    inside = (xs >= 0) & (disp_l > 0)
    back = np.take_along_axis(disp_r, np.clip(xs, 0, w - 1), 1)
    consistent = inside & (np.abs(back - disp_l) <= 1.0)
    return np.where(consistent, disp_l, 0).astype(np.float32)


def stereo_pair_to_rgbd(left: np.ndarray, right: np.ndarray, fx: float, baseline: float, valid_rect: list[float],
                        size: tuple[int, int] = TRAINING_SIZE, depth_range: tuple[float, float] = (0.3, 10.0)):  # fmt: skip
    """(RGB uint8, depth metres) at ``size`` from a rectified greyscale pair, cropped to the valid area."""
    disp = sgbm_disparity(left, right)
    with np.errstate(divide="ignore"):
        depth = np.where(disp > 0, fx * baseline / disp, 0).astype(np.float32)
    depth[(depth < depth_range[0]) | (depth > depth_range[1])] = 0
    h, w = left.shape
    x0, y0, x1, y1 = valid_rect
    crop = (slice(int(np.ceil(y0 * h)), int(y1 * h)), slice(int(np.ceil(x0 * w)), int(x1 * w)))
    grey, depth = left[crop], depth[crop]
    # Keep the training aspect ratio: centre-crop to 4:3 before resizing.
    ch, cw = grey.shape
    tw = min(cw, int(ch * size[0] / size[1]))
    th = int(tw * size[1] / size[0])
    ox, oy = (cw - tw) // 2, (ch - th) // 2
    grey, depth = grey[oy : oy + th, ox : ox + tw], depth[oy : oy + th, ox : ox + tw]
    rgb = cv2.cvtColor(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2RGB)
    return rgb, cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)


@app.command()
def convert(
    source: Path = typer.Argument(..., help="Folder with NAME_left.png / NAME_right.png and stereodemo_calibration.json."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder dataset to write (rgb/, depth/ in mm)."),
) -> None:
    """Turn rectified stereo pairs into an RGB-D folder dataset for evaluation."""
    calib_path = source / "stereodemo_calibration.json"
    if not calib_path.is_file():
        raise RtdepthError(f"{source}: no stereodemo_calibration.json")
    calib = json.loads(calib_path.read_text())
    lefts = sorted(source.glob("*_left.png"))
    if not lefts:
        raise RtdepthError(f"{source}: no *_left.png images")
    for sub in ("rgb", "depth"):
        (output / sub).mkdir(parents=True, exist_ok=True)
    for left_path in lefts:
        name = left_path.name[: -len("_left.png")]
        left = cv2.imread(str(left_path), cv2.IMREAD_GRAYSCALE)
        right = cv2.imread(str(source / f"{name}_right.png"), cv2.IMREAD_GRAYSCALE)
        if left is None or right is None:
            raise RtdepthError(f"{left_path}: cannot read the pair")
        rgb, depth = stereo_pair_to_rgbd(left, right, calib["fx"], calib["baseline_meters"], calib["left_image_rect_normalized"])
        write_image(output / "rgb" / f"{name}.png", rgb[..., ::-1])
        save_depth(output / "depth" / f"{name}.png", depth)
        typer.echo(f"{name}: {100 * (depth > 0).mean():.0f}% of pixels with depth, median {np.median(depth[depth > 0]):.2f} m")


if __name__ == "__main__":
    run_app(app)
