# Two commands on a fresh machine: `make demo` and `make test` (CI runs .ci/run, which runs `make test`).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench bench-gpu validate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pdgeneral run cases/uniaxial_tension_2d.yaml --overwrite
	@echo "Output: results/uniaxial-tension-2d.h5 (open results/uniaxial-tension-2d.xdmf in ParaView)"

# The CUDA kernels run under numba's CUDA simulator here (tests marked gpu need a real GPU and skip).
# ruff first (the lint is part of the tests), then pytest on every core (pytest-xdist).
test: $(STAMP)
	$(BIN)/ruff check .
	NUMBA_ENABLE_CUDASIM=1 $(BIN)/python -m pytest -q -n auto

bench: $(STAMP)
	$(BIN)/pdgeneral bench --cases 2d-1m,3d-1m --backends serial,parallel --steps 10

bench-gpu: $(STAMP)
	$(BIN)/pdgeneral bench --backends cuda

# The validation suite at full resolution; rewrites docs/validation.md and docs/validation/.
validate: $(STAMP)
	$(BIN)/pdgeneral validate --resolution full

clean:
	rm -rf $(VENV) results .pytest_cache
