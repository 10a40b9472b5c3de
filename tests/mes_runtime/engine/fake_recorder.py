"""FAKE BatchRecorder: keeps every call in memory, in call order.

The real recorder (SQLAlchemy + hash-chained journal) is tested in ``tests/mes_runtime/db``;
here only the order and content of what the engine asks to record matter, so one list of
calls is the whole state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mes_runtime.engine.ports import ProcessSample, Severity

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
        #: method name -> how many of its next calls fail (storage down), unrecorded.
        self.failures: dict[str, int] = {}

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

    async def process_values(self, *, batch_id: str, samples: Sequence[ProcessSample]) -> None:
        await self._add("process_values", batch_id=batch_id, samples=list(samples))

    async def exception(
        self, *, batch_id: str, severity: Severity, subject: str, message: str
    ) -> None:
        await self._add(
            "exception", batch_id=batch_id, severity=severity, subject=subject, message=message
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

    async def _add(self, method: str, **args: Any) -> None:
        if self.yielding:
            await asyncio.sleep(0)
        if self.failures.get(method, 0) > 0:
            self.failures[method] -= 1
            raise ConnectionError(f"storage unavailable ({method})")
        self.calls.append(RecordedCall(method, args))
