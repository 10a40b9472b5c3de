"""The QMS outbox: exception events for the plant's QMS, written with the change they report.

A transactional outbox (STYLE 27). Whoever raises or closes an exception calls
:meth:`QmsOutbox.add` with the connection of the transaction that writes the exception row
and its journal entry: the event is committed with the change or not at all, so a crash can
neither lose an event nor report a change that never happened. The event is stored as the
exact CloudEvents 1.0 JSON to send (structured mode), with a stable id, so every
(re)delivery is byte-identical and a receiver de-duplicates on ``id``.

A relay (:mod:`mes_runtime.services.qms`) delivers them: :meth:`QmsOutbox.claim` takes due
events under a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, compare-and-set on the
lease everywhere, as :mod:`mes_runtime.ebr.inbox` does), one replica per event; the
outcome is written only by the claim that holds the lease (:meth:`delivered`,
:meth:`failed`). A replica killed mid-delivery leaves its lease to expire and a peer (or
its own successor) sends the same event again: delivery is at least once from here and
exactly once at a receiver that keeps the ids it has seen. Events of one exception go out
in order: an event is not claimed while an earlier one of the same exception is pending.

Which exceptions are reported is the :class:`QmsPolicy` (categories, severities).
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mes_runtime.db.models import QmsEvent
from mes_runtime.kernel.clock import utcnow

__all__ = [
    "EVENT_TYPE_PREFIX",
    "ClaimedEvent",
    "Delivery",
    "QmsOutbox",
    "QmsPolicy",
    "deliveries",
]

_T = cast(Table, QmsEvent.__table__)

#: CloudEvents ``type`` of what happened to an exception: ``<prefix>raised``, ``…closed``
#: (by a person's signature) and ``…auto_closed`` (by an approved rule).
EVENT_TYPE_PREFIX = "dev.holon.exception."


@dataclass(frozen=True, slots=True)
class QmsPolicy:
    """Which exceptions go to the QMS, and the ``source`` the events name.

    Empty ``categories`` or ``severities`` select every one."""

    source: str
    categories: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()

    def selects(self, category: str, severity: str) -> bool:
        return (not self.categories or category in self.categories) and (
            not self.severities or severity in self.severities
        )


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    """An event claimed for delivery: send ``body`` as it is."""

    id: int
    event_id: str
    body: str
    attempt: int  # this one's number (a claim counts as an attempt: it may reach the QMS)
    lease_token: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event's delivery state, as the API shows it."""

    event_id: str
    exception_id: int
    batch_id: str
    type: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class QmsOutbox:
    """``qms_outbox`` over SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(
        self, engine: AsyncEngine, policy: QmsPolicy, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._engine = engine
        self.policy = policy
        self._clock = clock

    async def add(
        self, conn: AsyncConnection, *, change: str, exception: Mapping[str, Any]
    ) -> str | None:
        """Write the event for ``change`` (raised, closed, auto_closed) of ``exception`` in
        the caller's transaction, if the policy selects it; its id (``None``: not selected).

        ``exception`` is the exception as JSON-ready data, with at least ``id``,
        ``batch_id``, ``category`` and ``severity``; it is the event's ``data``."""
        if not self.policy.selects(str(exception["category"]), str(exception["severity"])):
            return None
        now = self._clock()
        event_id = str(uuid.uuid4())
        kind = EVENT_TYPE_PREFIX + change
        event = {
            "specversion": "1.0",
            "id": event_id,
            "source": self.policy.source,
            "type": kind,
            "subject": f"batches/{exception['batch_id']}/exceptions/{exception['id']}",
            "time": now.isoformat(),
            "datacontenttype": "application/json",
            "data": dict(exception),
        }
        await conn.execute(
            insert(_T),
            {
                "event_id": event_id,
                "exception_id": int(exception["id"]),
                "batch_id": str(exception["batch_id"]),
                "type": kind,
                "body": json.dumps(event, sort_keys=True, separators=(",", ":"), default=str),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            },
        )
        return event_id

    async def claim(
        self, *, owner: str, lease: timedelta, limit: int = 16, any_lease: bool = False
    ) -> list[ClaimedEvent]:
        """Claim up to ``limit`` due events, oldest first, for ``lease``. ``any_lease``
        also takes events under a live lease (a single-process runtime at start: the
        holder was this process's predecessor)."""
        now = self._clock()
        earlier = _T.alias("earlier")
        due = and_(_T.c.status == "pending", _T.c.next_attempt_at <= now)
        if not any_lease:
            due = and_(due, (_T.c.lease_until.is_(None)) | (_T.c.lease_until <= now))
        query = (
            select(_T.c.id, _T.c.event_id, _T.c.body, _T.c.attempts, _T.c.lease_token)
            .where(
                due,
                ~exists().where(
                    earlier.c.exception_id == _T.c.exception_id,
                    earlier.c.id < _T.c.id,
                    earlier.c.status == "pending",
                ),
            )
            .order_by(_T.c.id)
            .limit(limit)
        )
        if self._engine.dialect.name == "postgresql":
            query = query.with_for_update(of=_T, skip_locked=True)
        claimed: list[ClaimedEvent] = []
        async with self._engine.begin() as conn:
            for row in (await conn.execute(query)).all():
                token = secrets.token_hex(8)
                result = await conn.execute(
                    update(_T)
                    .where(
                        _T.c.id == row.id,
                        _T.c.status == "pending",
                        _T.c.lease_token.is_(None)
                        if row.lease_token is None
                        else _T.c.lease_token == row.lease_token,
                    )
                    .values(
                        lease_token=token,
                        leased_by=owner,
                        lease_until=now + lease,
                        attempts=_T.c.attempts + 1,
                    )
                )
                if result.rowcount == 1:
                    attempt = int(row.attempts) + 1
                    claimed.append(
                        ClaimedEvent(int(row.id), row.event_id, row.body, attempt, token)
                    )
        return claimed

    async def delivered(self, event: ClaimedEvent) -> bool:
        """The QMS accepted it; ``False`` if the claim had lapsed (a peer took it over)."""
        return await self._finish(
            event, status="delivered", delivered_at=self._clock(), last_error=None
        )

    async def failed(self, event: ClaimedEvent, *, error: str, retry_at: datetime) -> bool:
        """It was not accepted: keep it pending until ``retry_at``, with the error."""
        return await self._finish(event, last_error=error[:2000], next_attempt_at=retry_at)

    async def _finish(self, event: ClaimedEvent, **values: Any) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(_T)
                .where(
                    _T.c.id == event.id,
                    _T.c.status == "pending",
                    _T.c.lease_token == event.lease_token,
                )
                .values(lease_token=None, leased_by=None, lease_until=None, **values)
            )
            return result.rowcount == 1

    async def release(self, events: Collection[ClaimedEvent]) -> None:
        """Give claims back unfinished (shutdown): a peer may send them at once."""
        async with self._engine.begin() as conn:
            for event in events:
                await conn.execute(
                    update(_T)
                    .where(_T.c.id == event.id, _T.c.lease_token == event.lease_token)
                    .values(lease_token=None, leased_by=None, lease_until=None)
                )


async def deliveries(
    engine: AsyncEngine,
    *,
    status: str | None = None,
    exception_id: int | None = None,
    batch_id: str | None = None,
    limit: int = 100,
) -> list[Delivery]:
    """Events and their delivery state, newest first."""
    query = select(_T).order_by(_T.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(_T.c.status == status)
    if exception_id is not None:
        query = query.where(_T.c.exception_id == exception_id)
    if batch_id is not None:
        query = query.where(_T.c.batch_id == batch_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        Delivery(
            event_id=r.event_id,
            exception_id=int(r.exception_id),
            batch_id=r.batch_id,
            type=r.type,
            status=r.status,
            attempts=int(r.attempts),
            last_error=r.last_error,
            next_attempt_at=None if r.status == "delivered" else r.next_attempt_at,
            created_at=r.created_at,
            delivered_at=r.delivered_at,
        )
        for r in rows
    ]
