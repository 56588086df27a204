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

.PHONY: demo test test-images lint typecheck unit bench system-deps venv clean image

# Hub, one simulated kiosk and the console URL. Runs from the source tree (as a module, so that
# testbed/, its network-namespace tooling, is importable: it is not in the wheel).
demo: $(STAMP)
	$(PY) -m scripts.demo

# Everything: the tools the tests drive, the images the booted tests use, lint, types, then the
# whole suite on loopback only.
test: system-deps $(STAMP) test-images lint typecheck
	scripts/loopback-only $(PY) -m pytest $(PYTEST_ARGS)

# The images tests/image boots (amd64, QEMU) and inspects (arm64, in a chroot under qemu-user),
# built before the suite and outside scripts/loopback-only: a cold cache needs Debian's mirror and
# PyPI. A no-op when var/image holds images of the same inputs (image/README.md, "Caches").
# QEMU, its UEFI firmware and qemu-img/qemu-io boot them; mtools writes the test's kiosk.toml.
TEST_IMAGE_PACKAGES := qemu-system-x86 qemu-utils ovmf mtools fdisk qemu-user-static
test-images: $(STAMP)
	@scripts/apt-install $(TEST_IMAGE_PACKAGES)
	$(MAKE) --no-print-directory image ARCH=amd64
	$(MAKE) --no-print-directory image ARCH=arm64

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
bench: system-deps $(STAMP) test-images
	$(MAKE) --no-print-directory image ARCH=amd64 IMAGE_VARIANT=baseline
	for b in call wipe pen ui transfer reconnect storage enrol signature stats boot; do scripts/loopback-only $(PY) -m bench $$b --json || exit 1; done

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

# The bootable disk image (image/README.md): var/image/$(IMAGE_VARIANT)-$(ARCH).img. Outside
# scripts/loopback-only: it needs Debian's mirror (and PyPI) on a cold cache; a no-op on a cache hit.
ARCH ?= $(shell dpkg --print-architecture)
# kiosk, or baseline: the same minimal Debian without the kiosk (`bench boot`'s comparison).
IMAGE_VARIANT ?= kiosk
# mmdebstrap builds the root; sfdisk (fdisk), mkfs.vfat (dosfstools), mcopy (mtools) and
# mke2fs (e2fsprogs) assemble the disk in plain files; zstd compresses the kernel modules;
# qemu-user-static runs a foreign ARCH's chroot.
IMAGE_PACKAGES := mmdebstrap arch-test fdisk dosfstools mtools e2fsprogs zstd \
	$(if $(filter-out $(shell dpkg --print-architecture),$(ARCH)),qemu-user-static)

image: $(STAMP)
	@scripts/apt-install $(IMAGE_PACKAGES)
	image/build.sh $(ARCH) $(IMAGE_VARIANT)

# The Debian packages the tests drive for real, installed when missing.
system-deps:
	@scripts/apt-install $(SYSTEM_PACKAGES)

clean:
	rm -rf $(VENV) node_modules var .mypy_cache .ruff_cache .pytest_cache .hypothesis
