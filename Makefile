# The README's two commands: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A CPU build of torch: on this project's machines 2.13.0 is on local disk. Elsewhere, for a CPU-only
# machine, install torch from https://download.pytorch.org/whl/cpu first (or set TORCH_SPEC).
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test test-fast setup lint clean

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
	$(BIN)/ruff check rtdepth train engines tests
	$(BIN)/python -m pytest -q

test-fast: setup  # everything but the tests marked slow (CI runs them all)
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check rtdepth train engines tests

clean:
	rm -rf $(VENV) out
