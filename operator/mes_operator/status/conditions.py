"""Pure condition bookkeeping: the Kubernetes rules for a list of conditions.

``lastTransitionTime`` moves only when ``status`` changes, so an unchanged observation
produces an identical status and the patch can be skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mes_operator.models.base import ResourceModel
from mes_operator.models.conditions import Condition, ConditionStatus


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


def seconds_since(rfc3339: str, now: datetime | None = None) -> float:
    """Seconds from an RFC 3339 UTC time (as :func:`now_rfc3339` writes it) to ``now``."""
    then = datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - then).total_seconds()


def merge_conditions(
    previous: Iterable[Mapping[str, Any]] | None,
    observations: Iterable[Observation],
    *,
    generation: int,
    now: str,
) -> list[Condition]:
    """The new condition list: observed types updated, other types kept as they were."""
    old = {c["type"]: dict(c) for c in previous or ()}
    merged: dict[str, Condition] = {type_: Condition.model_validate(c) for type_, c in old.items()}
    for obs in observations:
        before = old.get(obs.type)
        moved = before is None or before.get("status") != obs.status
        since = now if before is None or moved else before["lastTransitionTime"]
        merged[obs.type] = Condition(
            type=obs.type,
            status=ConditionStatus(obs.status),
            reason=obs.reason,
            message=obs.message,
            last_transition_time=since,
            observed_generation=generation,
        )
    return [merged[key] for key in sorted(merged)]


def dump(model: ResourceModel) -> dict[str, Any]:
    """A status model as the API stores it: camelCase keys, unset fields left out."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def condition(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any]:
    """The condition of one type, or an empty mapping."""
    for c in conditions or ():
        if c.get("type") == type_:
            return c
    return {}
