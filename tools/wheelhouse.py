"""Download the wheels an offline machine lacks, for its Python and platform, into one folder.

    python tools/wheelhouse.py -o wheelhouse --python-version 3.12 --platform manylinux_2_28_x86_64 \
        --have torch numpy onnx onnxruntime opencv-python-headless

``--have`` names what the target already has (words, or a file of its ``pip freeze``); those and, as far as
this machine's metadata tells, their own dependencies are left out, so a CUDA PyTorch is never carried or
replaced. The build backend is always included: the target installs the project from source with
``tools/offline_install.py``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from requirements import (
    CPU_ONLY,
    PROVIDED_BY,
    ROOT,
    build_requirements,
    canonicalize_name,
    installed_closure,
    project_requirements,
    read_names,
    wheel_project,
)

MANYLINUX = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def left_out(have: list[str]) -> set[str]:
    """Canonical names the target has: the named packages, what they require, and the other OpenCV builds."""
    names = installed_closure(have)
    for wanted, providers in PROVIDED_BY.items():
        if names & {canonicalize_name(p) for p in providers}:
            names.add(wanted)
    return names


def download(out: Path, python_version: str | None, platforms: list[str], have: list[str], root: Path = ROOT) -> list[Path]:
    """Fill ``out`` with the wheels for the project's requirements minus ``have``; returns the wheels kept."""
    skip = left_out(have) | CPU_ONLY
    wanted = [r for r in project_requirements(root) if canonicalize_name(r.name) not in skip]
    builds = build_requirements(root)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
           "-d", str(out)]  # fmt: skip
    if python_version:
        cmd += ["--python-version", python_version, "--implementation", "cp"]
        for plat in platforms:
            cmd += ["--platform", plat]
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(cmd + [str(r) for r in wanted + builds], check=True)
    keep_builds = {canonicalize_name(r.name) for r in builds}
    kept = []
    for wheel in sorted(out.glob("*.whl")):
        if wheel_project(wheel.name) in skip and wheel_project(wheel.name) not in keep_builds:
            wheel.unlink()  # the target has it: carrying it could only replace the target's own build
        else:
            kept.append(wheel)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "wheelhouse", help="folder for the wheels")
    parser.add_argument("--python-version", default=None, help="target Python, e.g. 3.12 (default: this one)")
    parser.add_argument(
        "--platform",
        action="append",
        default=None,
        help=f"target platform tag, repeatable (default with --python-version: {', '.join(MANYLINUX)})",
    )
    parser.add_argument(
        "--have",
        nargs="*",
        default=["torch"],
        help="packages the target already has, or a file of its `pip freeze` (default: torch)",
    )
    parser.add_argument(
        "--max-mb", type=float, default=48.0, help="warn above this total (a 64 MiB transfer also carries the repository)"
    )
    args = parser.parse_args(argv)
    platforms = args.platform or (list(MANYLINUX) if args.python_version else [])
    try:
        kept = download(args.output, args.python_version, platforms, read_names(args.have))
    except subprocess.CalledProcessError as err:
        print(f"error: pip download failed (exit {err.returncode}); is the package index reachable?", file=sys.stderr)
        return 1
    total = sum(w.stat().st_size for w in kept) / 2**20
    for wheel in kept:
        print(f"{wheel.stat().st_size / 2**20:7.1f} MB  {wheel.name}")
    print(f"{len(kept)} wheels, {total:.1f} MB in {args.output}")
    if total > args.max_mb:
        print(
            f"warning: {total:.1f} MB is over --max-mb {args.max_mb:g}; name more of what the target has with --have",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
