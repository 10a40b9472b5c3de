# OCI images without Docker (issue #5): Debian base by debootstrap, the project's wheel with
# its locked dependencies, a static pause binary. Cached in ~/.cache/holon/images/ (rebuilt only
# when inputs change); archives land in ~/.cache/holon/images/oci/. Needs root (debootstrap).
# IMAGES_IMPORT=/run/containerd/containerd.sock also imports them into that containerd.
IMAGES_IMPORT    ?=
IMAGES_NAMESPACE ?= k8s.io
IMAGES_ARGS      ?= $(if $(IMAGES_IMPORT),--import-address $(IMAGES_IMPORT) --namespace $(IMAGES_NAMESPACE))

##@ Images

.PHONY: images
images: ## Build the OCI images (runtime, operator, pause) without Docker; cached. IMAGES_IMPORT=SOCKET imports them.
	@python3 -m hack.images.build $(IMAGES_ARGS)
