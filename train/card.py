"""Model-card figures for the README: ``python -m train.card WEIGHTS --data DIR --figure out.png``.

Evaluates on the held-out blocks of the training split (never on frames the model saw), or with
``--subset all`` on a dataset the model never trained on (e.g. ``synthetic:60:1``), prints a Markdown
table (raw, median-scaled, and the constant-depth floor), and stacks RGB | prediction | ground truth
for a few of those frames into one PNG.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from rtdepth.data import open_dataset
from rtdepth.estimator import DepthEstimator
from rtdepth.evaluate import EvalOptions, evaluate_dataset, select, side_by_side

ROW = "| {name} | {scaling} | {delta1:.3f} | {delta2:.3f} | {delta3:.3f} | {abs_rel:.3f} | {rmse:.3f} | {log10:.3f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("weights", type=Path)
    ap.add_argument("--data", required=True)
    ap.add_argument("--figure", type=Path)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--subset", default="val", help="val (held-out part of the split) or all (a dataset never trained on)")
    args = ap.parse_args()
    est = DepthEstimator.from_weights(args.weights, backend="torch", device="cpu")
    opts = EvalOptions(subset=args.subset)
    result = evaluate_dataset(est, args.data, opts, progress=False)
    print(f"{est.info.model}: {result['samples']} frames ({args.subset})")
    print("| model | scaling | d1 | d2 | d3 | abs rel | RMSE | log10 |\n|---|---|---|---|---|---|---|---|")
    for key in ("raw", "median_scaled"):
        print(ROW.format(name=est.info.model, scaling=key, **result[key]))
    print(ROW.format(name="constant depth (floor)", scaling="median_scaled", **result["constant_floor"]))
    if args.figure:
        data = open_dataset(args.data)
        held = select(data, opts)
        picks = [held[int(i)] for i in np.linspace(0, len(held) - 1, args.frames + 2)[1:-1]]
        rows = [side_by_side(data[i].rgb, est.predict(data[i].rgb, color="rgb"), data[i].depth) for i in picks]
        cv2.imwrite(str(args.figure), np.vstack(rows))
        print(f"figure: {args.figure} (frames {picks})")


if __name__ == "__main__":
    main()
