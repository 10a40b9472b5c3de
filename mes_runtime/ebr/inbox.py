"""The command inbox: batch commands travel through the database to the batch's owner.

A replica that receives a command for a batch it does not execute queues it here
(:meth:`CommandInbox.submit`); the owner takes the commands queued for its batches
(:meth:`CommandInbox.take`, compare-and-set from ``pending``; ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), applies each and writes its answer (:meth:`CommandInbox.answer`); the queuing
replica hears that answer in the ring that announces it (:meth:`CommandInbox.heard`) or
reads it (:meth:`CommandInbox.outcome`). A command nobody took in time is
expired by the replica that queued it (:meth:`CommandInbox.expire`, compare-and-set too), so
it is either applied or expired, never both, and never applied twice. Pod-to-Pod calls are
never needed: every replica only talks to the database.

An owner that dies with a command taken leaves it ``taken``: the replica that takes the
batch over gives it back to the queue (:meth:`CommandInbox.reclaim`) and, before applying
it, looks in the journal whether the dead owner had given it already
(:meth:`CommandInbox.given_before`); then it answers with the outcome instead of giving
the command a second time.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mes_runtime.db.doorbell import COMMAND_DONE, COMMANDS
from mes_runtime.db.models import BatchCommand, BatchElement, JournalEntry
from mes_runtime.kernel.clock import utcnow

__all__ = ["CommandInbox", "QueuedCommand"]

_COMMANDS = cast(Table, BatchCommand.__table__)
_JOURNAL = cast(Table, JournalEntry.__table__)
_ELEMENTS = cast(Table, BatchElement.__table__)
#: longest answer a ring carries (PostgreSQL refuses NOTIFY payloads from 8000 bytes)
_PAYLOAD_MAX = 7000
# what a taken command carries to its owner, and who took it before (a reclaimed command)
_QUEUED = (
    _COMMANDS.c.id,
    _COMMANDS.c.batch_id,
    _COMMANDS.c.path,
    _COMMANDS.c.command,
    _COMMANDS.c.actor,
    _COMMANDS.c.reason,
)
_PREVIOUS = _COMMANDS.c.taken_by.label("previous")


@dataclass(frozen=True, slots=True)
class QueuedCommand:
    """A command taken from the inbox by the batch's owner."""

    id: int
    batch_id: str
    path: str
    command: str
    actor: str
    reason: str | None
    #: an earlier owner took it and never answered (see :meth:`CommandInbox.reclaim`)
    reclaimed: bool = False


