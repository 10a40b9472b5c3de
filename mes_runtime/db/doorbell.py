"""Doorbells: wake the replicas waiting for a channel when another replica writes something
they watch (a batch command queued, a command answered, a batch's lease released).

A doorbell carries no data that matters: waiters always re-read the database, so a ring that
is lost (a listener reconnecting, a process that was not yet listening) only delays them
until their next poll. On PostgreSQL the bell is ``LISTEN``/``NOTIFY``: one dedicated
connection per process listens on every channel and reconnects with back-off (all waiters
are woken after a reconnect, since rings may have been missed). Chosen over polling alone
because a command through a non-owning replica must reach the owner in milliseconds without
every replica querying the inbox many times a second, and over advisory locks because those
coordinate but do not notify. On SQLite (one process) the bell rings in process.

Waiting without a race: take :meth:`Doorbell.mark` *before* reading the database, then
:meth:`Doorbell.wait` with that mark: a ring between the read and the wait is not missed.

One exception to "no data": an answered command's ring (``COMMAND_DONE``) may carry the
answer itself, committed in the same statement that rings; the bell keeps the last few
such payloads (:meth:`Doorbell.said`), so the replica waiting for that answer need not read
it back. A payload that is missing (lost ring, too long to carry) means: read the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from typing import Self

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mes_runtime.kernel.tasks import cancel_and_wait

__all__ = [
    "CHANGED",
    "COMMANDS",
    "COMMAND_DONE",
    "OWNER",
    "RELEASED",
    "Doorbell",
    "doorbell_for",
    "notify_in",
]

log = logging.getLogger(__name__)

COMMANDS = "holon_commands"  # a batch command was queued (payload: batch id)
COMMAND_DONE = "holon_command_done"  # a queued command was answered (payload: its id)
RELEASED = "holon_released"  # batch leases were released (payload: batch ids)
#: a batch's record changed (payload: batch id); sent inside the writing transaction, so
#: PostgreSQL delivers it at commit and never for a write that rolled back (live events)
CHANGED = "holon_batch_changed"
OWNER = "holon_owner"  # the ownership grant changed (an upgrade's switch or its rollback)
CHANNELS = (COMMANDS, COMMAND_DONE, RELEASED, CHANGED, OWNER)

#: channels whose payloads the bell keeps (``"<key> <rest>"``: :meth:`Doorbell.said`)
_KEPT = frozenset({COMMAND_DONE})
_KEEP_LAST = 256  # payloads kept per channel: far more than answers awaited at once
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")
_RECONNECT_FIRST = 0.2
_RECONNECT_MAX = 5.0


async def notify_in(conn: AsyncConnection, channel: str, payload: str = "") -> None:
    """Ring ``channel`` from inside a writing transaction: PostgreSQL delivers it at commit
    (never for a rollback), one round trip fewer than a ring after the commit. Then call
    :meth:`Doorbell.committed`, which rings the in-process bell (SQLite)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(_NOTIFY, {"channel": channel, "payload": payload})


class Doorbell:
    """In-process doorbell (SQLite: one process); the PostgreSQL one extends it."""

    def __init__(self) -> None:
        self._rings: dict[str, int] = defaultdict(int)
        self._changed = asyncio.Event()
        self._said: dict[str, OrderedDict[str, str]] = defaultdict(OrderedDict)

    @property
    def listening(self) -> bool:
        """Whether rings from other processes reach this one now."""
        return True

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._wake(CHANNELS)

    def mark(self, channel: str) -> int:
        """How often ``channel`` has rung so far (take it before reading the database)."""
        return self._rings[channel]

    def said(self, channel: str, key: str) -> str | None:
        """What the latest ring of ``channel`` whose payload starts with ``key`` said after
        it (None if no such ring was heard, or it is no longer kept)."""
        return self._said[channel].get(key)

    def _keep(self, channel: str, payload: str) -> None:
        if channel not in _KEPT:
            return
        key, _, rest = payload.partition(" ")
        if not rest:
            return
        kept = self._said[channel]
        kept[key] = rest
        while len(kept) > _KEEP_LAST:
            kept.popitem(last=False)

    async def wait(self, channel: str, mark: int, patience: float) -> bool:
        """Until ``channel`` rings after ``mark`` or ``patience`` s pass; ``True`` if it rang."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        while self._rings[channel] == mark:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            event = self._changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await event.wait()
        return True

    async def ring(self, channel: str, payload: str = "") -> None:
        """Ring ``channel`` for every process listening (call after the write committed)."""
        self._keep(channel, payload)
        self._wake((channel,))

    def ring_here(self, channel: str) -> None:
        """Ring ``channel`` in this process only (a write of this process just committed)."""
        self._wake((channel,))

    def committed(self, channel: str, payload: str = "") -> None:
        """A write that rang ``channel`` inside its transaction (:func:`notify_in`) has
        committed: ring it here, where no database delivers it (one process)."""
        self._keep(channel, payload)
        self._wake((channel,))

    def _wake(self, channels: Iterable[str]) -> None:
        for channel in channels:
            self._rings[channel] += 1
        event, self._changed = self._changed, asyncio.Event()
        event.set()


class PgDoorbell(Doorbell):
    """``LISTEN``/``NOTIFY`` on PostgreSQL, over its own autocommit connection."""

    def __init__(self, engine: AsyncEngine, database_url: str) -> None:
        super().__init__()
        self._engine = engine
        self._conninfo = (
            make_url(database_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        self._listening = False
        self._task: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._listening

    def committed(self, channel: str, payload: str = "") -> None:
        """PostgreSQL delivers the ``NOTIFY`` of :func:`notify_in` at commit, to every
        listener, this process's included: nothing to do."""

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._listen(), name="doorbell listener")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
        self._listening = False
        await super().__aexit__(*exc)

    async def ring(self, channel: str, payload: str = "") -> None:
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})
            await conn.commit()

    async def _listen(self) -> None:
        delay = _RECONNECT_FIRST
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True
                ) as conn:
                    for channel in CHANNELS:
                        await conn.execute(f"LISTEN {channel}")
                    self._listening = True
                    delay = _RECONNECT_FIRST
                    self._wake(CHANNELS)  # whatever rang while not listening: look again
                    async for notify in conn.notifies():
                        self._keep(notify.channel, notify.payload)
                        self._wake((notify.channel,))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database restarted or is unreachable: retry
                if self._listening:
                    log.warning("doorbell listener lost its connection: %s", exc)
            self._listening = False
            self._wake(CHANNELS)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RECONNECT_MAX)


def doorbell_for(engine: AsyncEngine, database_url: str) -> Doorbell:
    """The doorbell that fits the database: ``LISTEN``/``NOTIFY`` or in process."""
    if engine.dialect.name == "postgresql":
        return PgDoorbell(engine, database_url)
    return Doorbell()
