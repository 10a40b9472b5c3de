"""The engine's ports: the only way the batch engine touches equipment and storage.

The engine is I/O-free glue between the pure domain core (``mes_runtime.domain``) and
two edges:

* an :class:`EquipmentPort` (implemented over OPC UA/MTP by ``mes_runtime.mtp``), which
  starts service procedures, sends MTP commands and emits :data:`EquipmentEvent` values on
  a queue;
* a :class:`BatchRecorder` (implemented over SQLAlchemy by ``mes_runtime.db``), which
  writes the hash-chained journal, element states and process values.

Keeping these as protocols lets the engine be tested against in-process fakes *and*
against the real edges, and keeps the dependency arrows pointing inwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from mes_runtime.mtp.codes import ServiceCommand, ServiceState

__all__ = [
    "BatchRecorder",
    "ConnectionLost",
    "ConnectionRestored",
    "EquipmentEvent",
    "EquipmentPort",
    "ProcessSample",
    "ServiceStateChanged",
    "Severity",
    "utcnow",
]


def utcnow() -> datetime:
    """Timezone-aware UTC now; every timestamp in Holon is UTC."""
    return datetime.now(UTC)


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


class EquipmentPort(Protocol):
    """What the engine needs from equipment. Implemented over MTP/OPC UA."""

    @property
    def events(self) -> asyncio.Queue[EquipmentEvent]:
        """Events from every connected module, in arrival order."""
        ...

    def is_connected(self, equipment: str) -> bool:
        """Whether the module currently has a live OPC UA session."""
        ...

    async def start_procedure(
        self,
        equipment: str,
        service: str,
        procedure: str,
        parameters: Mapping[str, float],
    ) -> None:
        """Take the service (operation mode Automatic, source External), write and apply
        the parameters, select the procedure and send Start. Raises if ``CommandEn`` does
        not enable Start or the module is unreachable."""
        ...

    async def command(self, equipment: str, service: str, command: ServiceCommand) -> None:
        """Send one MTP command, honouring ``CommandEn``."""
        ...

    async def service_state(self, equipment: str, service: str) -> ServiceState:
        """Read the current ``StateCur`` of a service."""
        ...


class BatchRecorder(Protocol):
    """What the engine needs from storage. Implemented over SQLAlchemy."""

    async def journal(
        self,
        *,
        batch_id: str | None,
        actor: str,
        action: str,
        subject: str,
        old_value: object = None,
        new_value: object = None,
        reason: str | None = None,
    ) -> None:
        """Append one hash-chained journal entry."""
        ...

    async def element_state(self, *, batch_id: str, path: str, state: str) -> None:
        """Persist the current state of one procedural element (durable batch state)."""
        ...

    async def batch_state(self, *, batch_id: str, state: str) -> None:
        """Persist the batch's overall state."""
        ...

    async def process_values(self, *, batch_id: str, samples: Sequence[ProcessSample]) -> None:
        """Store process values against the batch, in one round trip."""
        ...

    async def exception(
        self, *, batch_id: str, severity: Severity, subject: str, message: str
    ) -> None:
        """Record an exception for review by exception (also journalled)."""
        ...
