"""Live batch events for the UI (server-sent events), the same from every replica.

Events come from the database, never from the owning engine's memory: every commit that
changes a batch's record (a journal entry: element and batch states, exceptions, commands,
take-overs; a flush of process values) sends ``NOTIFY holon_batch_changed`` with the batch id
inside its transaction (``ebr.journal.notify_changed``), so any replica's doorbell rings at
commit. One :class:`LiveEvents` hub per process then reads, once per ring for all its
clients, what changed for each batch somebody watches, and fans it out:

- ``batch``: the batch's view as committed (state, elements with the commands they allow,
  latest values, open exceptions), whenever its journal grew;
- ``values``: the process values stored since the last event, in storage order.

Each event carries an id ``J-V``: the last journal seq and process-value id the client has
been sent. A client that reconnects (another replica after a hand-over or an upgrade, a
dropped connection) sends it back as ``Last-Event-ID`` and gets the batch view and every
value stored after ``V``: nothing is lost, because the stream is only an index into the
database. A lost ring costs at most the poll interval (the hub also looks every second).

Memory is bounded: each client has a queue of :data:`QUEUE_SIZE` events; a client that does
not keep up is dropped (its stream ends) and resumes from its last event id when it
reconnects, so a slow client costs one reconnect, never unbounded memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mes_runtime.db.doorbell import CHANGED, Doorbell
from mes_runtime.db.models import BatchException, JournalEntry, ProcessValue
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.kernel.tasks import cancel_and_wait
from mes_runtime.services.commands import stored_batch

__all__ = [
    "MAX_VALUES_PER_EVENT",
    "QUEUE_SIZE",
    "Cursor",
    "LiveEvent",
    "LiveEvents",
    "stored_view",
]

log = logging.getLogger(__name__)

#: Events a client may have waiting before it is dropped (it then resumes by its event id).
QUEUE_SIZE = 256
#: Process values in one ``values`` event; a resume with more sends the newest ones and says
#: so (``truncated``): the client reloads the history (``GET .../values``) for the rest.
MAX_VALUES_PER_EVENT = 5000
_POLL_SECONDS = 1.0  # a lost ring costs at most this much


@dataclass(frozen=True, slots=True)
class Cursor:
    """How far a client has been sent: the last journal seq and process-value id."""

    journal: int = 0
    value: int = 0

    def __str__(self) -> str:
        return f"{self.journal}-{self.value}"

    def least(self, other: Cursor | None) -> Cursor:
        """Each part the smaller of the two (``other`` None: this one)."""
        if other is None:
            return self
        return Cursor(min(self.journal, other.journal), min(self.value, other.value))

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """The cursor of a ``Last-Event-ID``; None if absent or not one of ours."""
        if not text:
            return None
        journal, _, value = text.partition("-")
        if not (journal.isdigit() and value.isdigit()) or len(text) > 40:
            return None
        return cls(int(journal), int(value))


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event for the clients watching ``batch_id``: what it carries, and up to where."""

    kind: str  # "batch" or "values"
    batch_id: str
    data: dict[str, Any]
    journal: int = 0  # the journal seq a ``batch`` view reflects (at least)
    values: tuple[dict[str, Any], ...] = ()  # each with its "id"


@dataclass(eq=False)
class _Client:
    batch_id: str
    queue: asyncio.Queue[LiveEvent] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: bool = False


async def stored_view(
    session: AsyncSession, engine: BatchEngine, batch_id: str
) -> dict[str, Any] | None:
    """The batch as committed to the database (any replica shows the same), or None."""
    stored = await stored_batch(session, batch_id)
    if stored is None:
        return None
    row, tree = stored.row, stored.tree
    elements = tree.snapshot_elements()
    for element in elements:
        node = tree.by_path[str(element["path"])]
        element["allowed_commands"] = sorted(c.value for c in engine.allowed(tree, node))
    exceptions = (
        await session.execute(
            select(BatchException)
            .where(BatchException.batch_id == batch_id, BatchException.status == "open")
            .order_by(BatchException.id)
        )
    ).scalars()
    return {
        "id": row.id,
        "recipe": {"name": row.recipe_name, "version": row.recipe_version},
        "state": row.state,
        "elements": elements,
        "values": engine.latest_values(row.bindings) if row.state != "idle" else [],
        "exceptions": [
            {
                "id": x.id,
                "severity": x.severity,
                "subject": x.subject,
                "message": x.message,
                "ts": x.ts.isoformat(),
            }
            for x in exceptions
        ],
    }


async def _journal_head(session: AsyncSession, batch_id: str) -> int:
    seq = await session.scalar(
        select(func.max(JournalEntry.seq)).where(JournalEntry.batch_id == batch_id)
    )
    return int(seq or 0)


async def _values_after(
    session: AsyncSession, batch_id: str, after: int, limit: int, *, newest: bool = False
) -> list[dict[str, Any]]:
    """Values stored after id ``after``, oldest first: the first ``limit`` of them, or the
    newest ``limit`` (a client resuming after a long gap)."""
    order = ProcessValue.id.desc() if newest else ProcessValue.id
    rows = (
        await session.execute(
            select(
                ProcessValue.id,
                ProcessValue.equipment,
                ProcessValue.name,
                ProcessValue.value,
                ProcessValue.ts,
            )
            .where(ProcessValue.batch_id == batch_id, ProcessValue.id > after)
            .order_by(order)
            .limit(limit)
        )
    ).all()
    return [
        {"id": r.id, "tag": f"{r.equipment}.{r.name}", "value": r.value, "ts": r.ts.isoformat()}
        for r in (reversed(rows) if newest else rows)
    ]


