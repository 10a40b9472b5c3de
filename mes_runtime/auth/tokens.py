"""Opaque bearer tokens: random, shown once, stored only as their sha256."""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["new_token", "token_digest"]


def new_token() -> tuple[str, str]:
    """A fresh ``(token, sha256 hex)`` pair; persist only the digest."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
