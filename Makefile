# Two commands set everything up on a fresh machine (Python 3.11):
#   make run    venv + install + migrate + serve on http://127.0.0.1:7860 (PORT, STUDIO_DATA_DIR)
#   make test   venv + dev extras + lint + types + the whole test suite
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ML_STAMP := $(VENV)/.installed-ml
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run run-ml ml test lint typecheck demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(ML_STAMP): requirements-ml.txt $(STAMP)
	$(BIN)/pip install -q -r requirements-ml.txt
	touch $@

$(DEV_STAMP): requirements-dev.txt $(ML_STAMP)
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

run: $(STAMP)
	$(BIN)/python -m studio db upgrade
	$(BIN)/python -m studio serve

# Same as run, with torch + diffusers for real pipelines (configs/pipelines.yaml).
run-ml: $(ML_STAMP)
	$(BIN)/python -m studio db upgrade
	$(BIN)/python -m studio serve

ml: $(ML_STAMP)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

test: $(DEV_STAMP) lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/python -m studio demo --script examples/script.txt --out data/demo.mp4

bench: $(STAMP)
	$(BIN)/python benchmarks/assemble.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
