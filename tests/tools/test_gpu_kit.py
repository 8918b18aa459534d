"""The offline GPU kit cannot rot: build a wheelhouse from the index, then install from it with no index into
a fresh environment that has only what a GPU machine brings (torch and its kind), and run the CLI."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools"
sys.path.insert(0, str(TOOLS))
from requirements import installed_closure, read_names, wheel_project  # noqa: E402

# What the simulated GPU machine has, besides torch: the large packages such images carry.
MACHINE_HAS = ["torch", "numpy", "onnx", "onnxruntime", "opencv-python"]


def link_installed(names: set[str], into: Path) -> None:
    """Expose only these installed distributions (their top-level files) in ``into``."""
    into.mkdir()
    for name in names:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        site = Path(dist.locate_file(""))
        for top in {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
            if (site / top).exists() and not (into / top).exists():
                (into / top).symlink_to(site / top)


def copy_project(into: Path) -> Path:
    into.mkdir()
    for item in ("pyproject.toml", "README.md", "rtdepth", "train", "engines", "tools"):
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, into / item, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, into / item)
    return into


def test_read_names_reads_words_and_freeze_files(tmp_path):
    freeze = tmp_path / "freeze.txt"
    freeze.write_text("# comment\ntorch==2.11.0\nonnx-ir @ file:///x\n-e git+https://x#egg=y\nnumpy>=2\n")
    assert read_names(["typer", str(freeze)]) == ["typer", "torch", "onnx-ir", "numpy"]
    assert wheel_project("onnx_ir-1.1.0-py3-none-any.whl") == "onnx-ir"
    assert wheel_project("av-19.0.2-cp312-abi3-manylinux_2_28_x86_64.whl") == "av"


@pytest.mark.slow
def test_offline_install_from_wheelhouse_into_a_torch_only_environment(tmp_path):
    wheels = tmp_path / "wheelhouse"
    made = subprocess.run([sys.executable, str(TOOLS / "wheelhouse.py"), "-o", str(wheels), "--have", *MACHINE_HAS],
                          capture_output=True, text=True)  # fmt: skip
    if made.returncode and "index" in made.stderr:
        pytest.skip("the package index is not reachable: the wheelhouse cannot be made here")
    assert made.returncode == 0, made.stderr
    carried = {wheel_project(w.name) for w in wheels.glob("*.whl")}
    assert {"typer", "rich", "safetensors", "av", "pyyaml", "onnxscript"} <= carried
    assert not carried & {"torch", "numpy", "onnx", "onnxruntime", "opencv-python"}, "carried what the machine has"

    env = tmp_path / "env"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    have = tmp_path / "machine-site"
    link_installed(installed_closure(MACHINE_HAS), have)
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())  # fmt: skip
    (site / "machine.pth").write_text(str(have) + "\n")
    torch_before = subprocess.check_output([str(python), "-c", "import torch; print(torch.__file__)"], text=True)
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run([str(python), "-c", "import typer"], check=True, capture_output=True)

    project = copy_project(tmp_path / "project")
    done = subprocess.run([str(python), str(project / "tools" / "offline_install.py"), "--wheelhouse", str(wheels)],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "PIP_NO_INDEX": "1"})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "untouched" in done.stdout
    assert subprocess.check_output([str(python), "-c", "import torch; print(torch.__file__)"], text=True) == torch_before
    help_text = subprocess.run([str(env / "bin" / "rtdepth"), "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "build-engine" in help_text.stdout


def test_offline_install_refuses_without_a_wheelhouse(tmp_path):
    out = subprocess.run([sys.executable, str(TOOLS / "offline_install.py"), "--wheelhouse", str(tmp_path / "none")],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "make wheelhouse" in out.stderr


def test_gpu_check_without_a_gpu_says_so_in_one_line_and_keeps_the_facts(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the full check runs under `make gpu-check`")
    out = subprocess.run([sys.executable, str(TOOLS / "gpu_check.py"), "-o", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 1
    assert [line for line in out.stderr.splitlines() if line.startswith("error")] == [out.stderr.splitlines()[-1]]
    facts = json.loads((tmp_path / "gpu_check.json").read_text())["facts"]
    assert facts["cuda_available"] is False and facts["torch"] == torch.__version__


def test_gpu_check_targets_read_the_bench_rows():
    import gpu_check

    def lat(model, precision, ms, speedup, size="640x480"):
        return {"model": model, "backend": "torch", "device": "cuda:0", "precision": precision, "size": size,
                "median_ms": ms, "p95_ms": ms * 1.1, "speedup": speedup}  # fmt: skip

    report = {
        "default_model": "effnet_lite0_unet",
        "bench": {
            "latency": [
                lat("resnet34_unet", "fp32", 9.0, 1.0),
                lat("resnet34_unet", "fp16+graph", 2.5, 3.6),
                lat("unet", "fp32", 12.0, 1.0),
                lat("unet", "fp16", 11.0, 1.09),
                lat("effnet_lite0_unet", "fp16+graph", 5.0, 2.0),
            ],  # fmt: skip
            "end_to_end": [
                {
                    "model": "effnet_lite0_unet",
                    "backend": "torch",
                    "precision": "fp16+graph",
                    "size": "320x240",
                    "model_fps": 400.0,
                    "video_fps": 300.0,
                    "ratio": 0.75,
                }
            ],  # fmt: skip
        },
    }
    got = {t["target"].split(" ")[0] + (" video" if "video" in t["target"] else ""): t for t in gpu_check.targets(report)}
    assert got["resnet34_unet"]["met"] and got["resnet34_unet"]["value"] == 3.6
    assert not got["unet"]["met"] and got["unet"]["value"] == pytest.approx(90.9, abs=0.1)  # best of fp32/fp16
    assert got["effnet_lite0_unet"]["met"] and got["effnet_lite0_unet"]["value"] == 200.0
    assert not got["video video"]["met"]
    report["targets"] = gpu_check.targets(report)
    text = gpu_check.summary_markdown(report)
    assert "| resnet34_unet | torch | cuda:0 | fp16+graph | 640x480 | 2.50 |" in text and "**no**" in text
