# SeaweedFS (Apache-2.0): the S3-compatible object store of the backup tests and the local
# cluster, built once from its Go module into ~/.cache/holon/bin/seaweedfs-*/weed.

##@ Object store

.PHONY: seaweedfs
seaweedfs: ## Build (once, cached) SeaweedFS's weed from its Go module; prints its path.
	@python3 -m hack.cluster.seaweedfs build
