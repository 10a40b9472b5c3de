"""FAKE BatchRecorder: keeps every call in memory, in call order.

The real recorder (SQLAlchemy + hash-chained journal) is tested in ``tests/mes_runtime/db``;
here only the order and content of what the engine asks to record matter, so one list of
calls is the whole state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mes_runtime.domain.exceptions import Category
from mes_runtime.engine.ports import ProcessSample, Severity, StateChange

__all__ = ["RecordedCall", "RecordingRecorder"]


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One recorder call: the method name and its keyword arguments."""

    method: str
    args: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.args[key]


class RecordingRecorder:
    """A FAKE :class:`~mes_runtime.engine.ports.BatchRecorder` that records every call."""

    def __init__(self, *, yielding: bool = False) -> None:
        """``yielding``: every call gives the event loop a turn, as real storage I/O does,
        so that equipment events and transient states interleave with the engine's work."""
        self.yielding = yielding
        self.calls: list[RecordedCall] = []
        self.changes: list[StateChange] = []  # every unit of work, as written
        #: a change this predicate accepts fails (storage down at that moment), unrecorded
        self.fail_change: Callable[[StateChange], bool] | None = None
        #: method name -> how many of its next calls fail (storage down), unrecorded.
        self.failures: dict[str, int] = {}
        #: process values "in storage" (batch id, sample): what it stored, or seeded from
        #: another engine's recorder (the previous owner's)
        self.stored: list[tuple[str, ProcessSample]] = []

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
        await self._add(
            "journal",
            batch_id=batch_id,
            actor=actor,
            action=action,
            subject=subject,
            old_value=old_value,
            new_value=new_value,
            reason=reason,
        )

    async def element_state(self, *, batch_id: str, path: str, state: str) -> None:
        await self._add("element_state", batch_id=batch_id, path=path, state=state)

    async def batch_state(self, *, batch_id: str, state: str) -> None:
        await self._add("batch_state", batch_id=batch_id, state=state)

    async def claim(self, batch_id: str) -> None:
        await self._add("claim", batch_id=batch_id)

    async def change(self, change: StateChange) -> None:
        """One unit of work. A state change is kept as the three calls it replaces
        (element state, journal entry, batch state), so tests read it as before; a
        command record as one ``command_record`` call. ``failures["change"]`` fails it."""
        await self._add("change_attempt", fail_as="change", batch_id=change.batch_id)
        self.calls.pop()  # only the failure matters, not the attempt
        if self.fail_change is not None and self.fail_change(change):
            raise ConnectionError(f"storage unavailable ({change.element.path})")
        self.changes.append(change)
        element = change.element
        for note in change.preceding:  # journalled first, in the same unit of work
            self.calls.append(
                RecordedCall(
                    "journal",
                    {
                        "batch_id": change.batch_id,
                        "actor": note.actor,
                        "action": note.action,
                        "subject": note.subject,
                        "old_value": note.old_value,
                        "new_value": note.new_value,
                        "reason": note.reason,
                    },
                )
            )
        if change.action != "element.state":
            self.calls.append(
                RecordedCall(
                    "command_record",
                    {
                        "batch_id": change.batch_id,
                        "path": element.path,
                        "command": element.last_command,
                        "outcome": element.command_outcome,
                    },
                )
            )
            return
        self.calls.append(
            RecordedCall(
                "element_state",
                {"batch_id": change.batch_id, "path": element.path, "state": element.state},
            )
        )
        self.calls.append(
            RecordedCall(
                "journal",
                {
                    "batch_id": change.batch_id,
                    "actor": change.actor,
                    "action": change.action,
                    "subject": element.path,
                    "old_value": change.old_value,
                    "new_value": change.new_value,
                    "reason": change.reason,
                },
            )
        )
        if change.batch_state is not None:
            self.calls.append(
                RecordedCall("batch_state", {"batch_id": change.batch_id, "state": element.state})
            )

    async def process_values(self, *, batch_id: str, samples: Sequence[ProcessSample]) -> None:
        await self._add("process_values", batch_id=batch_id, samples=list(samples))
        self.stored.extend((batch_id, sample) for sample in samples)

    async def stored_values(
        self, *, batch_id: str, watched: Collection[tuple[str, str]], since: datetime
    ) -> list[ProcessSample]:
        await self._add("stored_values", batch_id=batch_id, watched=set(watched), since=since)
        found = [
            s
            for b, s in self.stored
            if b == batch_id and (s.equipment, s.name) in watched and s.timestamp >= since
        ]
        return sorted(found, key=lambda s: s.timestamp)

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
        await self._add(
            "exception",
            batch_id=batch_id,
            category=category,
            severity=severity,
            subject=subject,
            message=message,
            trigger=trigger,
        )

    # -- queries for tests -------------------------------------------------------------

    def of(self, method: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.method == method]

    def journal_entries(self, action: str | None = None) -> list[RecordedCall]:
        return [c for c in self.of("journal") if action is None or c["action"] == action]

    def states_of(self, path: str) -> list[str]:
        """Every state persisted for one element, in order."""
        return [c["state"] for c in self.of("element_state") if c["path"] == path]

    def exceptions(self, subject: str | None = None) -> list[RecordedCall]:
        return [c for c in self.of("exception") if subject is None or c["subject"] == subject]

    def mark(self) -> int:
        """A position in the call list; ``since(mark)`` gives what came after."""
        return len(self.calls)

    def since(self, mark: int) -> list[RecordedCall]:
        return self.calls[mark:]

    async def _add(self, method: str, *, fail_as: str | None = None, **args: Any) -> None:
        if self.yielding:
            await asyncio.sleep(0)
        key = fail_as or method
        if self.failures.get(key, 0) > 0:
            self.failures[key] -= 1
            raise ConnectionError(f"storage unavailable ({key})")
        self.calls.append(RecordedCall(method, args))
