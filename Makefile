# The two commands of the README: `make demo` (the main job) and `make test` (the tests).
# Each does its own set-up into .venv (pip; torch from this machine's disk when it is there).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ivos-installed

.PHONY: setup browser postgres demo test test-integration test-all bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) browser postgres

# Debian's chromium + chromium-driver for the real-browser test of `ivos annotate` (no browser download at run time)
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; else \
	  if [ "$$(id -u)" = 0 ]; then S=; else S=sudo; fi; \
	  $$S apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$S apt-get install -y -qq chromium chromium-driver; fi

# PostgreSQL 15 server binaries for the PostgreSQL-backed multi-worker test (the test starts its own
# throwaway cluster in a temp folder; nothing is configured system-wide)
postgres:
	@if [ -x $${IVOS_PG_BIN:-/usr/lib/postgresql/15/bin}/initdb ]; then :; else \
	  if [ "$$(id -u)" = 0 ]; then S=; else S=sudo; fi; \
	  $$S apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$S apt-get install -y -qq postgresql-15; fi

demo: $(STAMP)
	$(BIN)/ivos demo --out outputs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q --timeout 900

# real Prefect servers and workers: incl. the PostgreSQL-backed two-worker test (slow; skipped
# without /usr/lib/postgresql/15/bin or IVOS_PG_BIN), which `make test` leaves out
test-integration: $(STAMP)
	$(BIN)/python -m pytest -m integration -q --timeout 3600

test-all: $(STAMP)
	$(BIN)/python -m pytest -q --timeout 1800

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --json bench_results/latest.json

clean:
	rm -rf $(VENV) .pytest_cache
