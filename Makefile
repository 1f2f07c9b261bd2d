# sovereign.cmk: set-up, tests and the main job. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup chromium test run sanity units lint integration build lowest bench clean

# Set-up: a virtual environment from the machine's python3 with everything the project needs
# (runtime requirements, ansible-core, ansible-lint, molecule, pytest, the emulator's needs).
$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	@$(BIN)/python --version
	@$(BIN)/ansible --version | head -n 1
	touch $(STAMP)

# Chromium, for the HTML report's browser test (tests/harness/test_report_browser.py): the distribution's package,
# installed once (nothing to do when `chromium`, `chromium-browser` or $$CHROMIUM is there). apt-get runs as root or
# through `sudo -n`; where neither works, or there is no apt-get, the set-up goes on and says loudly what to do - the
# browser test then fails with the same message (it never skips silently).
CHROMIUM_HINT := the HTML report's browser test needs Chromium: install the distribution package (Debian: apt-get install -y chromium) or set CHROMIUM=<path>
chromium:
	@if [ -n "$$CHROMIUM" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
	  exit 0; \
	fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "*** make setup: no apt-get on this machine; $(CHROMIUM_HINT)" >&2; exit 0; \
	fi; \
	if [ "$$(id -u)" = 0 ]; then AS=; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then AS="sudo -n"; \
	else echo "*** make setup: Chromium is missing and installing it needs root (sudo -n is not available); $(CHROMIUM_HINT)" >&2; exit 0; \
	fi; \
	echo "+ $$AS apt-get install -y chromium"; \
	$$AS env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
	  || { $$AS apt-get update -q >/dev/null && $$AS env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
	  || echo "*** make setup: apt-get could not install chromium; $(CHROMIUM_HINT)" >&2

setup: $(STAMP) chromium

test: $(STAMP) chromium ## every quality gate: sanity, unit tests, ansible-lint, integration suite on the emulator
	$(BIN)/python scripts/test.py all

integration: chromium

sanity units lint integration build lowest: $(STAMP)
	$(BIN)/python scripts/test.py $@

run: $(STAMP) ## the main job (on the built-in emulator when no Azure credentials are given)
	$(BIN)/python scripts/run.py

bench: $(STAMP) ## benchmarks: the cost of a module task, API calls per resource, enforce under faults and kill -9
	$(BIN)/python benchmarks/module_task.py
	$(BIN)/python benchmarks/estate_calls.py
	$(BIN)/python benchmarks/reliability.py
	$(BIN)/python benchmarks/estate_scan.py

clean:
	rm -rf build tests/output
