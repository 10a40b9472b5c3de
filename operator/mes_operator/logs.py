"""The operator's log lines: JSON with timestamp, level, logger, message and the object.

The same shape as the runtime's (``mes_runtime.observability.logs``): one collector query
reads both. kopf knows which object a line is about and passes it as ``object``
(apiVersion, kind, namespace, name, uid); a line written while the upgrade machine steps
a module also names the upgrade (phase, from and to version: :func:`upgrade_logged`).
Credentials in URLs and bearer tokens are masked: the operator holds no plant secrets, but
an API error may quote a request.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import kopf

__all__ = ["JsonLines", "configure_logging", "upgrade_logged"]

_UPGRADE: ContextVar[Mapping[str, str] | None] = ContextVar("holon_upgrade", default=None)

_URL_CREDENTIALS = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/?#@\s]*:)[^@/\s]+@")
_BEARER = re.compile(r"(?i)\b(?P<head>bearer\s+)[A-Za-z0-9\-._~+/]+=*")


def mask(text: str) -> str:
    """``text`` with URL passwords and bearer tokens replaced by ``***``."""
    text = _URL_CREDENTIALS.sub(lambda m: m["head"] + "***@", text)
    return _BEARER.sub(lambda m: m["head"] + "***", text)


class JsonLines(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        ref = getattr(record, "k8s_ref", None)
        if ref:
            line["object"] = ref
        upgrade = _UPGRADE.get()
        if upgrade:
            line["upgrade"] = dict(upgrade)
        if record.exc_info:
            line["exception"] = mask(self.formatException(record.exc_info))
        return json.dumps(line, default=str, ensure_ascii=False)


@contextmanager
def upgrade_logged(phase: str, from_version: str, to_version: str) -> Iterator[None]:
    """Every line logged inside (in this task, and in what it awaits) names the upgrade's
    phase and versions."""
    token = _UPGRADE.set({"phase": phase, "fromVersion": from_version, "toVersion": to_version})
    try:
        yield
    finally:
        _UPGRADE.reset(token)


def configure_logging(*, verbose: bool, json_lines: bool) -> None:
    """kopf's logging set-up (levels, handler), with our JSON lines when asked."""
    kopf.configure(verbose=verbose)
    if json_lines:
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonLines())
