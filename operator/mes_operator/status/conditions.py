"""Pure condition bookkeeping: the Kubernetes rules for a list of conditions.

``lastTransitionTime`` moves only when ``status`` changes, so an unchanged observation
produces an identical status and the patch can be skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Observation:
    """One condition as the operator sees it now."""

    type: str
    status: str
    reason: str
    message: str


def now_rfc3339() -> str:
    """The current UTC time in the form Kubernetes stores (second precision, Z)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(
    previous: Iterable[Mapping[str, Any]] | None,
    observations: Iterable[Observation],
    *,
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """The new condition list: observed types updated, other types kept as they were."""
    old = {c["type"]: dict(c) for c in previous or ()}
    merged = dict(old)
    for obs in observations:
        before = old.get(obs.type)
        moved = before is None or before.get("status") != obs.status
        since = now if before is None or moved else before["lastTransitionTime"]
        merged[obs.type] = {
            "type": obs.type,
            "status": obs.status,
            "reason": obs.reason,
            "message": obs.message,
            "lastTransitionTime": since,
            "observedGeneration": generation,
        }
    return [merged[key] for key in sorted(merged)]


def condition(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any]:
    """The condition of one type, or an empty mapping."""
    for c in conditions or ():
        if c.get("type") == type_:
            return c
    return {}
