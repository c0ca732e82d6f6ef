# datastrata: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test test-full lint typecheck bench serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[all]'
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/datastrata tour
	@echo "datastrata is installed in $(BIN): run '. $(BIN)/activate' to put it on your PATH (see README, Use it)"

test: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/mypy
	$(BIN)/pytest -q -n auto --dist loadfile --durations=30

test-full: $(STAMP)
	DATASTRATA_FULL=1 $(BIN)/pytest -q -n auto --dist loadfile --durations=30

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/ruff format --check src tests $(wildcard benchmarks)

typecheck: $(STAMP)
	$(BIN)/mypy

# Benchmarks seal personal fields: a throwaway platform key unless one is set (their stores are thrown away).
bench: export DATASTRATA_TENANT_SECRET_KEY ?= $(shell $(PYTHON) -c 'import base64,secrets; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())')
bench: $(STAMP)
	@for script in $(filter-out benchmarks/tiering_%.py benchmarks/tenancy_%.py benchmarks/parts.py,$(wildcard benchmarks/*.py)); do echo "== $$script"; $(BIN)/python $$script --quick; done

serve: $(VENV)/.installed
	$(BIN)/datastrata serve

clean:
	rm -rf $(VENV) .datastrata .pytest_cache .mypy_cache .ruff_cache
