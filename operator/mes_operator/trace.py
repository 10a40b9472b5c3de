"""A timed trace of what the operator does for each object (``HOLON_OPERATOR_TRACE=1``).

A debug option, off by default: every handler's start and end (with the object's
``resourceVersion``, so a line can be matched to the watch event that caused it), every
child applied and every status patch, each a log line of the ``mes_operator.trace``
logger with a millisecond timestamp and the step's duration. Read one module's lines in
order and every gap between a watch event and the status is either a request (the API
server's time, measured) or the operator's own (issue #18: "no gap over 100 ms that isn't
the API server's or the kubelet's").
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

__all__ = ["enable", "enabled", "mark", "traced"]

log = logging.getLogger("mes_operator.trace")


class _State:
    on = False


def enable(on: bool) -> None:
    """Switch the trace on or off (the startup handler, from the operator's settings)."""
    _State.on = on


def enabled() -> bool:
    return _State.on


def _fields(fields: Mapping[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)


def mark(step: str, namespace: str, name: str, **fields: Any) -> None:
    """One instant of ``namespace/name``'s trace (e.g. a watch event handed to a handler)."""
    if _State.on:
        log.info("trace %s/%s %s %s", namespace, name, step, _fields(fields))


@asynccontextmanager
async def traced(step: str, namespace: str, name: str, **fields: Any) -> AsyncIterator[None]:
    """Time ``step`` of ``namespace/name``: a line when it starts, one when it ends (with
    its duration in ms, and ``failed=`` the exception's type if it raised)."""
    if not _State.on:
        yield
        return
    started = time.perf_counter()
    log.info("trace %s/%s %s start %s", namespace, name, step, _fields(fields))
    outcome = "end"
    try:
        yield
    except BaseException as exc:
        outcome = f"end failed={type(exc).__name__}"
        raise
    finally:
        took = (time.perf_counter() - started) * 1000
        log.info("trace %s/%s %s %s ms=%.1f", namespace, name, step, outcome, took)
