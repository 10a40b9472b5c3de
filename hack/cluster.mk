# Local Kubernetes test cluster (issue #3): built from Go modules, run on 127.0.0.1.
# Binaries are cached in ~/.cache/holon/bin/<versions-hash>/, state lives in .holon/cluster/.
CLUSTER        ?= local
NODES          ?= 3
REAL_NODE      ?= 1
CLUSTER_PY     := python3 -m hack.cluster.cluster

##@ Cluster

.PHONY: cluster
cluster: ## Build (once, cached) and start the test cluster, or reuse it. CLUSTER=kind, NODES=3, REAL_NODE=0 (kwok only).
ifeq ($(CLUSTER),kind)
	@$(CLUSTER_PY) up --kind
else
	@$(CLUSTER_PY) up --nodes $(NODES) $(if $(filter 0,$(REAL_NODE)),--no-real-node)
endif

.PHONY: cluster-build
cluster-build: ## Only build (or find cached) the cluster binaries; prints the cold build time.
	@$(CLUSTER_PY) build

.PHONY: cluster-down
cluster-down: ## Stop every cluster process and remove the cluster state (.holon/cluster).
	@$(CLUSTER_PY) down

.PHONY: cluster-status
cluster-status: ## Show the cluster components, nodes and the KUBECONFIG line.
	@$(CLUSTER_PY) status

.PHONY: cluster-env
cluster-env: ## Print `export KUBECONFIG=...` for the running cluster (eval "$(make -s cluster-env)").
	@$(CLUSTER_PY) env
