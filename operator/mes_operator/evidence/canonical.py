"""Canonical JSON (RFC 8785, JCS) and the digests the package format uses."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

__all__ = ["canonical", "digest", "is_canonical", "sha256_hex"]


def canonical(value: Any) -> bytes:
    """``value`` as RFC 8785 canonical JSON (UTF-8, sorted keys, no whitespace)."""
    return rfc8785.dumps(value)


def is_canonical(data: bytes) -> bool:
    """Whether ``data`` is JSON written exactly as :func:`canonical` would write it."""
    try:
        return canonical(json.loads(data)) == data
    except (ValueError, rfc8785.CanonicalizationError):
        return False


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data`` (as ``sha256sum`` prints it)."""
    return hashlib.sha256(data).hexdigest()


def digest(data: bytes) -> str:
    """``sha256:<hex>``: how a package digest is written in resources and in the chain."""
    return f"sha256:{sha256_hex(data)}"
