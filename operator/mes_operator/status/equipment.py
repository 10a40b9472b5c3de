"""Equipment status as a pure function of the last check's result.

Built as the typed :class:`~mes_operator.models.equipment.EquipmentStatus` (the model the
CRD schema is generated from) and dumped by alias.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mes_operator.equipment.outcome import CheckResult
from mes_operator.models.equipment import MISSING_NODES_KEPT, EquipmentStatus, MissingNode
from mes_operator.status.conditions import Observation, dump, merge_conditions

CONNECTED = "Connected"
VERIFIED = "Verified"


def equipment_status(
    previous: Mapping[str, Any], result: CheckResult, *, generation: int, now: str
) -> dict[str, Any]:
    """The status after a check: Connected and Verified, with the reason from the check."""
    connected = Observation(
        type=CONNECTED,
        status="True" if result.connected else "False",
        reason="Connected" if result.connected else result.reason,
        message="session established" if result.connected else result.message,
    )
    if result.connected:
        verified = Observation(
            type=VERIFIED,
            status="True" if result.verified else "False",
            reason=result.reason,
            message=result.message,
        )
    else:
        verified = Observation(
            type=VERIFIED,
            status="False",
            reason="NotConnected",
            message=f"cannot verify services: {result.message}",
        )
    status = EquipmentStatus(
        observed_generation=generation,
        conditions=merge_conditions(
            previous.get("conditions"), [connected, verified], generation=generation, now=now
        ),
        last_check_time=now,
        check_duration_seconds=result.duration_seconds,
        found_services=list(result.found),
        missing_services=list(result.missing),
        missing_nodes=[
            MissingNode(variable=p.variable, node_id=p.node_id, status=p.status)
            for p in result.missing_nodes[:MISSING_NODES_KEPT]
        ],
    )
    return dump(status)


def check_due(
    previous: Mapping[str, Any], *, generation: int, interval_seconds: int, now: datetime
) -> bool:
    """Whether the equipment should be checked now (spec changed or interval elapsed)."""
    if previous.get("observedGeneration") != generation:
        return True
    last = previous.get("lastCheckTime")
    if not last:
        return True
    elapsed = (now - datetime.fromisoformat(str(last).replace("Z", "+00:00"))).total_seconds()
    return elapsed >= interval_seconds
