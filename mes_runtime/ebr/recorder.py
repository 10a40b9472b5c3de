"""``SqlBatchRecorder``: the engine's :class:`~mes_runtime.engine.ports.BatchRecorder` over
SQLAlchemy, on SQLite or PostgreSQL.

Element states are upserted (one row per element: the durable state a restarted runtime
resumes from); process values go in one ``executemany`` round trip; an exception row and its
journal entry are written in one transaction, so there is never an exception the journal does
not know about.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, case, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mes_runtime.db.models import Batch, BatchElement, BatchException, ProcessValue
from mes_runtime.ebr.journal import Journal
from mes_runtime.kernel.clock import utcnow
from mes_runtime.kernel.events import ProcessSample, Severity

__all__ = ["FINAL_BATCH_STATES", "SqlBatchRecorder", "UnknownBatch"]

#: Batch states after which a batch has ended (ISA-88 final states).
FINAL_BATCH_STATES = frozenset({"complete", "stopped", "aborted"})

_BATCHES = cast(Table, Batch.__table__)
_ELEMENTS = cast(Table, BatchElement.__table__)
_VALUES = cast(Table, ProcessValue.__table__)
_EXCEPTIONS = cast(Table, BatchException.__table__)


class UnknownBatch(LookupError):
    """The batch id names no stored batch."""


class SqlBatchRecorder:
    """Implements ``BatchRecorder``; shares one :class:`Journal` with the rest of the app."""

    def __init__(
        self,
        engine: AsyncEngine,
        journal: Journal,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._journal = journal
        self._clock = clock
        dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
        stmt = dialect.insert(_ELEMENTS)
        self._upsert_element = stmt.on_conflict_do_update(
            index_elements=[_ELEMENTS.c.batch_id, _ELEMENTS.c.path],
            set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at},
        )

    @property
    def journal_writer(self) -> Journal:
        return self._journal

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
        await self._journal.append(
            batch_id=batch_id,
            actor=actor,
            action=action,
            subject=subject,
            old_value=old_value,
            new_value=new_value,
            reason=reason,
        )

    async def element_state(self, *, batch_id: str, path: str, state: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                self._upsert_element,
                {"batch_id": batch_id, "path": path, "state": state, "updated_at": self._clock()},
            )

    async def batch_state(self, *, batch_id: str, state: str) -> None:
        now = self._clock()
        values: dict[str, Any] = {"state": state}
        if state == "running":
            values["started_at"] = case(
                (_BATCHES.c.started_at.is_(None), now), else_=_BATCHES.c.started_at
            )
        if state in FINAL_BATCH_STATES:
            values["ended_at"] = now
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(_BATCHES).where(_BATCHES.c.id == batch_id).values(**values)
            )
            if result.rowcount == 0:
                raise UnknownBatch(f"batch {batch_id!r} does not exist")

    async def process_values(self, *, batch_id: str, samples: Sequence[ProcessSample]) -> None:
        if not samples:
            return
        rows = [
            {
                "batch_id": batch_id,
                "equipment": s.equipment,
                "name": s.name,
                "value": s.value,
                "unit": s.unit,
                "ts": s.timestamp,
            }
            for s in samples
        ]
        async with self._engine.begin() as conn:
            await conn.execute(insert(_VALUES), rows)

    async def exception(
        self, *, batch_id: str, severity: Severity, subject: str, message: str
    ) -> None:
        now = self._clock()

        async def _insert(conn: AsyncConnection) -> None:
            await conn.execute(
                insert(_EXCEPTIONS),
                {
                    "batch_id": batch_id,
                    "severity": str(severity),
                    "subject": subject,
                    "message": message,
                    "ts": now,
                    "status": "open",
                },
            )

        await self._journal.append(
            batch_id=batch_id,
            actor="system",
            action="exception.raised",
            subject=subject,
            new_value={"severity": str(severity), "message": message},
            alongside=_insert,
        )
