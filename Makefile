PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: install demo test lint bench bench-compare

# torch is installed first and pinned: torch==2.13.0 is the CPU wheel; an unpinned
# torch would pull a multi-GB CUDA build.
install:
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[dev,onnx,executorch]"

demo: install
	$(PYTHON) -m symshape demo

# one worker per core, a test file per worker (module fixtures such as a lowered .pte are built once)
test: install
	$(PYTHON) -m pytest -q -n auto --dist loadfile

# ruff (config in pyproject.toml) and the AST architecture test (layers, cycles, private APIs)
lint: install
	$(PYTHON) -m ruff check symshape tests
	$(PYTHON) -m pytest -q tests/test_layering.py

bench: install
	$(PYTHON) benchmarks/bench_infer.py

bench-compare: install
	$(PYTHON) benchmarks/compare.py
