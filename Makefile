# Every target builds its own virtual environment; nothing else is needed
# beyond Python 3.11+, pip and a C compiler.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
SOURCES := $(wildcard bwc_core/*.py bwc_core/*.pyi src_cython/*.pyx src_cython/*.pxd) setup.py pyproject.toml
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow bench debug clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Generated C is removed first: Cython does not track the dotted .pxd names
# (src_cython/bwc_core._x.pxd) as dependencies, so a stale .c could survive.
$(STAMP): $(PY) $(SOURCES)
	rm -f src_cython/*.c
	$(PIP) install --quiet ".[tests,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/bwc demo --out demo-out

# The everyday suite; tests marked slow (subprocess kills, long fuzz runs) run in
# test-slow, which CI (.ci/run) runs as well.
test: $(STAMP)
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
	rm -f src_cython/*.c
	BWC_DEBUG=1 $(PIP) install --quiet --no-build-isolation ".[tests,bench]"
	rm -f $(STAMP)

clean:
	rm -rf build dist *.egg-info $(VENV) src_cython/*.c demo-out
