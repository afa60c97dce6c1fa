# Bayesline: `make demo` and `make test` are all a fresh machine needs (python3, pip, make).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export BAYESLINE_HOME ?= $(CURDIR)/data
export BAYESLINE_CONFIG ?= $(CURDIR)/bayesline.toml
export DAGSTER_HOME ?= $(BAYESLINE_HOME)/dagster
UI_PORT ?= 3000
LABELSTUDIO_PORT ?= 8089
# DuckDB's memory cap for the 100M-row run, as measured (one 67M-row file also ingests at the
# default cap: make bench-single-file).
BIG_MEMORY_LIMIT ?= 8GB
export BAYESLINE_LABELSTUDIO_PORT ?= $(LABELSTUDIO_PORT)
# pytest-xdist workers for `make test`; each test module stays on one (tests/conftest.py).
TEST_WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help install demo ui test lint format bench bench-quick bench-single-file dagster-home \
	clean stop team-demo team-down \
	labelstudio-install labelstudio labelstudio-stop screenshots

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,spark,hf,s3]'
	touch $@

install: $(BIN)/.installed ## Create .venv and install Bayesline with its dev tools and the spark, hf and s3 extras

# dagster.yaml into DAGSTER_HOME, with PostgreSQL storage in a team deployment (README: For teams).
dagster-home: install
	@$(BIN)/bayesline team status

demo: install dagster-home ## Generate the demo data and run the whole pipeline on it
	$(BIN)/bayesline demo

team-demo: install ## The demo on a private PostgreSQL (`bayesline team up`; needs Debian's postgresql)
	$(BIN)/bayesline team up
	$(BIN)/bayesline demo

team-down: install ## Stop the private PostgreSQL of `make team-demo` (its data stays)
	$(BIN)/bayesline team down

ui: install dagster-home ## Start the Dagster UI on http://127.0.0.1:$(UI_PORT)
	$(BIN)/dagster dev -m assets.definitions --host 127.0.0.1 --port $(UI_PORT)

test: install lint labelstudio-install ## Lint, then run the whole test suite (real Label Studio included)
	$(BIN)/pytest -n $(TEST_WORKERS)

screenshots: install labelstudio-install ## Walk the UIs in Chromium; refresh docs/screenshots/*.png
	BAYESLINE_SCREENSHOTS_TO_DOCS=1 BAYESLINE_REQUIRE_BROWSER=1 $(BIN)/pytest -m browser tests/browser

lint: install ## ruff lint and format check, then mypy (strict on the library, default on assets/, bayesline/, tests/)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install labelstudio-install ## The benchmark suite at 1M and 10M rows (ROWS_BIG=100000000 adds 100M); writes BENCHMARKS.md
	$(BIN)/python -m benchmarks.suite --rows 1000000
	$(BIN)/python -m benchmarks.suite --rows 10000000
	$(if $(ROWS_BIG),BAYESLINE_MEMORY_LIMIT=$(BIG_MEMORY_LIMIT) $(BIN)/python -m benchmarks.suite --rows $(ROWS_BIG) --only pipeline)

bench-quick: install ## The warehouse stages at 1M rows (under two minutes)
	$(BIN)/python -m benchmarks.suite --rows 1000000 --only pipeline

bench-single-file: install ## One 67M-row landing file ingested at the default memory cap (8 GB of CSV, up to 40 GB of spill)
	env -u BAYESLINE_MEMORY_LIMIT $(BIN)/python -m benchmarks.suite --rows 67000000 --only single_file

labelstudio-install: install ## Create .venv-labelstudio with the pinned Label Studio (about a minute, once)
	$(BIN)/bayesline labelstudio install

labelstudio: install ## Start Label Studio in the background on http://127.0.0.1:$(LABELSTUDIO_PORT)
	$(BIN)/bayesline labelstudio start

labelstudio-stop: install ## Stop Label Studio
	$(BIN)/bayesline labelstudio stop

stop: labelstudio-stop ## Stop everything the demo started
	-$(BIN)/bayesline team down

clean: ## Stop Label Studio, delete the team PostgreSQL, remove the data directory (lake, history)
	-$(BIN)/bayesline labelstudio stop
	-$(BIN)/bayesline team down --drop
	rm -rf "$(BAYESLINE_HOME)"
