# The two commands of the README. Each creates .venv and installs the project on first use
# (and again whenever pyproject.toml changes); nothing else needs to be on the machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mutualaid demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The default run (CI's): everything but the long versions of tests that have a short one.
test: lint
	$(BIN)/pytest -m "not slow"

test-all: lint
	$(BIN)/pytest
