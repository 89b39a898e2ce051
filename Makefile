# The two commands of the README: `make demo` (main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test setup lint format gpu-test

setup:
	@bash scripts/setup_env.sh

demo: setup
	$(PY) -m gan.cli demo

test: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest -q

lint: setup
	$(PY) -m ruff check . && $(PY) -m ruff format --check . && $(PY) -m mypy

format: setup
	$(PY) -m ruff format . && $(PY) -m ruff check --fix .

gpu-test: setup
	$(PY) -m pytest -q -m gpu
