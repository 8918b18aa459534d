"""Model-card tables and figures: ``python -m train.card -w WEIGHTS --val TUM --all data/oakd --figure out.png``.

``--val DATA`` scores the held-out part of the weights' own training split (never frames the model
saw); ``--all DATA`` scores every frame of a dataset the model never trained on (real rooms, unseen
synthetic seeds). Each prints raw, median-scaled and the constant-depth floor as Markdown rows; the
figure stacks RGB | prediction | ground truth for a few frames of the first dataset named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer

from rtdepth.data import open_dataset
from rtdepth.errors import RtdepthError, run_app
from rtdepth.estimator import DepthEstimator
from rtdepth.evaluate import EvalOptions, evaluate_dataset, select, side_by_side, with_training_split
from rtdepth.stream.depth_io import write_image

ROW = "| {data} | {name} | {scaling} | {delta1:.3f} | {delta2:.3f} | {delta3:.3f} | {abs_rel:.3f} | {rmse:.3f} | {log10:.3f} |"
HEADER = "| data | model | scaling | d1 | d2 | d3 | abs rel | RMSE | log10 |\n|---|---|---|---|---|---|---|---|---|"

app = typer.Typer(add_completion=False)


def dataset_name(data: str) -> str:
    """A dataset's short name in the card: the folder's name, or the spec itself (``synthetic:60``)."""
    return Path(data).name or data


def card_rows(result: dict, data: str, subset: str, name: str) -> list[str]:
    """Markdown rows (raw, median-scaled, constant floor) for one dataset's evaluation."""
    label = f"{dataset_name(data)} ({subset}, {result['samples']})"
    rows = [ROW.format(data=label, name=name, scaling=key, **result[key]) for key in ("raw", "median_scaled")]
    rows.append(ROW.format(data=label, name="constant depth", scaling="median_scaled", **result["constant_floor"]))
    return rows


