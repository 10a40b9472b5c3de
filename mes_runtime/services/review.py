"""Review by exception: raise, read and close exceptions, each change with its journal entry.

Every change is written in the same transaction as the journal entry that records it
(:meth:`Journal.append` with ``alongside``), and only while the exception is still open,
so a closure is decided once: a second closer, a re-run of the closure rules or a rule
edited later finds it closed and changes nothing; and never once the batch is released or
rejected (:class:`BatchLocked`).

An exception's journal links are the entries that raised and closed it: the
``exception.raised`` entry of its batch and subject carrying its message, and the
``exception.closed``/``exception.auto_closed`` entries naming its id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import RowMapping, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mes_runtime.auth.signatures import Signature, SignatureMeaning, require_meaning
from mes_runtime.db.models import BatchException, BatchReview, JournalEntry
from mes_runtime.domain.exceptions import (
    AutoClosure,
    Category,
    ExceptionNotOpen,
    PersonClosure,
    ReviewException,
)
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.outbox import QmsOutbox
from mes_runtime.kernel.clock import utcnow
from mes_runtime.kernel.events import Severity

__all__ = [
    "BatchLocked",
    "ExceptionReview",
    "NewException",
    "UnknownException",
    "event_data",
]

_T = cast(Table, BatchException.__table__)
_J = cast(Table, JournalEntry.__table__)
_REVIEWS = cast(Table, BatchReview.__table__)
RAISED, CLOSED, AUTO_CLOSED = "exception.raised", "exception.closed", "exception.auto_closed"


class UnknownException(LookupError):
    """No exception has this id."""


class BatchLocked(Exception):
    """The batch was released or rejected: its exceptions can no longer change."""


@dataclass(frozen=True, slots=True)
class NewException:
    """An exception to raise, with the data that triggered it."""

    batch_id: str
    category: Category
    severity: Severity
    subject: str
    message: str
    trigger: Mapping[str, Any] | None = None


class ExceptionReview:
    """Exceptions of batches, over the runtime's database and its journal."""

    def __init__(
        self, *, engine: AsyncEngine, journal: Journal, outbox: QmsOutbox | None = None
    ) -> None:
        self._engine = engine
        self._journal = journal
        self._outbox = outbox

    async def raise_exception(self, new: NewException, *, actor: str = "system") -> int:
        """Store and journal ``new``; its id."""
        ids: list[int] = []
        trigger = None if new.trigger is None else dict(new.trigger)

        async def _insert(conn: AsyncConnection) -> None:
            now = utcnow()
            result = await conn.execute(
                insert(_T).returning(_T.c.id),
                {
                    "batch_id": new.batch_id,
                    "severity": new.severity.value,
                    "subject": new.subject,
                    "message": new.message,
                    "ts": now,
                    "status": "open",
                    "category": new.category.value,
                    "trigger": trigger,
                },
            )
            ids[:] = [result.scalar_one()]
            if self._outbox is not None:
                raised = ReviewException(
                    id=ids[0],
                    batch_id=new.batch_id,
                    category=new.category,
                    severity=new.severity,
                    subject=new.subject,
                    message=new.message,
                    raised_at=now,
                    trigger=trigger,
                )
                await self._outbox.add(conn, change="raised", exception=event_data(raised))

        await self._journal.append(
            batch_id=new.batch_id,
            actor=actor,
            action=RAISED,
            subject=new.subject,
            new_value={
                "category": new.category.value,
                "severity": new.severity.value,
                "message": new.message,
                "trigger": trigger,
            },
            alongside=_insert,
        )
        return ids[0]

    async def get(self, exception_id: int) -> ReviewException:
        found = await self.list(ids=[exception_id])
        if not found:
            raise UnknownException(f"no exception {exception_id}")
        return found[0]

    async def list(
        self,
        *,
        batch_id: str | None = None,
        ids: Sequence[int] | None = None,
        status: str | None = None,
        severity: str | None = None,
    ) -> list[ReviewException]:
        """Exceptions in the order they were raised, with their journal links."""
        query = select(_T).order_by(_T.c.id)
        if batch_id is not None:
            query = query.where(_T.c.batch_id == batch_id)
        if ids is not None:
            query = query.where(_T.c.id.in_(ids))
        if status is not None:
            query = query.where(_T.c.status == status)
        if severity is not None:
            query = query.where(_T.c.severity == severity)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            links = await _journal_links(conn, rows)
        return [_from_row(row, links.get(row["id"], ())) for row in rows]

    async def close(self, exception_id: int, *, signature: Signature, comment: str) -> None:
        """Close by a person's signature meaning "approved" (``WrongMeaning`` otherwise);
        :class:`ExceptionNotOpen` if already closed."""
        require_meaning(signature.meaning, SignatureMeaning.APPROVED, "closing an exception")
        current = await self.get(exception_id)
        closed = current.close(
            username=signature.username,
            meaning=signature.meaning.value,
            signed_at=signature.signed_at,
            comment=comment,
        )
        assert isinstance(closed.closure, PersonClosure)
        await self._write(
            current,
            actor=signature.username,
            action=CLOSED,
            values={
                "status": "closed",
                "closed_by": signature.username,
                "closed_at": signature.signed_at,
                "closure_reason": comment,
                "signature_meaning": signature.meaning.value,
            },
            new_value={
                "id": exception_id,
                "status": "closed",
                "signature": signature.manifest(),
            },
            reason=comment,
        )

    async def auto_close(
        self,
        exception_id: int,
        *,
        rule_id: str,
        rule_version: int,
        evidence: Mapping[str, Any],
        at: datetime | None = None,
    ) -> None:
        """Close by an approved rule; :class:`ExceptionNotOpen` if already closed."""
        current = await self.get(exception_id)
        closed = current.auto_close(
            rule_id=rule_id, rule_version=rule_version, evidence=evidence, at=at or utcnow()
        )
        assert isinstance(closed.closure, AutoClosure)
        closure = closed.closure
        await self._write(
            current,
            actor="system",
            action=AUTO_CLOSED,
            values={
                "status": "auto_closed",
                "closed_at": closure.at,
                "rule_id": rule_id,
                "rule_version": rule_version,
                "closure_evidence": dict(evidence),
            },
            new_value={
                "id": exception_id,
                "status": "auto_closed",
                "rule": {"id": rule_id, "version": rule_version},
                "evidence": dict(evidence),
            },
            reason=f"closed by rule {rule_id} v{rule_version}",
        )

    async def _write(
        self,
        current: ReviewException,
        *,
        actor: str,
        action: str,
        values: dict[str, Any],
        new_value: dict[str, Any],
        reason: str,
    ) -> None:
        async def _update(conn: AsyncConnection) -> None:
            locked = await conn.scalar(
                select(_REVIEWS.c.decision).where(
                    _REVIEWS.c.batch_id == current.batch_id, _REVIEWS.c.decision.is_not(None)
                )
            )
            if locked is not None:
                raise BatchLocked(f"batch {current.batch_id} is {locked}: it is locked")
            result = await conn.execute(
                update(_T).where(_T.c.id == current.id, _T.c.status == "open").values(**values)
            )
            if result.rowcount != 1:
                raise ExceptionNotOpen(f"exception {current.id} was closed meanwhile")
            if self._outbox is not None:
                await self._outbox.add(
                    conn,
                    change=action.removeprefix("exception."),
                    exception={**event_data(current), **new_value, "reason": reason},
                )

        await self._journal.append(
            batch_id=current.batch_id,
            actor=actor,
            action=action,
            subject=current.subject,
            old_value={"id": current.id, "status": "open"},
            new_value=new_value,
            reason=reason,
            alongside=_update,
        )


