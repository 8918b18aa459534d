# The README's two commands: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A CPU build of torch: on this project's machines 2.13.0 is on local disk. Elsewhere, for a CPU-only
# machine, install torch from https://download.pytorch.org/whl/cpu first (or set TORCH_SPEC).
TORCH_SPEC ?= torch==2.13.0

# The offline GPU kit: `make wheelhouse` where the package index is reachable, then on the GPU machine
# (no network, its own CUDA PyTorch) `make gpu-check`. HAVE names what the target already has (words, or
# a file of its `pip freeze`); TARGET_PYTHON is its Python version.
WHEELHOUSE    ?= wheelhouse
TARGET_PYTHON ?= 3.12
HAVE          ?= torch numpy onnx onnxruntime opencv-python-headless
GPU_OUT       ?= gpu-check

.PHONY: demo test test-fast setup lint clean wheelhouse gpu-check

$(BIN)/rtdepth: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[dev]"
	@touch $@

setup: $(BIN)/rtdepth

demo: setup
	mkdir -p out
	$(BIN)/rtdepth image rtdepth/assets/samples/tum_fr1_xyz_0330.jpg -o out/depth.png --layout side-by-side
	$(BIN)/rtdepth video rtdepth/assets/demo.mp4 -o out/demo_depth.mp4 --layout side-by-side
	@echo "demo output: out/depth.png, out/demo_depth.mp4"

test: setup
	$(BIN)/ruff check rtdepth train engines tests tools
	$(BIN)/python -m pytest -q

test-fast: setup  # everything but the tests marked slow (CI runs them all)
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup  # also the layout (not in test: an unpinned ruff may format differently from one release to the next)
	$(BIN)/ruff check rtdepth train engines tests tools
	$(BIN)/ruff format --check rtdepth train engines tests tools

wheelhouse: setup  # only what the target lacks (its packages' dependencies read from .venv); never torch
	$(BIN)/python tools/wheelhouse.py -o $(WHEELHOUSE) --python-version $(TARGET_PYTHON) --have $(HAVE)

gpu-check:  # on the GPU machine, with its own python3: install from the wheelhouse, then measure
	$(PYTHON) tools/offline_install.py --wheelhouse $(WHEELHOUSE)
	$(PYTHON) tools/gpu_check.py -o $(GPU_OUT)

clean:
	rm -rf $(VENV) out