async def _value_head(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(ProcessValue.id))) or 0)


class LiveEvents:
    """The process's hub: reads each watched batch's changes once, fans them out."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        bell: Doorbell,
        view: Callable[[AsyncSession, str], Awaitable[dict[str, Any] | None]],
        poll_seconds: float = _POLL_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._bell = bell
        self._view = view
        self._poll = poll_seconds
        self._clients: dict[str, set[_Client]] = defaultdict(set)
        #: per watched batch, how far the hub has read (None: its first client is joining)
        self._cursors: dict[str, Cursor | None] = {}
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0  # clients dropped for not keeping up (tests, benchmarks)

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="live events")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])

    def clients(self) -> int:
        return sum(len(c) for c in self._clients.values())

    async def stream(
        self, batch_id: str, after: Cursor | None, *, heartbeat: float
    ) -> AsyncIterator[tuple[LiveEvent | None, Cursor]]:
        """The events of ``batch_id`` after ``after`` (``None`` every ``heartbeat`` s of
        silence), each with the client's cursor after it. Ends when the client is dropped."""
        client = _Client(batch_id)
        self._clients[batch_id].add(client)  # from now on the hub queues what it reads
        self._cursors.setdefault(batch_id, None)
        try:
            async with self._sessions() as session:
                journal = await _journal_head(session, batch_id)
                view = await self._view(session, batch_id)
                start = after.value if after is not None else await _value_head(session)
                values = await _values_after(
                    session, batch_id, start, MAX_VALUES_PER_EVENT + 1, newest=True
                )
            if view is None:
                return
            value = values[-1]["id"] if values else start
            cursor = Cursor(journal, value)
            # the hub reads on from here, or from further back (nothing skipped)
            self._cursors[batch_id] = cursor.least(self._cursors.get(batch_id))
            yield LiveEvent("batch", batch_id, view, journal=journal), cursor
            if values:
                truncated = len(values) > MAX_VALUES_PER_EVENT
                values = values[-MAX_VALUES_PER_EVENT:]
                event = LiveEvent(
                    "values", batch_id, {"truncated": truncated}, values=tuple(values)
                )
                yield event, cursor
            while not client.dropped:
                try:
                    async with asyncio.timeout(heartbeat):
                        event = await client.queue.get()
                except TimeoutError:
                    yield None, cursor
                    continue
                if event.kind == "batch":
                    if event.journal <= cursor.journal:
                        continue  # read before (or as) what this client already has
                    cursor = Cursor(event.journal, cursor.value)
                    yield event, cursor
                else:
                    fresh = tuple(v for v in event.values if v["id"] > cursor.value)
                    if not fresh:
                        continue
                    cursor = Cursor(cursor.journal, fresh[-1]["id"])
                    yield LiveEvent("values", batch_id, event.data, values=fresh), cursor
        finally:
            watchers = self._clients.get(batch_id)
            if watchers is not None:
                watchers.discard(client)
                if not watchers:
                    del self._clients[batch_id]
                    self._cursors.pop(batch_id, None)

    async def _run(self) -> None:
        while True:
            mark = self._bell.mark(CHANGED)
            more = False
            try:
                more = await self._scan()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database restarting: clients keep their streams
                log.warning("live events: reading changes failed: %s", exc)
            if not more:
                await self._bell.wait(CHANGED, mark, self._poll)

    async def _scan(self) -> bool:
        """Read and publish what changed; ``True`` if there is more to read at once."""
        more = False
        for batch_id, cursor in list(self._cursors.items()):
            if cursor is None:
                continue  # its first client is still reading where to start
            async with self._sessions() as session:
                journal = await _journal_head(session, batch_id)
                view = await self._view(session, batch_id) if journal > cursor.journal else None
                values = await _values_after(session, batch_id, cursor.value, MAX_VALUES_PER_EVENT)
            if batch_id not in self._cursors:
                continue  # its last client left meanwhile
            more = more or len(values) == MAX_VALUES_PER_EVENT
            value = values[-1]["id"] if values else cursor.value
            read = Cursor(max(journal, cursor.journal), value)
            now = self._cursors[batch_id]
            # a client joining meanwhile may have moved it back: keep the earlier point
            self._cursors[batch_id] = read if now == cursor else read.least(now)
            if view is not None:
                self._publish(LiveEvent("batch", batch_id, view, journal=journal))
            if values:
                data = {"truncated": False}
                self._publish(LiveEvent("values", batch_id, data, values=tuple(values)))
        return more

    def _publish(self, event: LiveEvent) -> None:
        for client in list(self._clients.get(event.batch_id, ())):
            try:
                client.queue.put_nowait(event)
            except asyncio.QueueFull:  # too slow: dropped; it resumes by its event id
                client.dropped = True
                self.dropped += 1
                self._clients[event.batch_id].discard(client)
