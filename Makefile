# Every target installs what it needs into .venv first (a fresh clone needs nothing else): exactly the
# versions of requirements/dev.lock, each file checked against its sha256 there, then this project itself (through
# uv, itself installed hash-checked from requirements/bootstrap.lock).
# The lock (and requirements/lambda.lock, what the Lambda bundle installs) move only by `make upgrade`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/dev.lock
LAMBDA_LOCK := requirements/lambda.lock
BOOTSTRAP_LOCK := requirements/bootstrap.lock
# checkov (the IaC scan of `make test`) pins boto3 and others at versions of its own: it gets a venv of its own
CHECKOV_VENV := .venv-checkov
CHECKOV_LOCK := requirements/checkov.lock
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# our packages, as mypy and the complexity gate check them
SOURCES := orchestrator drs_orch events handlers localcloud infra

.PHONY: demo test test-scale lint typecheck complexity schemas bench synth cfn-lint checkov clean chaos upgrade browser

# --no-build-isolation: the editable install builds with the lock's setuptools, not whatever PyPI has today.
# The installs go through uv (pinned with its hashes in requirements/bootstrap.lock, installed by pip): the same
# hash-checked locks, about 4 times faster than pip on a fresh machine (uv downloads and unpacks in parallel).
$(STAMP): $(LOCK) $(BOOTSTRAP_LOCK) pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(BOOTSTRAP_LOCK)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r $(LOCK)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(CHECKOV_STAMP): $(CHECKOV_LOCK) $(STAMP)
	test -x $(CHECKOV_VENV)/bin/python || $(PY) -m venv --without-pip $(CHECKOV_VENV)
	$(BIN)/uv pip install --quiet --python $(CHECKOV_VENV)/bin/python --require-hashes --no-deps -r $(CHECKOV_LOCK)
	touch $(CHECKOV_STAMP)

# Re-resolve to the newest versions pyproject.toml's ranges (and requirements/*.in) allow, and rewrite both
# locks with the hash of every file of each pinned version (so one lock serves every platform: the dev lock is
# universal, the Lambda lock is resolved for Python 3.12 on arm64 at the dev lock's versions). The next
# `make` target reinstalls .venv from the new lock. `make upgrade PACKAGE=boto3` moves only that package
# (and what it needs); after editing pyproject.toml's ranges, run one of the two.
UV_VERSION := 0.13.8
UPGRADE := $(if $(PACKAGE),--upgrade-package $(PACKAGE),--upgrade)
upgrade:
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	echo 'uv==$(UV_VERSION)' | $(BIN)/uv pip compile --quiet --universal --generate-hashes \
		--custom-compile-command 'make upgrade' - -o $(BOOTSTRAP_LOCK)
	$(BIN)/uv pip compile --quiet $(UPGRADE) --universal --generate-hashes --custom-compile-command 'make upgrade' \
		--extra dev pyproject.toml requirements/dev.in -o $(LOCK)
	$(BIN)/uv pip compile --quiet $(UPGRADE) --python-platform aarch64-manylinux2014 --python-version 3.12 \
		--generate-hashes --custom-compile-command 'make upgrade' -c $(LOCK) requirements/lambda.in -o $(LAMBDA_LOCK)
	$(BIN)/uv pip compile --quiet $(UPGRADE) --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command 'make upgrade' requirements/checkov.in -o $(CHECKOV_LOCK)

demo: $(STAMP)
	$(BIN)/drs-orch demo

# `make test`: the CDK synth with the real bundling, cfn-lint and checkov of its templates (~20 s warm, ~30 s cold),
# the complexity gate, ruff (lint and the formatter's check), mypy, then the whole test suite on two processes.
# Its checks are prerequisites, so `make -j2 test` (what CI runs) does mypy beside the synth and its scans.
test: lint typecheck cfn-lint checkov complexity browser
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

# The end-to-end runs at scale (marked slow: a wave of 2,000 and of 5,000 servers, a failed wave of 2,000, a stored
# plan of 4,000; about 6 minutes on two workers), kept out of `make test` so that CI stays within its 15 minutes.
test-scale: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -m slow

# The headless browser the evidence report is checked in (tests/browser/, tests/e2e/test_evidence_html.py): Debian's
# chromium package, installed when missing (CI runs as root; elsewhere through sudo). Under CI those tests fail
# without it; elsewhere they are skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		sudo=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends chromium; }

# The complexity gate: no function ranked worse than C by radon (cyclomatic complexity above 20): split such a
# function into named helpers. radon exits 0 whatever it finds, so the gate fails when it prints anything.
complexity: $(STAMP)
	@found="$$($(BIN)/radon cc -n D -s $(SOURCES))" || exit 1; \
	test -z "$$found" || { echo "radon ranks these functions D or worse (split each into named helpers):"; \
		echo "$$found"; exit 1; }

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
	$(BIN)/mypy $(SOURCES)

schemas: $(STAMP)
	$(BIN)/python -m events.generate
	$(BIN)/python -m orchestrator.domain.plan.schema

bench: $(STAMP)
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/scale.py --layers 2 --width 30 --launch-seconds 600
	$(BIN)/python bench/scale.py --layers 4 --width 50 --servers 20 --stored --target-seconds 60
	$(BIN)/python bench/cost.py
	$(BIN)/python bench/moto_calls.py
	$(BIN)/python bench/region_failover.py --wide
	$(BIN)/python bench/region_failover.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) cdk.out .pytest_cache .mypy_cache .ruff_cache

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

# The offline IaC scan of the templates (checkov, CloudFormation checks only; the skipped checks and why each is
# skipped are in infra/checkov.yaml), from requirements/checkov.lock in .venv-checkov (a few seconds to install once, through uv).
checkov: synth $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --config-file infra/checkov.yaml \
		$$(for t in cdk.out/*.template.json; do printf -- '-f %s ' "$$t"; done)
