# Dex (Apache-2.0): the OpenID Connect provider the sign-in tests run (holon_testing/dex.py),
# built once from its Go module into ~/.cache/holon/bin/dex-*/dex.

##@ Identity provider

.PHONY: dex
dex: ## Build (once, cached) Dex, the OpenID Connect provider of the tests; prints its path.
	@python3 -m hack.cluster.dex build
