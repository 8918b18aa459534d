"""What the project needs and what an environment already has: the offline kit's shared arithmetic.

Standard library (plus the ``packaging`` that pip carries), because it runs before anything is installed.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
from pathlib import Path

import tomllib

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # a bare interpreter: pip vendors the same library
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]

# Distributions that provide the same import under another name: a GPU image's headless OpenCV serves
# `import cv2` as well as the desktop build the project names.
PROVIDED_BY = {
    "opencv-python": ("opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless"),
}


# Runtimes that serve CPUs only: a GPU machine never opens them, and OpenVINO alone would fill the 64 MiB a
# call may carry. The product falls back to ONNX Runtime where they are absent, so the kit leaves them out.
CPU_ONLY = frozenset({"openvino", "openvino-telemetry"})


def project_requirements(root: Path = ROOT) -> list[Requirement]:
    """The runtime requirements in ``pyproject.toml``."""
    data = tomllib.loads((root / "pyproject.toml").read_text())
    return [Requirement(r) for r in data["project"]["dependencies"]]


def build_requirements(root: Path = ROOT) -> list[Requirement]:
    """What building the project needs (pip's isolated build fetches these from the wheelhouse)."""
    data = tomllib.loads((root / "pyproject.toml").read_text())
    return [Requirement(r) for r in data["build-system"]["requires"]]


def installed_version(name: str) -> tuple[str, str] | None:
    """(distribution, version) installed for ``name`` or a distribution that provides it; None if absent."""
    for dist in PROVIDED_BY.get(canonicalize_name(name), (name,)):
        try:
            return dist, metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def is_satisfied(req: Requirement) -> bool:
    """Whether this environment already has a version the requirement accepts."""
    found = installed_version(req.name)
    return found is not None and req.specifier.contains(found[1], prereleases=True)


def installed_closure(names: list[str]) -> set[str]:
    """Canonical names of ``names`` and everything they require, as installed here (extras and markers honoured)."""
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = canonicalize_name(stack.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                stack.append(req.name)
    return seen


def wheel_project(filename: str) -> str:
    """Canonical project name of a wheel file (``onnx_ir-1.1.0-py3-none-any.whl`` -> ``onnx-ir``)."""
    return canonicalize_name(re.split(r"-\d", Path(filename).name, maxsplit=1)[0])


def read_names(items: list[str]) -> list[str]:
    """Package names from words and from files of ``pip freeze`` lines (``name==1.2``, ``name @ url``, ...)."""
    names: list[str] = []
    for item in items:
        path = Path(item)
        lines = path.read_text().splitlines() if path.is_file() else [item]
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                names.append(re.split(r"[\s=<>!~;@\[]", line, maxsplit=1)[0])
    return names
