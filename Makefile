# LeadFlow: `make run` runs the system, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run demo test soak unit lint bench stop status install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	deploy/local/prereqs.sh
	deploy/local/run.sh

# With `make run` going (another terminal): simulated visitors through ingest, then the
# scores, MQLs, emails and funnel they produce. DEMO_ARGS="--leads 1000" passes options on.
DEMO_ARGS ?=
demo: install
	$(BIN)/leadflow demo run $(DEMO_ARGS)

test: install
	deploy/local/prereqs.sh test
	deploy/local/with-test-infra.sh $(BIN)/pytest $(PYTEST_ARGS)

# The long fault-injection and fuzz runs (pytest marker `soak`), on throwaway servers too.
soak: install
	deploy/local/prereqs.sh test
	deploy/local/with-test-infra.sh $(BIN)/pytest -m soak $(PYTEST_ARGS)

unit: install
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	deploy/local/prereqs.sh test
	deploy/local/with-test-infra.sh $(BIN)/python -m bench $(BENCH_ARGS)

stop:
	deploy/local/infra.sh stop

status:
	deploy/local/infra.sh status

clean: stop
	rm -rf .local $(VENV)