async def _journal_links(
    conn: AsyncConnection, rows: Sequence[RowMapping]
) -> dict[int, tuple[int, ...]]:
    """Seqs of the journal entries that raised and closed each row, in order."""
    batches = {row["batch_id"] for row in rows}
    if not batches:
        return {}
    entries = await conn.execute(
        select(_J.c.seq, _J.c.batch_id, _J.c.action, _J.c.subject, _J.c.new_value)
        .where(_J.c.batch_id.in_(batches), _J.c.action.in_((RAISED, CLOSED, AUTO_CLOSED)))
        .order_by(_J.c.seq)
    )
    raised: dict[tuple[str, str, str], list[int]] = {}
    closed: dict[int, list[int]] = {}
    for seq, batch_id, action, subject, text in entries:
        value = json.loads(text) if text else {}
        if action == RAISED:
            raised.setdefault((batch_id, subject, value.get("message", "")), []).append(seq)
        elif isinstance(value.get("id"), int):
            closed.setdefault(value["id"], []).append(seq)
    # Equal raises (same batch, subject, message) pair up with equal rows in order, so
    # every row of those batches counts, not only the ones asked for.
    every = await conn.execute(
        select(_T.c.id, _T.c.batch_id, _T.c.subject, _T.c.message)
        .where(_T.c.batch_id.in_(batches))
        .order_by(_T.c.id)
    )
    links: dict[int, tuple[int, ...]] = {}
    taken: dict[tuple[str, str, str], int] = {}
    for exception_id, batch_id, subject, message in every:
        key = (batch_id, subject, message)
        index = taken.get(key, 0)
        taken[key] = index + 1
        first = raised.get(key, [])[index : index + 1]
        links[exception_id] = (*first, *closed.get(exception_id, []))
    return links


def event_data(x: ReviewException) -> dict[str, Any]:
    """An exception as a QMS event's ``data`` (JSON-ready): what it is, not its closure."""
    return {
        "id": x.id,
        "batch_id": x.batch_id,
        "category": x.category.value,
        "severity": x.severity.value,
        "subject": x.subject,
        "message": x.message,
        "raised_at": x.raised_at.isoformat(),
        "trigger": None if x.trigger is None else dict(x.trigger),
        "status": x.status.value,
    }


def _from_row(row: RowMapping, journal: tuple[int, ...]) -> ReviewException:
    closure: AutoClosure | PersonClosure | None = None
    if row["status"] == "auto_closed":
        closure = AutoClosure(
            rule_id=row["rule_id"],
            rule_version=row["rule_version"],
            evidence=row["closure_evidence"] or {},
            at=row["closed_at"],
        )
    elif row["status"] == "closed":
        closure = PersonClosure(
            username=row["closed_by"],
            meaning=row["signature_meaning"] or "",
            signed_at=row["closed_at"],
            comment=row["closure_reason"] or "",
        )
    category = row["category"]
    return ReviewException(
        id=row["id"],
        batch_id=row["batch_id"],
        # rows raised before exceptions carried a category (expand_0005) have none
        category=Category(category) if category else Category.OTHER,
        severity=Severity(row["severity"]),
        subject=row["subject"],
        message=row["message"],
        raised_at=row["ts"],
        trigger=row["trigger"],
        journal=journal,
        closure=closure,
    )
