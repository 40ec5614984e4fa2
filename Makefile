# Every target installs what it needs into .venv first (a fresh clone needs nothing else).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck schemas bench synth cfn-lint clean chaos

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/drs-orch demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy orchestrator drs_orch events handlers localcloud infra
	$(BIN)/python -m pytest -n 2 -q

# The randomized, model-checked campaign (README "make chaos"): SEEDS seeds from START on WORKERS processes.
SEEDS ?= 1000
START ?= 0
WORKERS ?= 2

chaos: $(STAMP)
	$(BIN)/python -m tests.chaos.campaign --seeds $(SEEDS) --start $(START) --workers $(WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy orchestrator drs_orch events handlers localcloud infra

schemas: $(STAMP)
	$(BIN)/python -m events.generate
	$(BIN)/python -m orchestrator.domain.plan.schema

bench: $(STAMP)
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/scale.py --layers 2 --width 30 --launch-seconds 600
	$(BIN)/python bench/cost.py
	$(BIN)/python bench/moto_calls.py

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .mypy_cache .ruff_cache

# ---- infrastructure (CDK): synth without the CDK CLI, then lint the templates ----------------------
# jsii's banner about Node 20's end of life is noise here (Node 20 is what these machines have).
CDK_ENV := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
# cfn-lint checks ignored because they are known false positives on CDK output, each with its reason:
#   W3005 (redundant DependsOn): CDK makes every Lambda function and state machine DependsOn its role
#         *and* the role's DefaultPolicy so the grants exist before the first invocation; the role half
#         duplicates the GetAtt. Harmless, emitted by aws-cdk-lib itself (aws/aws-cdk#16891 family).
CFN_LINT_IGNORES := --ignore-checks W3005

synth: $(STAMP)
	$(CDK_ENV) $(BIN)/python -m infra.app

cfn-lint: synth
	$(BIN)/cfn-lint $(CFN_LINT_IGNORES) -- cdk.out/*.template.json

# `make test` also synthesizes with the real bundling and lints the template (~20 s warm, ~30 s cold).
test: cfn-lint
