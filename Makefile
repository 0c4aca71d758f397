# bankfeeds: `make demo` runs the whole job on embedded defaults; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 4

.PHONY: install lint format test test-deps test-fast test-faults demo serve bench clean connectors-up connectors-seed connectors-demo

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

test: lint
	$(BIN)/pytest -p no:cacheprovider -n $(PYTEST_WORKERS)

# What the tests that skip need (sshd, Chromium, GnuPG, PostgreSQL on 127.0.0.1:5432, which
# `make test` then finds): installs and starts them as .ci/run does. Debian/Ubuntu, root or sudo.
test-deps:
	.ci/deps.sh

# The fault-injection and attack scenarios alone (make test runs them too).
test-faults: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider -n $(PYTEST_WORKERS) -m faults tests/faults

test-fast: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider -n $(PYTEST_WORKERS) tests/unit

# Prints where the logs go (var/demo.log), each seeded day's recon, and last `Admin token: bf_…`.
# DEMO_ARGS="--port 3001 --sandbox-port 0 --bank-api-port 0" moves its ports (0: any free one).
demo: $(STAMP)
	$(BIN)/bankfeeds demo $(DEMO_ARGS)

serve: $(STAMP)
	$(BIN)/bankfeeds serve

# The specification's targets: the sandbox bank SFTP server on 127.0.0.1:2222 (user bank/bankpass).
connectors-seed: $(STAMP)
	$(BIN)/bankfeeds sandbox seed

connectors-up: connectors-seed
	$(BIN)/bankfeeds sandbox

connectors-demo: $(STAMP)
	$(BIN)/bankfeeds sandbox generate --date $$(date -d yesterday +%F)

# Every benchmark, one table: bench/results.md (needs root; the scheduler one needs PostgreSQL at
# TEST_DATABASE_URL). Installs wrk and OpenSSH's sshd when missing. `make bench BENCH_ARGS=--quick`
# is a smoke run.
bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	[ -x /usr/sbin/sshd ] || (apt-get update -qq && apt-get install -y -qq openssh-server)
	mkdir -p /run/sshd
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
