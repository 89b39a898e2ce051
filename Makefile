# The two commands of the README: `make demo` (main job) and `make test`; `make docs` builds
# the documentation site (CI runs it after the tests).
VENV ?= .venv
PY := $(VENV)/bin/python
DOCS_OUT ?= docs/_build/html

.PHONY: demo test setup lint format gpu-test docs docs-clean

setup:
	@bash scripts/setup_env.sh

demo: setup
	$(PY) -m gan.cli demo

test: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest -q -n auto  # one worker per core, the same examples each run

lint: setup
	$(PY) -m ruff check . && $(PY) -m ruff format --check . && $(PY) -m mypy

format: setup
	$(PY) -m ruff format . && $(PY) -m ruff check --fix .

gpu-test: setup
	$(PY) -m pytest -q -m gpu

# warnings are errors; every gallery example is executed
docs:
	@EXTRAS=docs VENV=$(VENV) bash scripts/setup_env.sh
	$(PY) -m sphinx -b html -W --keep-going -q docs $(DOCS_OUT)
	@echo "documentation: $(DOCS_OUT)/index.html"

docs-clean:
	rm -rf docs/_build docs/api docs/auto_examples docs/sg_execution_times.rst
