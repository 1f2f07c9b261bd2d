# sovereign.cmk: set-up, tests and the main job. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup test run sanity units lint integration build bench clean

setup: ## create .venv from python3 and install everything (runtime, dev tools, emulator needs)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(BIN)/python --version
	$(BIN)/ansible --version | head -n 1

test: ## every quality gate: sanity, unit tests, ansible-lint, integration suite on the emulator
	$(BIN)/python scripts/test.py all

sanity units lint integration build:
	$(BIN)/python scripts/test.py $@

run: ## the main job: drift detection, enforcement, drift detection (built-in emulator without Azure credentials)
	$(BIN)/python scripts/run.py

bench: ## benchmarks (prints figures)
	$(BIN)/python benchmarks/module_task.py

clean:
	rm -rf build tests/output
