# The two commands of the README: `make demo` (the main job) and `make test` (the tests).
# Each does its own set-up into .venv (pip; torch from this machine's disk when it is there).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ivos-installed

.PHONY: setup demo test test-all bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/ivos demo --out outputs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q --timeout 900

test-all: $(STAMP)
	$(BIN)/python -m pytest -q --timeout 1800

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --json bench_results/latest.json

clean:
	rm -rf $(VENV) .pytest_cache
