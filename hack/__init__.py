"""Holon's tooling: the local cluster, the images, the demo cluster and the chart checks.

Run from the repository root as modules (``python3 -m hack.cluster.cluster up``); what
runs before the virtualenv exists (setup, cluster, images as root) uses the stdlib only.
"""
