"""``SqlBatchRecorder``: the engine's :class:`~mes_runtime.engine.ports.BatchRecorder` over
SQLAlchemy, on SQLite or PostgreSQL.

Execution state is written as units of work (:meth:`SqlBatchRecorder.change`): the element's
row (state, resume flags, last command and its outcome), the batch's SFC position and state,
and the journal entry that records the change (with any entries it carries, such as the
person's command an equipment command record carries out) commit in one transaction, fenced
by the owner's epoch in ``batch_runs`` and compare-and-set on its ``version`` (a retry whose
first attempt did commit is recognised instead of applied twice). Process values go in one
``executemany`` round trip; an exception row and its journal entry are written in one
transaction, so there is never an exception the journal does not know about.

Ownership (``batch_runs``): a replica owns a batch through a lease (``lease_until``) and an
epoch (the fencing token). :meth:`claim` takes a batch about to start; :meth:`renew` extends
the leases this process holds (a lease lost to a newer epoch is reported, not renewed);
:meth:`claim_orphans` takes running batches whose lease has expired or was released
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL: two replicas scanning at once never wait for each
other, and each orphan goes to one of them); :meth:`claim_active` takes every running batch
at the start of a single-process (SQLite) runtime; :meth:`release` gives the leases up at
shutdown so that a peer takes over at once instead of waiting for expiry.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, case, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mes_runtime.db.models import (
    ROLLUP_SECONDS,
    Batch,
    BatchElement,
    BatchException,
    BatchRun,
    ProcessValue,
    ProcessValueRollup,
)
from mes_runtime.domain.exceptions import Category
from mes_runtime.ebr.journal import Entry, Journal, notify_changed
from mes_runtime.ebr.outbox import QmsOutbox
from mes_runtime.engine.ports import STORED_VALUES_LIMIT, ElementRecord, Fenced, StateChange
from mes_runtime.kernel.clock import utcnow
from mes_runtime.kernel.events import ProcessSample, Severity

__all__ = [
    "FINAL_BATCH_STATES",
    "ClaimedBatch",
    "SqlBatchRecorder",
    "UnknownBatch",
    "default_owner",
]

#: Batch states after which a batch has ended (ISA-88 final states).
FINAL_BATCH_STATES = frozenset({"complete", "stopped", "aborted"})

_BATCHES = cast(Table, Batch.__table__)
_ELEMENTS = cast(Table, BatchElement.__table__)
_VALUES = cast(Table, ProcessValue.__table__)
_ROLLUPS = cast(Table, ProcessValueRollup.__table__)
_EXCEPTIONS = cast(Table, BatchException.__table__)
_RUNS = cast(Table, BatchRun.__table__)


class UnknownBatch(LookupError):
    """The batch id names no stored batch."""


class _AlreadyWritten(Exception):
    """A retried change whose earlier attempt committed (raised to roll the retry back)."""


def default_owner() -> str:
    """This process's owner name in ``batch_runs``: host (the Pod's name), pid and a random
    tag (a restarted container has the same host name and often the same pid, but is not
    the same owner: its predecessor's leases must expire or be released first)."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class ClaimedBatch:
    """A batch left running by an earlier owner, now claimed by this one."""

    batch_id: str
    control_recipe: dict[str, Any]
    elements: list[ElementRecord]
    graph: dict[str, Any]
    epoch: int
    previous_owner: str | None
    gap_seconds: float  # since the previous owner was last heard of (write, renewal, release)


@dataclass(slots=True)
class _Run:
    epoch: int
    version: int


def _rollups(batch_id: str, samples: Sequence[ProcessSample]) -> list[dict[str, Any]]:
    """The samples summarised per tag and :data:`ROLLUP_SECONDS` bucket."""
    buckets: dict[tuple[str, str, int], dict[str, Any]] = {}
    for s in samples:
        bucket = int(s.timestamp.timestamp()) // ROLLUP_SECONDS * ROLLUP_SECONDS
        key = (s.equipment, s.name, bucket)
        row = buckets.get(key)
        if row is None:
            buckets[key] = {
                "batch_id": batch_id,
                "equipment": s.equipment,
                "name": s.name,
                "bucket": bucket,
                "unit": s.unit,
                "vmin": s.value,
                "vmax": s.value,
                "vsum": s.value,
                "n": 1,
            }
        else:
            row["vmin"] = min(row["vmin"], s.value)
            row["vmax"] = max(row["vmax"], s.value)
            row["vsum"] += s.value
            row["n"] += 1
    return list(buckets.values())


class SqlBatchRecorder:
    """Implements ``BatchRecorder``; shares one :class:`Journal` with the rest of the app."""

    def __init__(
        self,
        engine: AsyncEngine,
        journal: Journal,
        *,
        clock: Callable[[], datetime] = utcnow,
        owner: str | None = None,
        lease_seconds: float = 30.0,
        outbox: QmsOutbox | None = None,
    ) -> None:
        self._engine = engine
        self._journal = journal
        self._outbox = outbox
        self._clock = clock
        self.owner = owner or default_owner()
        self._lease = timedelta(seconds=lease_seconds)
        self._runs: dict[str, _Run] = {}  # batches this process owns -> epoch, version
        dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
        stmt = dialect.insert(_ELEMENTS)
        self._upsert_element = stmt.on_conflict_do_update(
            index_elements=[_ELEMENTS.c.batch_id, _ELEMENTS.c.path],
            set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at},
        )
        rollup = dialect.insert(_ROLLUPS)
        least, greatest = (func.min, func.max) if dialect is sqlite else (func.least, func.greatest)
        self._add_rollup = rollup.on_conflict_do_update(
            index_elements=[
                _ROLLUPS.c.batch_id,
                _ROLLUPS.c.equipment,
                _ROLLUPS.c.name,
                _ROLLUPS.c.bucket,
            ],
            set_={
                "vmin": least(_ROLLUPS.c.vmin, rollup.excluded.vmin),
                "vmax": greatest(_ROLLUPS.c.vmax, rollup.excluded.vmax),
                "vsum": _ROLLUPS.c.vsum + rollup.excluded.vsum,
                "n": _ROLLUPS.c.n + rollup.excluded.n,
            },
        )
        full = dialect.insert(_ELEMENTS)
        self._write_element = full.on_conflict_do_update(
            index_elements=[_ELEMENTS.c.batch_id, _ELEMENTS.c.path],
            set_={
                name: full.excluded[name]
                for name in (
                    "state",
                    "updated_at",
                    "procedure_started",
                    "lost_connection",
                    "executing_since",
                    "last_command",
                    "command_outcome",
                )
            },
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
            alongside=self._fence(batch_id),
        )

    def _fence(self, batch_id: str | None) -> Callable[[AsyncConnection], Any] | None:
        """For a batch this process owns: an epoch check to run in the entry's transaction."""
        run = self._runs.get(batch_id) if batch_id is not None else None
        if run is None or batch_id is None:
            return None
        owned = batch_id

        async def check(conn: AsyncConnection) -> None:
            result = await conn.execute(
                update(_RUNS)
                .where(_RUNS.c.batch_id == owned, _RUNS.c.epoch == run.epoch)
                .values(updated_at=self._clock())
            )
            if result.rowcount != 1:
                raise Fenced(owned, f"batch {owned} has a newer owner than epoch {run.epoch}")

        return check

    # -- ownership ---------------------------------------------------------------------

    async def claim(self, batch_id: str) -> None:
        now = self._clock()
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    select(_RUNS.c.epoch, _RUNS.c.version).where(_RUNS.c.batch_id == batch_id)
                )
            ).first()
            if row is None:
                run = await self._first_run(conn, batch_id, now)
            else:
                run = await self._bump(conn, batch_id, int(row.epoch), int(row.version), now)
        self._runs[batch_id] = run

    async def _first_run(self, conn: AsyncConnection, batch_id: str, now: datetime) -> _Run:
        """The batch's ``batch_runs`` row, owned by this process at epoch 1."""
        await conn.execute(
            insert(_RUNS),
            {
                "batch_id": batch_id,
                "owner": self.owner,
                "epoch": 1,
                "version": 0,
                "lease_until": now + self._lease,
                "graph": {},
                "updated_at": now,
            },
        )
        return _Run(epoch=1, version=0)

    async def _bump(
        self, conn: AsyncConnection, batch_id: str, epoch: int, version: int, now: datetime
    ) -> _Run:
        result = await conn.execute(
            update(_RUNS)
            .where(_RUNS.c.batch_id == batch_id, _RUNS.c.epoch == epoch)
            .values(
                owner=self.owner, epoch=epoch + 1, lease_until=now + self._lease, updated_at=now
            )
        )
        if result.rowcount != 1:
            raise Fenced(batch_id, f"batch {batch_id} was claimed by another process meanwhile")
        return _Run(epoch=epoch + 1, version=version)

    async def claim_active(self) -> list[ClaimedBatch]:
        """Claim every batch that started and has not ended, leased or not: only for a
        runtime that is the one process on its database (SQLite), at start."""
        now = self._clock()
        claimed: list[ClaimedBatch] = []
        async with self._engine.connect() as conn:
            ids = (
                await conn.execute(
                    select(_BATCHES.c.id)
                    .where(_BATCHES.c.state.not_in([*FINAL_BATCH_STATES, "idle"]))
                    .order_by(_BATCHES.c.created_at)
                )
            ).scalars()
            batch_ids = [str(i) for i in ids]
        for batch_id in batch_ids:
            async with self._engine.begin() as conn:
                claimed.append(await self._claim_one(conn, batch_id, now))
        return claimed

    async def _claim_one(self, conn: AsyncConnection, batch_id: str, now: datetime) -> ClaimedBatch:
        batch = (
            await conn.execute(
                select(_BATCHES.c.control_recipe, _BATCHES.c.started_at).where(
                    _BATCHES.c.id == batch_id
                )
            )
        ).one()
        row = (await conn.execute(select(_RUNS).where(_RUNS.c.batch_id == batch_id))).first()
        if row is None:  # started by a version without batch_runs
            run, previous, graph = await self._first_run(conn, batch_id, now), None, {}
            last_write = batch.started_at or now
        else:
            run = await self._bump(conn, batch_id, int(row.epoch), int(row.version), now)
            previous, graph, last_write = row.owner, dict(row.graph), row.updated_at
        elements = [
            ElementRecord(
                path=e.path,
                state=e.state,
                procedure_started=bool(e.procedure_started),
                lost_connection=bool(e.lost_connection),
                executing_since=e.executing_since,
                last_command=e.last_command,
                command_outcome=e.command_outcome,
            )
            for e in await conn.execute(select(_ELEMENTS).where(_ELEMENTS.c.batch_id == batch_id))
        ]
        self._runs[batch_id] = run
        return ClaimedBatch(
            batch_id=batch_id,
            control_recipe=dict(batch.control_recipe),
            elements=elements,
            graph=graph,
            epoch=run.epoch,
            previous_owner=previous,
            gap_seconds=max(0.0, (now - last_write).total_seconds()),
        )

    async def claim_orphans(self) -> list[ClaimedBatch]:
        """Claim running batches whose lease has expired or was released (take-over)."""
        now = self._clock()
        query = (
            select(_RUNS.c.batch_id)
            .join(_BATCHES, _BATCHES.c.id == _RUNS.c.batch_id)
            .where(
                _BATCHES.c.state.not_in([*FINAL_BATCH_STATES, "idle"]),
                (_RUNS.c.lease_until.is_(None)) | (_RUNS.c.lease_until <= now),
                # its own lease lapsed (the database was away): renewed, not re-claimed
                _RUNS.c.batch_id.not_in(list(self._runs)),
            )
            .order_by(_RUNS.c.updated_at)
        )
        if self._engine.dialect.name == "postgresql":
            query = query.with_for_update(of=_RUNS, skip_locked=True)
        claimed: list[ClaimedBatch] = []
        async with self._engine.begin() as conn:
            for batch_id in [str(i) for i in (await conn.execute(query)).scalars()]:
                claimed.append(await self._claim_one(conn, batch_id, now))
        return claimed

    async def renew(self) -> list[str]:
        """Extend the lease of every batch this process owns; returns the batches it lost
        (another process claimed them: a newer epoch). Those are forgotten here."""
        if not self._runs:
            return []
        now = self._clock()
        lost: list[str] = []
        async with self._engine.begin() as conn:
            for batch_id, run in list(self._runs.items()):
                result = await conn.execute(
                    update(_RUNS)
                    .where(_RUNS.c.batch_id == batch_id, _RUNS.c.epoch == run.epoch)
                    .values(lease_until=now + self._lease, updated_at=now)
                )
                if result.rowcount != 1:
                    lost.append(batch_id)
        for batch_id in lost:
            self._runs.pop(batch_id, None)
        return lost

    def owned(self) -> list[str]:
        """The batches this process holds a lease on."""
        return list(self._runs)

    async def release(self, batch_ids: Sequence[str] | None = None) -> list[str]:
        """Give up the leases of the given batches (default: all, at shutdown), epoch-
        checked; returns the batches released."""
        now = self._clock()
        chosen = (
            list(self._runs) if batch_ids is None else [b for b in batch_ids if b in self._runs]
        )
        runs = {batch_id: self._runs.pop(batch_id) for batch_id in chosen}
        async with self._engine.begin() as conn:
            for batch_id, run in runs.items():
                await conn.execute(
                    update(_RUNS)
                    .where(_RUNS.c.batch_id == batch_id, _RUNS.c.epoch == run.epoch)
                    .values(lease_until=now, updated_at=now)
                )
        return chosen

    def epoch(self, batch_id: str) -> int | None:
        """This process's epoch for a batch it owns."""
        run = self._runs.get(batch_id)
        return None if run is None else run.epoch

    # -- execution state ---------------------------------------------------------------

    async def change(self, change: StateChange) -> None:
        run = self._runs.get(change.batch_id)
        if run is None:
            raise Fenced(change.batch_id, f"batch {change.batch_id} is not owned by {self.owner}")
        expected = run.version
        now = self._clock()
        element = change.element

        async def write(conn: AsyncConnection) -> None:
            result = await conn.execute(
                update(_RUNS)
                .where(
                    _RUNS.c.batch_id == change.batch_id,
                    _RUNS.c.epoch == run.epoch,
                    _RUNS.c.version == expected,
                )
                .values(
                    version=expected + 1,
                    graph=dict(change.graph),
                    lease_until=now + self._lease,
                    updated_at=now,
                )
            )
            if result.rowcount != 1:
                stored = (
                    await conn.execute(
                        select(_RUNS.c.epoch, _RUNS.c.version).where(
                            _RUNS.c.batch_id == change.batch_id
                        )
                    )
                ).first()
                if stored is not None and (stored.epoch, stored.version) == (
                    run.epoch,
                    expected + 1,
                ):
                    raise _AlreadyWritten
                raise Fenced(
                    change.batch_id,
                    f"batch {change.batch_id} has a newer owner than epoch {run.epoch}",
                )
            await conn.execute(
                self._write_element,
                {
                    "batch_id": change.batch_id,
                    "path": element.path,
                    "state": element.state,
                    "updated_at": now,
                    "procedure_started": element.procedure_started,
                    "lost_connection": element.lost_connection,
                    "executing_since": element.executing_since,
                    "last_command": element.last_command,
                    "command_outcome": element.command_outcome,
                },
            )
            if change.batch_state is not None:
                await conn.execute(
                    update(_BATCHES)
                    .where(_BATCHES.c.id == change.batch_id)
                    .values(**self._batch_values(change.batch_state, now))
                )

        entries = [
            *(
                Entry(
                    batch_id=change.batch_id,
                    actor=note.actor,
                    action=note.action,
                    subject=note.subject,
                    old_value=note.old_value,
                    new_value=note.new_value,
                    reason=note.reason,
                )
                for note in change.preceding
            ),
            Entry(
                batch_id=change.batch_id,
                actor=change.actor,
                action=change.action,
                subject=element.path,
                old_value=change.old_value,
                new_value=change.new_value,
                reason=change.reason,
            ),
        ]
        with contextlib.suppress(_AlreadyWritten):  # the earlier attempt committed it all
            await self._journal.append_all(entries, alongside=write)
        run.version = expected + 1

    def _batch_values(self, state: str, now: datetime) -> dict[str, Any]:
        values: dict[str, Any] = {"state": state}
        if state == "running":
            values["started_at"] = case(
                (_BATCHES.c.started_at.is_(None), now), else_=_BATCHES.c.started_at
            )
        if state in FINAL_BATCH_STATES:
            values["ended_at"] = now
        return values

    async def element_state(self, *, batch_id: str, path: str, state: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                self._upsert_element,
                {"batch_id": batch_id, "path": path, "state": state, "updated_at": self._clock()},
            )

    async def batch_state(self, *, batch_id: str, state: str) -> None:
        values = self._batch_values(state, self._clock())
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
            await conn.execute(self._add_rollup, _rollups(batch_id, samples))
            await notify_changed(conn, {batch_id})
        self._journal.committed({batch_id})

    async def stored_values(
        self, *, batch_id: str, watched: Collection[tuple[str, str]], since: datetime
    ) -> list[ProcessSample]:
        if not watched:
            return []
        query = (
            select(
                _VALUES.c.equipment, _VALUES.c.name, _VALUES.c.value, _VALUES.c.unit, _VALUES.c.ts
            )
            .where(
                _VALUES.c.batch_id == batch_id,
                _VALUES.c.ts >= since,
                tuple_(_VALUES.c.equipment, _VALUES.c.name).in_(sorted(watched)),
            )
            .order_by(_VALUES.c.ts.desc(), _VALUES.c.id.desc())
            .limit(STORED_VALUES_LIMIT)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            ProcessSample(
                equipment=r.equipment, name=r.name, value=r.value, unit=r.unit, timestamp=r.ts
            )
            for r in reversed(rows)
        ]

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
        now = self._clock()
        fence = self._fence(batch_id)
        data = None if trigger is None else dict(trigger)

        async def _insert(conn: AsyncConnection) -> None:
            if fence is not None:
                await fence(conn)
            result = await conn.execute(
                insert(_EXCEPTIONS).returning(_EXCEPTIONS.c.id),
                {
                    "batch_id": batch_id,
                    "severity": str(severity),
                    "subject": subject,
                    "message": message,
                    "ts": now,
                    "status": "open",
                    "category": category.value,
                    "trigger": data,
                },
            )
            if self._outbox is not None:
                await self._outbox.add(
                    conn,
                    change="raised",
                    exception={
                        "id": result.scalar_one(),
                        "batch_id": batch_id,
                        "category": category.value,
                        "severity": str(severity),
                        "subject": subject,
                        "message": message,
                        "raised_at": now.isoformat(),
                        "trigger": data,
                        "status": "open",
                    },
                )

        await self._journal.append(
            batch_id=batch_id,
            actor="system",
            action="exception.raised",
            subject=subject,
            new_value={
                "category": category.value,
                "severity": str(severity),
                "message": message,
                "trigger": data,
            },
            alongside=_insert,
        )
