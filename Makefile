# Every target builds its own virtual environment; nothing else is needed
# beyond Python 3.11+, pip and a C compiler.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
SOURCES := $(wildcard bwc_core/*.py bwc_core/*/*.py bwc_core/*.pyi src_cython/bwc_core/*.pyx src_cython/bwc_core/*.pxd) setup.py pyproject.toml
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow lint bench debug clean

# Import contracts (pyproject [tool.importlinter]), ruff and mypy (strict on the
# modules docs/architecture.md lists) run before the tests.
lint: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/ruff check bwc_core tests benchmarks setup.py
	$(VENV)/bin/mypy

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Each .pxd sits beside its .pyx (src_cython/bwc_core/), so cythonize regenerates
# the C of every module whose .pyx or cimported .pxd changed.
$(STAMP): $(PY) $(SOURCES)
	$(PIP) install --quiet ".[tests,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/bwc demo --out demo-out

# The everyday suite; tests marked slow (subprocess kills, long fuzz runs) run in
# test-slow, which CI (.ci/run) runs as well.
test: $(STAMP) lint
	cd tests && ../$(PY) -m pytest -q -p no:cacheprovider -m "not slow" $(PYTEST_ARGS)

test-slow: $(STAMP)
	cd tests && ../$(PY) -m pytest -q -p no:cacheprovider -m slow $(PYTEST_ARGS)

# c2pa-python is optional (the side-by-side C2PA benchmark skips without it).
bench: $(STAMP)
	-$(PIP) install --quiet ".[c2pa]"
	cd benchmarks && ../$(PY) -m pytest -q -p no:cacheprovider --benchmark-only \
		--benchmark-columns=min,median,mean,ops,rounds $(BENCH_ARGS) .

# Line tracing and bounds checks for hunting bugs in the Cython core.
debug: $(PY)
	rm -f src_cython/bwc_core/*.c
	BWC_DEBUG=1 $(PIP) install --quiet --no-build-isolation ".[tests,bench]"
	rm -f $(STAMP)

clean:
	rm -rf build dist *.egg-info $(VENV) src_cython/bwc_core/*.c demo-out
