# edgeshop: `make run` starts the demo store, `make test` runs the whole suite. Both set up .venv themselves.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "edgeshop needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/wrangler-py dev

test: $(VENV)/.installed-dev lint
	scripts/ensure-chromium.sh
	. scripts/ensure-redis.sh && $(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy cdn connectors edge origin storefront wrangler_py

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(VENV)/.installed $(VENV)/.installed-dev $@

# edge_hit.py compares the edge with nginx and with the bare floor under uvicorn, granian and hypercorn (the
# `bench` extra); edge_tiers.py needs Redis (the one on 127.0.0.1:6379, or a throwaway one).
bench: $(VENV)/.installed-bench
	command -v wrk >/dev/null && (command -v nginx || test -x /usr/sbin/nginx) >/dev/null || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light)
	$(BIN)/python bench/origin_render.py
	$(BIN)/python bench/edge_hit.py
	. scripts/ensure-redis.sh && $(BIN)/python bench/edge_tiers.py --redis-url "$$EDGESHOP_TEST_REDIS_URL"

clean:
	rm -rf $(VENV) .edgeshop .pytest_cache
