# Branch Kiosk: the README's commands. Works on a fresh Debian/Ubuntu as root with only Python 3.11+.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages the tests drive for real: the browser, SANE's test backend, the TURN server,
# iproute2/util-linux for the loopback-only network namespace the suite runs in, and openssl and
# zbarimg (zbar-tools) as independent checkers of the tenant CA's certificates and the enrolment QR,
# and poppler-utils (pdfsig, pdfdetach) as the independent checker of signed contracts.
SYSTEM_PACKAGES := chromium sane-utils coturn iproute2 util-linux openssl zbar-tools poppler-utils
PYTEST_ARGS ?=
PIP_VERSION := 26.3
# The console's JS tools (eslint, tsc) at the versions pinned by package-lock.json.
NODE_STAMP := node_modules/.installed
# On a Pi: VENV_ARGS=--system-site-packages, so picamera2 sees the libcamera bindings from apt.
VENV_ARGS ?=

.PHONY: demo test lint typecheck unit bench system-deps venv clean

# Hub, one simulated kiosk and the console URL. Runs from the source tree (as a module, so that
# testbed/, its network-namespace tooling, is importable: it is not in the wheel).
demo: $(STAMP)
	$(PY) -m scripts.demo

# Everything: the tools the tests drive, lint, types, then the whole suite on loopback only.
test: system-deps $(STAMP) lint typecheck
	scripts/loopback-only $(PY) -m pytest $(PYTEST_ARGS)

# The suite without the browser and multi-process journeys (pytest -m "not e2e").
unit: $(STAMP)
	scripts/loopback-only $(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

# ruff (style, SLF: no reaching into privates, RUF100: no stale noqa) and the import contracts
# of pyproject.toml (lint-imports: the README's import directions); then the console's JS:
# eslint (eslint.config.mjs) and tsc checking its JSDoc types (tsconfig.json, strict, no output).
lint: $(STAMP) $(NODE_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-logo --no-cache
	node_modules/.bin/eslint hub/web
	node_modules/.bin/tsc -p tsconfig.json

# mypy --strict on the packages listed in pyproject.toml.
typecheck: $(STAMP)
	$(VENV)/bin/mypy

# Every `python -m bench NAME --json` (project and baseline side by side), on loopback only.
bench: system-deps $(STAMP)
	for b in call wipe pen ui transfer reconnect storage enrol signature stats; do scripts/loopback-only $(PY) -m bench $$b --json || exit 1; done

venv: $(STAMP)

# The venv is rebuilt whenever the dependency declarations change; versions come from the
# constraints file so a fresh machine gets exactly what CI tested.
$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed"'
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || scripts/apt-install python3-venv
	$(PYTHON) -m venv $(VENV_ARGS) $(VENV)
	$(PY) -m pip install --quiet pip==$(PIP_VERSION)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Node.js from Debian only when the commands are missing (a nodejs that bundles npm must not get
# Debian's npm over it); the tools from the lock file, without running any package's scripts.
$(NODE_STAMP): package.json package-lock.json
	@command -v node >/dev/null || scripts/apt-install nodejs
	@command -v npm >/dev/null || scripts/apt-install npm
	npm ci --ignore-scripts --no-audit --no-fund
	touch $(NODE_STAMP)

# The Debian packages the tests drive for real, installed when missing.
system-deps:
	@scripts/apt-install $(SYSTEM_PACKAGES)

clean:
	rm -rf $(VENV) node_modules var .mypy_cache .ruff_cache .pytest_cache .hypothesis
