"""The local Kubernetes test cluster (``python3 -m hack.cluster.cluster``); stdlib only."""
