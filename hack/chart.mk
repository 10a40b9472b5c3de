# Helm chart and CRDs (issue #4). The models in operator/mes_operator/models are the
# source; crds/ and charts/holon/templates/crd-*.yaml are generated from them.

HELM ?= $(shell command -v helm 2>/dev/null || ls $(HOME)/.cache/holon/bin/*/helm 2>/dev/null | head -n1)

##@ Chart

.PHONY: crds
crds: setup ## Regenerate crds/ from the typed models and the chart's CRD templates from crds/.
	@PYTHONPATH=operator $(PY) -m mes_operator.crdgen

.PHONY: chart-check
chart-check: setup ## Fail when crds/ or the chart's CRDs drift from the models; helm lint --strict; promtool check rules and the dashboard lint.
	@PYTHONPATH=operator $(PY) -m mes_operator.crdgen --check
	@$(PY) -m hack.monitoring_check
	@if [ -n "$(HELM)" ]; then "$(HELM)" lint --strict charts/holon; \
	  else echo "helm not found: skipped helm lint (make cluster builds one)"; fi
