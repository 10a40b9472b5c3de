"""Holon's OCI images without Docker (``python3 -m hack.images.build``); stdlib only."""
