# Holon — run `make help` for the list of targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV      ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
# `pip install --user uv` (hack/setup.sh on a fresh machine) lands in ~/.local/bin, which
# is not always on PATH; scripts started from make (images, cluster) find it there
export PATH := $(HOME)/.local/bin:$(PATH)
PY      := .venv/bin/python
PYTEST  := .venv/bin/pytest
# test-fast's worker processes (pytest-xdist): its slow tests mostly wait on processes,
# OPC UA and PostgreSQL, so 4 workers on 2 cores take ~12 min instead of ~31 (`0` = serial)
TEST_WORKERS ?= 4
STAMP   := .holon/setup.stamp

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	  /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Setup

.PHONY: setup
setup: $(STAMP) ## Install everything (Python deps via uv, PostgreSQL, Chromium). Idempotent.

$(STAMP): pyproject.toml uv.lock hack/setup.sh holon_testing/pea_node/package-lock.json
	@bash hack/setup.sh
	@mkdir -p $(dir $@) && touch $@

##@ Run

.PHONY: demo
demo: setup ## Simulator + runtime on SQLite, the mAb demo batch to completion, journal verified.
	@$(PY) -m mes_runtime.demo

.PHONY: demo-cluster
demo-cluster: setup ## The cluster with its real node, images, helm install, a MESModule + Equipment, the demo batch, the UI's URL.
	@$(PY) -m hack.demo_cluster

##@ Quality

.PHONY: lint
lint: setup ## ruff + mypy (strict on the packages) + import contracts (layers in pyproject.toml).
	@echo "==> ruff"; .venv/bin/ruff check .
	@echo "==> ruff format --check"; .venv/bin/ruff format --check .
	@echo "==> mypy"; .venv/bin/mypy
	@echo "==> lint-imports"; .venv/bin/lint-imports --no-cache --no-logo

.PHONY: test-fast
test-fast: setup ## Unit and integration tests (no cluster; TEST_WORKERS=4 processes).
	@$(PYTEST) -q --durations=25 -n $(TEST_WORKERS) --dist worksteal

.PHONY: test
test: prebuild lint test-fast test-e2e chart-check ## Everything CI runs: lint, unit/integration, end-to-end, chart.

# The cluster's binaries and the images are cold builds on a fresh machine (~25 and ~5 min)
# that the e2e stage needs; lint and test-fast leave a core mostly idle, so `make test`
# starts both builds at once in the background at the lowest priority, and the e2e stage
# waits for what is left of them (saying so). Cached builds end in seconds.
.PHONY: prebuild
prebuild: setup ## Start the cluster's and the images' builds in the background (niced; logs in .holon/prebuild/).
	@mkdir -p .holon/prebuild
	@echo "==> building the cluster binaries and the images in the background (logs: .holon/prebuild/)"
	@nohup nice -n 19 python3 -m hack.cluster.cluster build > .holon/prebuild/cluster.log 2>&1 &
	@if [ "$$(id -u)" -eq 0 ]; then \
	  PYTHONPATH=. nohup nice -n 19 python3 -m hack.images.build > .holon/prebuild/images.log 2>&1 & \
	fi

.PHONY: test-e2e
test-e2e: setup ## End-to-end tests against the local Kubernetes cluster.
	@$(PYTEST) -q --durations=15 -m e2e tests/e2e tests/bench tests/hack

##@ Benchmarks

.PHONY: bench
bench: setup ## Benchmarks: goals and recorded figures (bench/recorded.json); fails on a miss or a regression.
	@$(PY) -m bench

-include hack/cluster.mk
-include hack/images.mk
-include hack/chart.mk
-include hack/seaweedfs.mk
-include hack/dex.mk
