"""The operator's edge to the Kubernetes API (lightkube, async)."""
