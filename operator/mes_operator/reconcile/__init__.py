"""Reconcile loops: small named steps from observed state to desired state (I/O here)."""
