"""Holon operator: zero-downtime lifecycle of MES modules on Kubernetes (kopf)."""

__version__ = "0.2.0"

__all__ = ["__version__"]