class CommandInbox:
    """``batch_commands`` over SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._clock = clock

    async def submit(
        self,
        *,
        batch_id: str,
        path: str,
        command: str,
        actor: str,
        reason: str | None,
        expect: Callable[[Mapping[str, str]], None] | None = None,
    ) -> int:
        """Queue a command for the batch's owner (ringing ``COMMANDS`` at commit: then call
        :meth:`Doorbell.committed`); returns its id.

        ``expect`` is first called with the batch's stored element states (path -> state)
        and raises to refuse the command (nothing is queued then). On PostgreSQL both take
        one connection and two statements, each its own transaction (the check is advice:
        the owner checks again against its live state), the insert ringing in the same
        statement; SQLite runs them in one transaction."""
        values = {
            "batch_id": batch_id,
            "path": path,
            "command": command,
            "actor": actor,
            "reason": reason,
            "status": "pending",
            "created_at": self._clock(),
        }
        async with self._statements() as conn:
            if expect is not None:
                stored = await conn.execute(
                    select(_ELEMENTS.c.path, _ELEMENTS.c.state).where(
                        _ELEMENTS.c.batch_id == batch_id
                    )
                )
                expect({row.path: row.state for row in stored})
            queued = insert(_COMMANDS).values(values).returning(_COMMANDS.c.id)
            if conn.dialect.name != "postgresql":
                return int((await conn.execute(queued)).scalar_one())
            new = queued.cte("queued")  # the owner wakes at commit, this statement's end
            ringing = select(new.c.id, func.pg_notify(COMMANDS, batch_id).label("rang"))
            return int((await conn.execute(ringing)).one().id)

    @contextlib.asynccontextmanager
    async def _statements(self) -> AsyncIterator[AsyncConnection]:
        """A connection whose statements each commit on their own on PostgreSQL
        (autocommit: no ``BEGIN``/``COMMIT`` round trips); one transaction on SQLite."""
        async with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                yield await conn.execution_options(isolation_level="AUTOCOMMIT")
                return
            async with conn.begin():
                yield conn

    async def take(self, batch_ids: Collection[str], *, owner: str) -> list[QueuedCommand]:
        """Take the pending commands of the given batches, oldest first.

        On PostgreSQL one statement (its own transaction) picks the rows (``FOR UPDATE SKIP
        LOCKED``) and marks them taken, so the owner spends one round trip on it; SQLite
        (one process, writes serialised) selects, then marks each row."""
        if not batch_ids:
            return []
        pending = (_COMMANDS.c.status == "pending", _COMMANDS.c.batch_id.in_(list(batch_ids)))
        async with self._statements() as conn:
            if conn.dialect.name == "postgresql":
                picked = (
                    select(_COMMANDS.c.id, _PREVIOUS)
                    .where(*pending)
                    .with_for_update(skip_locked=True)
                    .subquery("picked")
                )
                rows = (
                    await conn.execute(
                        update(_COMMANDS)
                        .where(_COMMANDS.c.id == picked.c.id)
                        .values(status="taken", taken_by=owner)
                        .returning(*_QUEUED, picked.c.previous)
                    )
                ).all()
            else:
                rows = []
                for row in (await conn.execute(select(*_QUEUED, _PREVIOUS).where(*pending))).all():
                    result = await conn.execute(
                        update(_COMMANDS)
                        .where(_COMMANDS.c.id == row.id, _COMMANDS.c.status == "pending")
                        .values(status="taken", taken_by=owner)
                    )
                    if result.rowcount == 1:
                        rows.append(row)
        return [
            QueuedCommand(
                id=int(row.id),
                batch_id=row.batch_id,
                path=row.path,
                command=row.command,
                actor=row.actor,
                reason=row.reason,
                reclaimed=row.previous is not None,
            )
            for row in sorted(rows, key=lambda row: int(row.id))
        ]

    async def answer(self, command_id: int, *, done: bool, outcome: dict[str, Any]) -> str:
        """Write the owner's answer to a command it took, ringing ``COMMAND_DONE`` at
        commit; returns the ring's payload (pass it to :meth:`Doorbell.committed`), empty if
        the command was no longer taken (given back to a new owner: this one may not answer).

        The ring carries the answer (:meth:`heard` reads it), so that the queuing replica
        need not read it back; on PostgreSQL the update rings in the same statement, its
        own transaction."""
        status = "done" if done else "refused"
        said = json.dumps({"status": status, "outcome": outcome}, separators=(",", ":"))
        payload = f"{command_id} {said}"
        if len(payload.encode()) > _PAYLOAD_MAX:  # too long to ring: read back instead
            payload = str(command_id)
        answered = (
            update(_COMMANDS)
            .where(_COMMANDS.c.id == command_id, _COMMANDS.c.status == "taken")
            .values(status=status, outcome=outcome, done_at=self._clock())
        )
        async with self._statements() as conn:
            if conn.dialect.name == "postgresql":
                rang = answered.returning(func.pg_notify(COMMAND_DONE, payload).label("rang"))
                written = len((await conn.execute(rang)).all())
            else:
                written = (await conn.execute(answered)).rowcount
        return payload if written == 1 else ""  # not taken (any more): nothing answered

    @staticmethod
    def heard(said: str) -> tuple[str, dict[str, Any] | None]:
        """A command's status and outcome as its answer's ring carried them (what
        :meth:`Doorbell.said` returns for its id)."""
        value = json.loads(said)
        outcome = value.get("outcome")
        return str(value["status"]), (dict(outcome) if outcome is not None else None)

    async def requeue(self, command_id: int, *, given: bool = False) -> None:
        """Give a taken command back: its batch moved to another owner before it applied
        or, if ``given``, while its equipment command was on its way (then the new owner
        answers it as :meth:`reclaim` ed, without giving it again)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(_COMMANDS)
                .where(_COMMANDS.c.id == command_id, _COMMANDS.c.status == "taken")
                .values(status="pending", **({} if given else {"taken_by": None}))
            )

    async def reclaim(self, batch_id: str, *, owner: str) -> int:
        """Give back to the queue the commands of a batch that an earlier owner took and
        never answered (it died or was fenced meanwhile); returns how many."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(_COMMANDS)
                .where(
                    _COMMANDS.c.batch_id == batch_id,
                    _COMMANDS.c.status == "taken",
                    _COMMANDS.c.taken_by != owner,
                )
                .values(status="pending")  # taken_by kept: it marks the command reclaimed
            )
            return int(result.rowcount)

    async def given_before(self, queued: QueuedCommand) -> tuple[bool, str | None]:
        """Whether an earlier owner gave this command already (its journal entry names the
        queued command), and if so the reason it failed, if it did."""
        action = f"command.{queued.command}"
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        _JOURNAL.c.seq, _JOURNAL.c.action, _JOURNAL.c.new_value, _JOURNAL.c.reason
                    )
                    .where(
                        _JOURNAL.c.batch_id == queued.batch_id,
                        _JOURNAL.c.subject == queued.path,
                        _JOURNAL.c.action.startswith("command."),
                    )
                    .order_by(_JOURNAL.c.seq)
                )
            ).all()
        given = False
        for row in rows:
            if given:  # the entry right after it on this element tells whether it failed
                return True, row.reason if row.action == "command.failed" else None
            value = json.loads(row.new_value) if row.new_value else None
            given = row.action == action and value == {"inbox": queued.id}
        return given, None

    async def outcome(self, command_id: int) -> tuple[str, dict[str, Any] | None]:
        """A queued command's status and, once answered, its outcome."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(_COMMANDS.c.status, _COMMANDS.c.outcome).where(
                        _COMMANDS.c.id == command_id
                    )
                )
            ).one()
        return str(row.status), (dict(row.outcome) if row.outcome is not None else None)

    async def expire(self, command_id: int) -> bool:
        """Withdraw a command nobody took; ``False`` if the owner took it meanwhile."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(_COMMANDS)
                .where(_COMMANDS.c.id == command_id, _COMMANDS.c.status == "pending")
                .values(status="expired", done_at=self._clock())
            )
            return result.rowcount == 1
