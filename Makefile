# Two commands set everything up on a fresh machine (Python 3.11):
#   make run    venv + install + migrate + serve on http://127.0.0.1:7860 (PORT, STUDIO_DATA_DIR)
#   make test   venv + dev extras + lint + types + the whole test suite
#   make test-fast   lint + types + the suite without browser, deploy and farm tests
#   make fmt    ruff --fix and ruff format over the tree
#   make images the single and app images with Docker or podman; make image-worker: the GPU one
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ML_STAMP := $(VENV)/.installed-ml
# Deploy validators (cfn-lint, checkov) live in their own venv: checkov pins an old boto3.
TOOLS ?= .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run run-ml ml test test-fast fmt lint lint-aws typecheck demo bench clean images image-worker

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

$(TOOLS_STAMP): deploy/aws/requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q --upgrade pip
	$(TOOLS)/bin/pip install -q -r deploy/aws/requirements-tools.txt
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

lint-aws: $(TOOLS_STAMP)
	$(TOOLS)/bin/cfn-lint --config-file deploy/aws/.cfnlintrc -- deploy/aws/stack.yaml deploy/aws/templates/*.yaml
	$(TOOLS)/bin/checkov -d deploy/aws --framework cloudformation --skip-download --quiet --compact

test: $(DEV_STAMP) $(TOOLS_STAMP) lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The inner loop: no Chromium, no container or AWS validators, no multi-process render farm.
test-fast: $(DEV_STAMP) lint typecheck
	$(BIN)/python -m pytest -m "not e2e and not deploy and not farm" $(PYTEST_ARGS)

fmt: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Container images (deploy/images.py, standard library only): Docker when its daemon answers,
# else podman; the Dockerfiles' base when a registry serves it, else a local Debian base made
# with debootstrap. The GPU worker (torch with CUDA from PyPI, ~10 GB) is its own target.
images:
	$(PYTHON) deploy/images.py single app

image-worker:
	$(PYTHON) deploy/images.py worker

demo: $(STAMP)
	$(BIN)/python -m studio demo --script examples/script.txt --out data/demo.mp4

bench: $(STAMP)
	$(BIN)/python benchmarks/assemble.py

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
