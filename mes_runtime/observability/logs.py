"""Structured logs: one JSON object per line, secrets masked.

Each line has ``timestamp`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, plus
the context known where the line was logged: anything passed as ``extra=`` (``batch_id``,
``path``, ``equipment`` ...), the values bound with :func:`log_context`, and the MES
module this process runs (``HOLON_MODULE``). ``exc_info`` becomes an ``exception`` field.
Every field goes through the :class:`~mes_runtime.observability.redact.Redactor` last, so
neither a message nor its context nor a traceback can carry a secret out.

``console`` is the human format (``make demo`` in a terminal): the same redaction.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from mes_runtime.observability.redact import Redactor

__all__ = ["JsonFormatter", "RedactingFormatter", "configure_logging", "log_context"]

_CONTEXT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "holon_log_context", default=None
)
# attributes every LogRecord has: whatever else a record carries came from ``extra=``
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


@contextlib.contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Add ``values`` to every line logged inside the block (this task and its children)."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **values})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, redacted."""

    def __init__(self, redactor: Redactor, *, static: dict[str, str] | None = None) -> None:
        super().__init__()
        self._redact = redactor
        self._static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self._static,
            **(_CONTEXT.get() or {}),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(
            {key: self._redact.field(key, value) for key, value in line.items()},
            default=str,
            ensure_ascii=False,
        )


class RedactingFormatter(logging.Formatter):
    """The plain text format, redacted."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


def configure_logging(
    *,
    level: str,
    fmt: Literal["json", "console"],
    redactor: Redactor,
    module: str = "",
) -> None:
    """Route every logger (uvicorn's, asyncua's, ours) through one redacting handler on
    stderr. Replaces handlers installed before (``logging.basicConfig``, uvicorn's)."""
    handler = logging.StreamHandler(sys.stderr)
    static = {"mes_module": module} if module else {}
    handler.setFormatter(
        JsonFormatter(redactor, static=static) if fmt == "json" else RedactingFormatter(redactor)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # asyncua logs every subscription publish (a whole notification's repr) at INFO: at a
    # plant's sampling rates that is a flood of lines, and formatting them costs the event
    # loop. Its warnings and errors still show; DEBUG shows everything.
    chatty = logging.getLogger("asyncua")
    chatty.setLevel(
        logging.NOTSET if root.level <= logging.DEBUG else max(root.level, logging.WARNING)
    )
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
