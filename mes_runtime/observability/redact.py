"""Removing secrets from log text (pure).

Two nets, because either alone misses something:

* **known values**: secrets the process holds (the database password, a client secret)
  are registered at start-up and replaced wherever they appear, in any shape;
* **shapes**: credentials in URLs (``scheme://user:password@host``), ``Bearer`` tokens,
  JWTs, and ``password=...``/``"token": "..."`` pairs are masked even when nobody
  registered them (a user's password typed into a request, a token in an error message).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["MASK", "Redactor"]

MASK = "***"

_URL_CREDENTIALS = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/?#@\s]*:)[^@/\s]+@")
_BEARER = re.compile(r"(?i)\b(?P<head>bearer\s+)[A-Za-z0-9\-._~+/]+=*")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
_SECRET_KEY = re.compile(r"(?i)password|passwd|secret|token|api[_\-]?key|authorization")
_PAIR = re.compile(
    r"(?i)(?P<head>[\"']?\b[\w\-]*(?:password|passwd|secret|token|api[_\-]?key|authorization)"
    r"[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\"'\s,;&}]+)"
)


class Redactor:
    """Masks registered secret values and credential-shaped text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.register(secret)

    def register(self, secret: str | None) -> None:
        """Mask this value from now on (values shorter than 4 characters are ignored:
        masking every "ab" in the log would hide everything and protect nothing)."""
        if secret and len(secret) >= 4:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        text = _URL_CREDENTIALS.sub(lambda m: m["head"] + MASK + "@", text)
        text = _BEARER.sub(lambda m: m["head"] + MASK, text)
        text = _JWT.sub(MASK, text)
        return _PAIR.sub(lambda m: m["head"] + MASK, text)

    def field(self, key: str, value: Any) -> Any:
        """A structured field's value, masked: wholly when the key names a secret, else
        its text (numbers and booleans pass unchanged, anything else becomes text)."""
        if _SECRET_KEY.search(key):
            return MASK
        if value is None or isinstance(value, bool | int | float):
            return value
        return self(value if isinstance(value, str) else str(value))
