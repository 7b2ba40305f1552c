# certflow — every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: help install browser run up test test-unit bench proto contracts lint lock clean

## help: list the targets
help:
	@grep -E '^## ' $(MAKEFILE_LIST) | sed -e 's/^## /  make /' -e 's/: /\t/' | expand -t 24

## install: the virtualenv (.venv, with the `certflow` command) and the pinned node tools (node_modules)
install: $(PY_STAMP) $(NODE_STAMP)

# the whole Python tree from the lock (hash-checked), then the project itself without deps
$(PY_STAMP): pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --require-hashes -r requirements-dev.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

# pinned anvil (@foundry-rs/anvil ships the binary in a platform package) and solc
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## run: start everything, issue examples/graduates.csv end to end, print a summary, stop
run: install
	$(PY) -m devstack.demo

## up: like run, then keep the stack up until Ctrl-C
up: install
	$(PY) -m devstack.demo --keep-running

## browser: Debian's chromium for the page's browser tests (apt, once; playwright drives it, no download)
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing chromium (apt) for tests/e2e/test_verification_page.py"; \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y --no-install-recommends chromium \
		|| { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update && \
		     $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y --no-install-recommends chromium; }; \
	fi

## test: unit, integration (real PostgreSQL when CERTFLOW_TEST_DATABASE_URL is set) and e2e
test: install browser
	$(PY) -m pytest

## test-unit: the unit tests only (no servers)
test-unit: install
	$(PY) -m pytest tests/unit

## bench: graduation day, measured end to end (see bench/README.md for options)
bench: install
	$(PY) -m bench $(BENCH_ARGS)

## proto: regenerate certflow/v1 from protos/
proto: $(PY_STAMP)
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. protos/certflow/v1/*.proto

## contracts: rebuild the registry artifact with the pinned solc
contracts: $(NODE_STAMP)
	node contracts/compile.mjs

## lint: ruff check and format check, mypy, buf lint of the protos
lint: $(PY_STAMP) $(NODE_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	cd protos && ../node_modules/.bin/buf lint

## lock: re-pin the Python dependency tree (requirements.lock for images, -dev with the dev and cli extras)
lock: $(PY_STAMP)
	$(VENV)/bin/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links -o requirements.lock pyproject.toml
	$(VENV)/bin/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --extra dev --extra cli -o requirements-dev.lock pyproject.toml

## clean: remove local state (.state)
clean:
	rm -rf .state
