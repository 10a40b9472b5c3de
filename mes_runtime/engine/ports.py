"""The engine's ports: the only way the batch engine touches equipment and storage.

The engine is I/O-free glue between the pure domain core (``mes_runtime.domain``) and
two edges:

* an :class:`EquipmentPort` (implemented over OPC UA/MTP by ``mes_runtime.mtp``), which
  starts service procedures, sends MTP commands and emits :data:`EquipmentEvent` values on
  a queue;
* a :class:`BatchRecorder` (implemented over SQLAlchemy by ``mes_runtime.ebr.recorder``),
  which writes the hash-chained journal, element states and process values.

The values that cross the ports (events, codes, :class:`Severity`) are defined in
``mes_runtime.kernel`` and re-exported here; an equipment port reports failure with
:class:`~mes_runtime.kernel.errors.EquipmentError` (usually ``EquipmentUnavailable``), and
the engine catches nothing broader. Keeping these as protocols lets the engine be tested
against in-process fakes *and* against the real edges, and keeps the dependency arrows
pointing inwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from mes_runtime.domain.exceptions import Category
from mes_runtime.kernel.codes import ServiceCommand, ServiceState
from mes_runtime.kernel.events import (
    ConnectionLost,
    ConnectionRestored,
    EquipmentEvent,
    ProcessSample,
    ServiceStateChanged,
    Severity,
)

__all__ = [
    "STORED_VALUES_LIMIT",
    "BatchRecorder",
    "ConnectionLost",
    "ConnectionRestored",
    "ElementRecord",
    "EquipmentEvent",
    "EquipmentPort",
    "Fenced",
    "JournalNote",
    "ProcessSample",
    "ServiceStateChanged",
    "Severity",
    "StateChange",
]

#: At most this many stored values are replayed when a batch is taken over: far more than
#: any trend rule's window (9 points) or a slope window at 1 Hz for an hour, and bounded.
STORED_VALUES_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class ElementRecord:
    """The durable state of one procedural element: what a restarted runtime resumes from."""

    path: str
    state: str
    procedure_started: bool = False
    lost_connection: bool = False
    executing_since: datetime | None = None
    last_command: str | None = None  # the last MTP command sent for this phase (lower case)
    command_outcome: str | None = None  # "pending" (recorded, maybe sent), "done", "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalNote:
    """A journal entry of a batch that goes with the batch's next unit of work (e.g. a
    person's command, journalled in the same transaction as the equipment command it
    records before sending, or as the state change it makes)."""

    actor: str
    action: str
    subject: str
    old_value: object = None
    new_value: object = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class StateChange:
    """One unit of work: an element's new durable state, the batch's SFC position, the
    batch state (when the element is the procedure) and the journal entry recording it,
    written together or not at all; ``preceding`` entries (:class:`JournalNote`) are
    appended just before that entry, in the same transaction."""

    batch_id: str
    element: ElementRecord
    graph: Mapping[str, object]  # composite path -> GraphRun.to_dict()
    actor: str
    action: str  # journal action, e.g. "element.state"
    old_value: object = None
    new_value: object = None
    reason: str | None = None
    batch_state: str | None = None  # set when the procedure's state changes
    preceding: tuple[JournalNote, ...] = ()  # journalled first, in the same transaction


class Fenced(RuntimeError):
    """Another runtime has claimed the batch since (a higher epoch): this one must not
    write its execution state, journal entries or equipment commands any more."""

    def __init__(self, batch_id: str, message: str, *, in_flight: bool = False) -> None:
        super().__init__(message)
        self.batch_id = batch_id
        #: refused after an equipment command was recorded as pending: it may have reached
        #: the equipment, and the runtime taking the batch over carries it out (never twice)
        self.in_flight = in_flight


class EquipmentPort(Protocol):
    """What the engine needs from equipment. Implemented over MTP/OPC UA."""

    @property
    def events(self) -> asyncio.Queue[EquipmentEvent]:
        """Events from every connected module, in arrival order."""
        ...

    def is_connected(self, equipment: str) -> bool:
        """Whether the module currently has a live OPC UA session."""
        ...

    def is_continuous(self, equipment: str, service: str, procedure: str) -> bool:
        """Whether the procedure runs until it is told to Complete (MTP IsSelfCompleting
        false: stirring, tempering, holding); False for an unknown one."""
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

    async def claim(self, batch_id: str) -> None:
        """Become the owner of a batch about to start (a new fencing epoch)."""
        ...

    async def change(self, change: StateChange) -> None:
        """Write one :class:`StateChange` in one transaction, fenced by this owner's epoch.

        Raises :class:`Fenced` if another owner claimed the batch. A retry after a failure
        whose commit did happen is recognised and not applied twice."""
        ...

    async def batch_state(self, *, batch_id: str, state: str) -> None:
        """Persist the batch's overall state."""
        ...

    async def process_values(self, *, batch_id: str, samples: Sequence[ProcessSample]) -> None:
        """Store process values against the batch, in one round trip."""
        ...

    async def stored_values(
        self, *, batch_id: str, watched: Collection[tuple[str, str]], since: datetime
    ) -> list[ProcessSample]:
        """The batch's stored values of the ``(equipment, name)`` pairs in ``watched``
        timestamped ``since`` or later, oldest first; at most the newest
        :data:`STORED_VALUES_LIMIT` (what a runtime taking the batch over replays into its
        limit and trend monitor)."""
        ...

    async def exception(
        self,
        *,
        batch_id: str,
        category: Category,
        severity: Severity,
        subject: str,
        message: str,
        trigger: Mapping[str, Any] | None = None,
    ) -> None:
        """Record an exception for review by exception (also journalled), with its
        category (what kind of event it reports) and the data that triggered it."""
        ...
