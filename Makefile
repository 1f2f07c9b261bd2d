# sovereign.cmk: set-up, tests and the main job. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test run sanity units lint integration build lowest bench clean

# Set-up: a virtual environment from the machine's python3 with everything the project needs
# (runtime requirements, ansible-core, ansible-lint, molecule, pytest, the emulator's needs).
$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	@$(BIN)/python --version
	@$(BIN)/ansible --version | head -n 1
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP) ## every quality gate: sanity, unit tests, ansible-lint, integration suite on the emulator
	$(BIN)/python scripts/test.py all

sanity units lint integration build lowest: $(STAMP)
	$(BIN)/python scripts/test.py $@

run: $(STAMP) ## the main job (on the built-in emulator when no Azure credentials are given)
	$(BIN)/python scripts/run.py

bench: $(STAMP) ## benchmarks: the cost of a module task, API calls per resource, enforce under faults and kill -9
	$(BIN)/python benchmarks/module_task.py
	$(BIN)/python benchmarks/estate_calls.py
	$(BIN)/python benchmarks/reliability.py

clean:
	rm -rf build tests/output
