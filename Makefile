# Bayesline: `make demo` and `make test` are all a fresh machine needs (python3, pip, make).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export BAYESLINE_HOME ?= $(CURDIR)/data
export BAYESLINE_CONFIG ?= $(CURDIR)/bayesline.toml
export DAGSTER_HOME ?= $(BAYESLINE_HOME)/dagster
UI_PORT ?= 3000
ROWS ?= 1000000

.DEFAULT_GOAL := help
.PHONY: help install demo ui test lint format bench dagster-home clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(BIN)/.installed ## Create .venv and install Bayesline with its dev tools

dagster-home:
	@mkdir -p "$(DAGSTER_HOME)" && cp dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"

demo: install dagster-home ## Generate the demo data and run the whole pipeline on it
	$(BIN)/bayesline demo

ui: install dagster-home ## Start the Dagster UI on http://127.0.0.1:$(UI_PORT)
	$(BIN)/dagster dev -m assets.definitions --host 127.0.0.1 --port $(UI_PORT)

test: install lint ## Lint, then run the whole test suite
	$(BIN)/pytest

lint: install ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## Benchmark the pipeline against bare DuckDB (ROWS=1000000); results in benchmarks/results
	$(BIN)/python -m benchmarks.bench_pipeline --rows $(ROWS)

clean: ## Remove the demo data directory (landing files, lake, Dagster history)
	rm -rf "$(BAYESLINE_HOME)"
