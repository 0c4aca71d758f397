# bankfeeds: `make demo` runs the whole job on embedded defaults; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 4

.PHONY: install lint format test test-fast demo serve bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

test: lint
	$(BIN)/pytest -p no:cacheprovider -n $(PYTEST_WORKERS)

test-fast: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider -n $(PYTEST_WORKERS) tests/unit

demo: $(STAMP)
	$(BIN)/bankfeeds demo

serve: $(STAMP)
	$(BIN)/bankfeeds serve

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
