"""Install the project on a machine without network, from a wheelhouse, over the machine's own packages.

    python tools/offline_install.py --wheelhouse wheelhouse

Only requirements this environment does not already satisfy are installed (a headless OpenCV counts as
OpenCV), every installed package they might touch is pinned to its installed version, so the machine's
CUDA PyTorch is never replaced, and the project goes in editable, built from the wheelhouse's backend.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import subprocess
import sys
import tempfile
from pathlib import Path

from requirements import CPU_ONLY, ROOT, installed_closure, is_satisfied, project_requirements


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check"], check=True)


def install(wheelhouse: Path, project: Path = ROOT, editable: bool = True) -> list[str]:
    """Install what is missing and then the project (without touching dependencies); returns what was missing."""
    missing = [str(r) for r in project_requirements(project)
               if not is_satisfied(r) and (r.marker is None or r.marker.evaluate()) and r.name not in CPU_ONLY]  # fmt: skip
    offline = ["--no-index", "--find-links", str(wheelhouse)]
    # Pin torch and everything it needs at the installed versions: a resolver that wanted to change one
    # fails here instead of replacing the machine's build.
    pins = [f"{name}=={metadata.version(name)}" for name in sorted(installed_closure(["torch"])) if _has(name)]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(pins) + "\n")
        constraints = f.name
    try:
        if missing:
            pip("install", "--quiet", *offline, "-c", constraints, *missing)
        target = ["-e", str(project)] if editable else [str(project)]
        pip("install", "--quiet", *offline, "--no-deps", *target)
    finally:
        Path(constraints).unlink(missing_ok=True)
    return missing


def _has(name: str) -> bool:
    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheelhouse", type=Path, default=ROOT / "wheelhouse", help="folder from tools/wheelhouse.py")
    parser.add_argument("--project", type=Path, default=ROOT, help="project folder (default: this checkout)")
    parser.add_argument("--no-editable", dest="editable", action="store_false", help="install a copy, not a link")
    args = parser.parse_args(argv)
    if not args.wheelhouse.is_dir():
        print(
            f"error: no wheelhouse at {args.wheelhouse}; make it where the index is reachable: make wheelhouse", file=sys.stderr
        )
        return 2
    if not _has("torch"):
        print(
            "error: this environment has no torch; install the machine's PyTorch first (the kit never carries it)",
            file=sys.stderr,
        )
        return 2
    try:
        missing = install(args.wheelhouse, args.project, args.editable)
    except subprocess.CalledProcessError as err:
        print(f"error: offline install failed (pip exit {err.returncode}); see pip's message above", file=sys.stderr)
        return 1
    check = subprocess.run([sys.executable, "-c", "import rtdepth.cli, torch; print(torch.__version__)"],
                           capture_output=True, text=True)  # fmt: skip
    if check.returncode:
        print(f"error: installed, but `import rtdepth.cli` fails:\n{check.stderr.strip()}", file=sys.stderr)
        return 1
    print(f"installed {', '.join(missing) or 'nothing missing'} + rtdepth; torch {check.stdout.strip()} untouched")
    return 0


if __name__ == "__main__":
    sys.exit(main())
