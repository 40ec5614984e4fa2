# Every target installs what it needs into .venv first (a fresh clone needs nothing else).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck schemas bench synth cfn-lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/drs-orch demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy orchestrator events handlers localcloud infra
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy orchestrator events handlers localcloud infra

schemas: $(STAMP)
	$(BIN)/python -m events.generate
	$(BIN)/python -m orchestrator.plan.schema

bench: $(STAMP)
	$(BIN)/python bench/overhead.py

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .mypy_cache .ruff_cache
