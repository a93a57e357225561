# Everything a developer runs. `make test` and `make run` set up what they need first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# FC runs python3.10: use it for the venv where the machine has one.
BASE_PYTHON := $(shell tools/python310.sh 2>/dev/null || command -v python3)

.PHONY: venv system-deps node-deps test lint format run package bench smoke clean

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(BASE_PYTHON) -m venv $(VENV)
	@$(PY) -c 'import sys; v=sys.version_info[:2]; v == (3, 10) or print(f"warning: tests run on Python {v[0]}.{v[1]}; FC runs 3.10")'
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

system-deps:
	@tools/system-deps.sh

test: venv system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: venv
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache test-artifacts
