# Everything a developer runs. `make test` and `make run` set up what they need first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# FC runs python3.10: use it for the venv where the machine has one.
BASE_PYTHON := $(shell tools/python310.sh 2>/dev/null || command -v python3)

# `make run DM_PORT=8125 REAL=1 CAPTCHA=turnstile ...`: the local stack reads these from its environment.
export HOST DM_PORT FC_PORT DEMO_PORT REAL CAPTCHA CAPTCHA_PORT

.PHONY: venv system-deps node-deps test lint format run package bench fuzz load smoke clean

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(BASE_PYTHON) -m venv $(VENV)
	@$(PY) -c 'import sys; v=sys.version_info[:2]; v == (3, 10) or print(f"warning: tests run on Python {v[0]}.{v[1]}; FC runs 3.10")'
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

system-deps:
	@tools/system-deps.sh

node-deps: tests/spec/node_modules/.package-lock.json
tests/spec/node_modules/.package-lock.json: tests/spec/package.json tests/spec/package-lock.json
	cd tests/spec && npm ci --no-audit --no-fund --loglevel=error

test: venv system-deps node-deps
	$(PY) -m pytest $(PYTEST_ARGS)

run: venv
	$(PY) -m local.stack

# FC's code directory: function/ plus dependencies, compiled by Python 3.10.
package:
	@PY310="$$(tools/python310.sh)" && "$$PY310" tools/package.py

# make bench [BENCH_ARGS="--rounds 4 --configs default"]: the function against the bare SDK
bench: venv system-deps
	$(PY) -m tools.bench $(BENCH_ARGS)

# make fuzz [FUZZ_EXAMPLES=12000]: property-based fuzzing of the handler at full size
fuzz: venv
	FUZZ_EXAMPLES=$(or $(FUZZ_EXAMPLES),12000) $(PY) -m pytest -q tests/test_fuzz.py --timeout=1800

# make load [LOAD_ARGS=...]: 20,000 sends through the local runtime, then the limits on Redis
load: venv system-deps
	$(PY) tools/load.py --sends 20000 --clients 16 --limits $(LOAD_ARGS)

# make smoke URL=https://<trigger or domain> TOKEN=<a SEND_TOKENS entry> [TO=you@example.com]
smoke: venv
	@test -n "$(URL)" || { echo "usage: make smoke URL=... TOKEN=... [TO=...]" >&2; exit 2; }
	$(PY) -m tools.invoke --url "$(URL)" --token "$(TOKEN)" --to "$(or $(TO),smoke@example.com)"

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: venv
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache test-artifacts
