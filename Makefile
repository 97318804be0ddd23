# eddy's entry points. Each target works from a fresh clone: it creates the
# virtual environment and builds the pinned tools when they are missing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Symlinks into the tool cache (outside the repository), found by eddy_testenv.
TOOLS_BIN := $(CURDIR)/.tools/bin
export EDDY_TOOLS_BIN := $(TOOLS_BIN)
export PATH := $(TOOLS_BIN):$(PATH)

.PHONY: all venv tools system-deps test check lint type unit integration e2e demo crds bench-runtime bench-kustomize bench-source clean

all: test

$(BIN)/.installed: pyproject.toml
	@echo "==> Python environment ($(VENV))"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,dev]'
	@touch $@

venv: $(BIN)/.installed

tools:
	@hack/tools.sh link $(TOOLS_BIN)

system-deps:
	@hack/system-deps.sh

## The test command: lint, types, then every test suite against a real control plane.
test: venv tools system-deps check
	$(BIN)/pytest tests/unit tests/integration tests/e2e

check: lint type

lint: venv
	$(BIN)/ruff check libs controllers tests bench hack
	$(BIN)/ruff format --check libs controllers tests bench hack

type: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest tests/unit

integration: venv tools system-deps
	$(BIN)/pytest tests/integration

e2e: venv tools system-deps
	$(BIN)/pytest tests/e2e

## The demo: a local control plane, shown working through kubectl.
demo: venv tools system-deps
	$(BIN)/python hack/demo.py

crds: venv
	$(BIN)/python -m eddy_api.crdgen manifests/crds

## Benchmarks print their figures; they are not part of `make test`.
bench-runtime: venv tools
	$(BIN)/python bench/runtime.py

bench-kustomize: venv tools
	$(BIN)/python bench/kustomize.py

bench-source: venv tools system-deps
	$(BIN)/python bench/source_scale.py 100 1000
	$(BIN)/python bench/source_bigrepo.py 2

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
