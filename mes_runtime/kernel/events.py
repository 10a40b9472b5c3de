"""What equipment reports to the engine, and the severity of a review-by-exception entry.

Plain frozen values shared by the domain core (limit checks), the engine, the MTP edge
that produces them and the batch record that stores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from mes_runtime.kernel.clock import utcnow
from mes_runtime.kernel.codes import ServiceState

__all__ = [
    "ConnectionLost",
    "ConnectionRestored",
    "EquipmentEvent",
    "ProcessSample",
    "ServiceStateChanged",
    "Severity",
]


class Severity(StrEnum):
    """Exception severity used by review by exception (RbE)."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One process value read from equipment (e.g. ``BR-101`` / ``Temperature``)."""

    equipment: str
    name: str
    value: float
    unit: str
    timestamp: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class ServiceStateChanged:
    """An MTP service reported a new ``StateCur``."""

    equipment: str
    service: str
    state: ServiceState
    procedure: int | None = None
    timestamp: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The OPC UA session to a module was lost (the supervisor keeps reconnecting)."""

    equipment: str
    reason: str
    timestamp: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class ConnectionRestored:
    """The OPC UA session to a module is back; subscriptions were re-created."""

    equipment: str
    timestamp: datetime = field(default_factory=utcnow)


EquipmentEvent = ProcessSample | ServiceStateChanged | ConnectionLost | ConnectionRestored