def paired_bootstrap(diffs: np.ndarray, confidence: float = 0.9, resamples: int = 10_000, seed: int = 0
                     ) -> tuple[float, float, float]:  # fmt: skip
    """Mean of per-frame differences and its bootstrap interval: on a dozen frames, whether a gap between
    two models is more than which frames happen to be in the set."""
    diffs = np.asarray(diffs, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), (resamples, len(diffs)))].mean(axis=1)
    tail = (1 - confidence) / 2
    return float(diffs.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def paired_line(result: dict, baseline: dict, name: str) -> str:
    """Candidate minus baseline on the frames both scored: median-scaled delta1 and abs rel, 90% intervals."""
    base = {f["index"]: f for f in baseline["per_image"]}
    pairs = [(f, base[f["index"]]) for f in result["per_image"] if f["index"] in base]
    if not pairs:
        return f"paired vs {name}: no frame in common"
    parts = []
    for key in ("delta1", "abs_rel"):
        mean, lo, hi = paired_bootstrap(np.array([a[key] - b[key] for a, b in pairs]))
        parts.append(f"{key} {mean:+.3f} (90% CI {lo:+.3f} .. {hi:+.3f})")
    better = sum(a["delta1"] > b["delta1"] for a, b in pairs)
    worse = sum(a["delta1"] < b["delta1"] for a, b in pairs)
    counts = f"delta1 better on {better}, worse on {worse} of {len(pairs)} frames"
    return f"paired vs {name}, median-scaled: {', '.join(parts)}; {counts}"


def source_folders(spec: str) -> list[Path]:
    """A check named by one folder: itself when it is a dataset, else each subfolder that is one (a check of
    several sources, such as ``realcheck/``: one camera and room per subfolder)."""
    root = Path(spec)
    if (root / "rgb").is_dir() or (root / "pairs.txt").is_file() or (root / "rgb.txt").is_file():
        return [root]
    found = sorted(p for p in root.iterdir() if p.is_dir() and ((p / "rgb").is_dir() or (p / "pairs.txt").is_file()))
    if not found:
        raise RtdepthError(f"{root}: neither a dataset nor a folder of datasets (rgb/ + depth/ per source)")
    return found


def macro_bootstrap(per_source: list[np.ndarray], confidence: float = 0.9, resamples: int = 10_000, seed: int = 0
                    ) -> tuple[float, float, float]:  # fmt: skip
    """Macro mean over sources of per-frame values (each source weighs the same, whatever its frame count) and a
    bootstrap interval that resamples frames within each source: a 40-frame kitchen cannot outvote the rest."""
    rng = np.random.default_rng(seed)
    means = np.zeros(resamples)
    for values in per_source:
        values = np.asarray(values, dtype=np.float64)
        means += values[rng.integers(0, len(values), (resamples, len(values)))].mean(axis=1)
    means /= len(per_source)
    tail = (1 - confidence) / 2
    point = float(np.mean([np.mean(v) for v in per_source]))
    return point, float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


LARGE_SOURCE = 10  # frames a source needs to count in the macro mean that no single frame can swing


def source_groups(per_source: list, frames: list[int]) -> list[tuple[list, str]]:
    """The sources a macro mean is taken over, each group with its label: all of them and, when that leaves out
    some but keeps two or more, those of ``LARGE_SOURCE``+ frames (a source of one frame weighs as much as 40)."""
    large = [x for x, n in zip(per_source, frames) if n >= LARGE_SOURCE]
    groups = [(per_source, f"{len(per_source)} sources")]
    if 2 <= len(large) < len(per_source):
        groups.append((large, f"the {len(large)} sources of {LARGE_SOURCE}+ frames"))
    return groups


SOURCE_HEADER = ("| source | frames | d1 (median-scaled) | abs rel (ms) | d1 (metric) | abs rel (metric) | constant d1 "
                 "| scale (truth/pred) |\n|---|---|---|---|---|---|---|---|")  # fmt: skip


def source_report(est: DepthEstimator, base: DepthEstimator | None, check: str, failures: Path | None = None,
                  worst: int = 3) -> list[str]:  # fmt: skip
    """Per-source rows, the macro mean over sources, and with a baseline the paired difference per source and
    on the macro mean (90% intervals), naming the sources a candidate helps or hurts. The scale column is the
    median over frames of truth/prediction (1 = right metres, > 1 = predicts too near). With ``failures``, each
    source's ``worst`` frames by median-scaled delta1 as RGB | prediction | truth in ``failures/SOURCE.png``."""
    lines, mine, theirs, names = [SOURCE_HEADER], [], [], []
    for folder in source_folders(check):
        opts = EvalOptions(subset="all", per_image=True, per_image_raw=True)
        result = evaluate_dataset(est, str(folder), opts, progress=False)
        ms, raw, floor = result["median_scaled"], result["raw"], result["constant_floor"]
        scale = float(np.median([f["scale"] for f in result["per_image_raw"]]))
        lines.append(f"| {folder.name} | {result['samples']} | {ms['delta1']:.3f} | {ms['abs_rel']:.3f} | {raw['delta1']:.3f} | "
                     f"{raw['abs_rel']:.3f} | {floor['delta1']:.3f} | {scale:.2f} |")  # fmt: skip
        mine.append(result)
        names.append(folder.name)
        if failures is not None:
            lines.append(failure_picture(est, folder, result, failures / f"{folder.name}.png", worst))
        if base is not None:
            theirs.append(evaluate_dataset(base, str(folder), opts, progress=False))
    for results, which in source_groups(mine, [len(r["per_image"]) for r in mine]):
        for key, label in (("per_image", "median-scaled"), ("per_image_raw", "metric")):
            d1 = [np.array([f["delta1"] for f in r[key]]) for r in results]
            rel = [np.array([f["abs_rel"] for f in r[key]]) for r in results]
            m1, lo1, hi1 = macro_bootstrap(d1)
            m2, lo2, hi2 = macro_bootstrap(rel)
            lines.append(f"macro mean over {which}, {label}: delta1 {m1:.3f} ({lo1:.3f} .. {hi1:.3f}), "
                         f"abs rel {m2:.3f} ({lo2:.3f} .. {hi2:.3f})")  # fmt: skip
    lines.append(range_line(mine, "this model"))
    if base is not None:
        lines.append(range_line(theirs, "the baseline"))
        lines += paired_sources(mine, theirs, names)
    return lines


def range_response(results: list[dict], confidence: float = 0.9, resamples: int = 2_000, seed: int = 0
                   ) -> tuple[float, float, float] | None:  # fmt: skip
    """Slope of log(predicted median) on log(true median) over the frames of every source, each source weighing
    the same, with a bootstrap interval (frames resampled within sources). 1: predicted distances follow the
    scene's; 0: one distance for every scene. Median-scaled scores cannot see this range compression, metric ones
    mix it with a constant error. None when the true medians do not vary."""
    xs, ys = [], []
    for r in results:
        frames = [f for f in r["per_image_raw"] if f["depth_median"] > 0 and f["scale"] > 0]
        if frames:
            xs.append(np.log([f["depth_median"] for f in frames]))
            ys.append(np.log([f["depth_median"] / f["scale"] for f in frames]))

    def slope(picks: list[np.ndarray]) -> float:
        x = np.concatenate([xi[i] for xi, i in zip(xs, picks)])
        y = np.concatenate([yi[i] for yi, i in zip(ys, picks)])
        w = np.concatenate([np.full(len(i), 1 / len(i)) for i in picks])
        xm, ym = np.average(x, weights=w), np.average(y, weights=w)
        spread = np.average((x - xm) ** 2, weights=w)
        return float(np.average((x - xm) * (y - ym), weights=w) / spread) if spread > 1e-6 else float("nan")

    whole = slope([np.arange(len(x)) for x in xs]) if xs else float("nan")
    if not np.isfinite(whole):
        return None
    rng = np.random.default_rng(seed)
    boots = [slope([rng.integers(0, len(x), len(x)) for x in xs]) for _ in range(resamples)]
    lo, hi = np.nanquantile(boots, [(1 - confidence) / 2, (1 + confidence) / 2])
    return whole, float(lo), float(hi)


def range_line(results: list[dict], name: str) -> str:
    response = range_response(results)
    if response is None:
        return f"range response of {name}: the sources' true distances do not vary"
    return (
        f"range response of {name}: predicted median ~ true median ^ {response[0]:.2f} "
        f"(90% CI {response[1]:.2f} .. {response[2]:.2f}; 1 = distances follow the scene)"
    )


def paired_sources(mine: list[dict], theirs: list[dict], names: list[str]) -> list[str]:
    """Candidate minus baseline, frame by frame within each source, on delta1 median-scaled and metric. A source
    of one frame gets no interval (a bootstrap of one value collapses to a point) and is not named as helped or hurt;
    it still counts in the macro mean, as one source, and a second macro mean leaves out sources under 10 frames
    (``source_groups``)."""
    lines = []
    for key, label in (("per_image", "median-scaled"), ("per_image_raw", "metric")):
        diffs, helps, hurts = [], [], []
        for r, b, name in zip(mine, theirs, names):
            base = {f["index"]: f["delta1"] for f in b[key]}
            d = np.array([f["delta1"] - base[f["index"]] for f in r[key] if f["index"] in base])
            diffs.append(d)
            if len(d) < 2:  # one frame has no spread to resample: no interval, and it is never called a help or a hurt
                lines.append(f"paired {name}, {label}: delta1 {d.mean():+.3f} ({len(d)} frame: no interval)")
                continue
            mean, lo, hi = paired_bootstrap(d)
            lines.append(f"paired {name}, {label}: delta1 {mean:+.3f} (90% CI {lo:+.3f} .. {hi:+.3f}), {len(d)} frames")
            (helps if lo > 0 else hurts if hi < 0 else []).append(name)
        mean, lo, hi = macro_bootstrap(diffs)
        lines.append(f"paired macro mean, {label}: delta1 {mean:+.3f} (90% CI {lo:+.3f} .. {hi:+.3f}); "
                     f"helps {', '.join(helps) or 'none'}; hurts {', '.join(hurts) or 'none'}")  # fmt: skip
        for large, which in source_groups(diffs, [len(d) for d in diffs])[1:]:  # the mean over all is the line above
            mean, lo, hi = macro_bootstrap(large)
            lines.append(f"paired macro mean over {which}, {label}: delta1 {mean:+.3f} (90% CI {lo:+.3f} .. {hi:+.3f})")
    return lines


def figure(est: DepthEstimator, data: str, subset: str, frames: int, path: Path) -> list[int]:
    """RGB | prediction | ground truth for ``frames`` evenly spread frames; returns their indices."""
    dataset = open_dataset(data)
    held = select(dataset, with_training_split(EvalOptions(subset=subset), est.info.training))
    picks = [held[int(i)] for i in np.linspace(0, len(held) - 1, frames + 2)[1:-1]]
    write_image(path, comparison_strip(est, dataset, picks))
    return picks


def comparison_strip(est: DepthEstimator, dataset, indices: list[int]) -> np.ndarray:
    """RGB | prediction | truth, one row per sample, each predicted with its own camera as the scores are."""
    rows = []
    for i in indices:
        sample = dataset[i]
        rows.append(side_by_side(sample.rgb, est.predict(sample.rgb, color="rgb", camera=sample.camera), sample.depth))
    return np.vstack(rows)


def failure_picture(est: DepthEstimator, folder: Path, result: dict, path: Path, worst: int) -> str:
    """RGB | prediction | truth for a source's ``worst`` frames by median-scaled delta1 (pictures of evaluation-only
    data stay where they are written: never in the product)."""
    picks = sorted(result["per_image"], key=lambda f: f["delta1"])[:worst]
    scales = {f["index"]: f["scale"] for f in result["per_image_raw"]}
    write_image(path, comparison_strip(est, open_dataset(str(folder)), [f["index"] for f in picks]))
    said = ", ".join(f"{f['index']} (d1 {f['delta1']:.2f}, scale {scales[f['index']]:.2f})" for f in picks)
    return f"worst frames of {folder.name}: {path} - {said}"


@app.command()
def card(
    weights: Path = typer.Option(..., "--weights", "-w", help="Weights file to describe."),
    val: list[str] = typer.Option([], "--val", help="Dataset scored on the held-out part of the training split."),
    all_: list[str] = typer.Option([], "--all", help="Dataset never trained on, scored in full."),
    name: Optional[str] = typer.Option(None, "--name", help="Model label in the rows (default: the model name)."),
    figure_path: Optional[Path] = typer.Option(
        None, "--figure", help="Write a figure here: of the first --val dataset, or without --val, of the first --all."
    ),
    frames: int = typer.Option(3, "--frames", help="Frames in the figure."),
    flip: bool = typer.Option(True, "--flip/--no-flip", help="Score as the API predicts (mirror averaging, default) or without."),
    against: Optional[Path] = typer.Option(
        None, "--against", help="Baseline weights: after each dataset, the per-frame paired difference with a 90% interval."
    ),
    check: list[str] = typer.Option(
        [], "--check", help="A real check of several sources (a folder of RGB-D folders): per source, macro mean, paired."
    ),
    failures: Optional[Path] = typer.Option(
        None, "--failures", help="Folder for each --check source's worst frames (RGB | prediction | truth, SOURCE.png)."
    ),
) -> None:
    """Print the model card's rows for each dataset, and optionally a figure."""
    if not val and not all_ and not check:
        raise RtdepthError("name at least one dataset: --val DATA (held-out split), --all DATA (never trained on) or --check DIR")
    pictures = [failures / Path(c).name if failures else None for c in check]
    for folder in filter(None, pictures):  # before any work: a folder that cannot be made is one line
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RtdepthError(f"--failures {failures}: cannot create {folder} ({exc.strerror})") from exc
    est = DepthEstimator.from_weights(weights, backend="torch", device="cpu", flip=flip)
    base = DepthEstimator.from_weights(against, backend="torch", device="cpu", flip=flip) if against else None
    if val or all_:
        typer.echo(HEADER)
    lines = []
    for data, subset in [(d, "val") for d in val] + [(d, "all") for d in all_]:
        opts = EvalOptions(subset=subset, per_image=base is not None)
        result = evaluate_dataset(est, data, opts, progress=False)
        for row in card_rows(result, data, subset, name or est.info.model):
            typer.echo(row)
        if base is not None:
            baseline = evaluate_dataset(base, data, opts, progress=False)
            lines.append(f"{dataset_name(data)}: {paired_line(result, baseline, against.name)}")
    for line in lines:
        typer.echo(line)
    for folder, pictures_dir in zip(check, pictures):
        typer.echo(f"\n{folder}:")
        for line in source_report(est, base, folder, pictures_dir):
            typer.echo(line)
    if figure_path is not None and (val or all_):
        data, subset = (val[0], "val") if val else (all_[0], "all")
        picks = figure(est, data, subset, frames, figure_path)
        typer.echo(f"figure: {figure_path} ({data}, frames {picks})")


if __name__ == "__main__":
    run_app(app)
