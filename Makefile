# Two commands on a fresh machine: `make chat` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# pip, not uv/poetry: pip takes the pinned CPU build of torch from this machine's disk.
PIP    := $(BIN)/python -m pip

.PHONY: chat test install dev lint bench serve clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.installed
	$(PIP) install --quiet -e ".[dev]"
	@touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev

## make chat: install, prepare the default data and models, open the REPL on the embedded server
chat: install
	$(BIN)/dialog setup
	$(BIN)/dialog chat

## make test: install dev dependencies, lint, check the packages' layering and the types, run the whole suite
test: dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/turn_latency.py

serve: install
	$(BIN)/dialog serve

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
