"""The append-only, hash-chained journal (the electronic batch record's backbone).

One writer per process: appends are serialised by an ``asyncio.Lock`` and the head of the
chain (last seq and hash) is cached in memory, read from the database once at start. Nothing
here ever updates or deletes an entry. If another process appended meanwhile (the primary key
on ``seq`` refuses a fork), the head is re-read and the append retried.

Writes that must be journalled atomically with the entry (e.g. closing an exception) run in
the same transaction through ``append(..., alongside=...)``; a write whose entry depends on
what it found (the old value it replaced, the row it created) goes through
:meth:`Journal.record`, whose work returns the :class:`Entry` to append. Either way a change
and its entry commit together or not at all, and an error raised by the work (a domain
refusal, a constraint violation) reaches the caller unchanged, nothing written.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mes_runtime.db.doorbell import CHANGED
from mes_runtime.db.models import JournalEntry
from mes_runtime.ebr.chain import (
    GENESIS_HASH,
    ChainVerifier,
    VerifyResult,
    encode_value,
    entry_hash,
    format_ts,
)
from mes_runtime.kernel.clock import utcnow

__all__ = [
    "Entry",
    "Journal",
    "StoredEntry",
    "Work",
    "count_entries",
    "notify_changed",
    "verify_journal",
]

_T = cast(Table, JournalEntry.__table__)
_COLUMNS = (
    _T.c.seq,
    _T.c.ts,
    _T.c.actor,
    _T.c.action,
    _T.c.subject,
    _T.c.batch_id,
    _T.c.old_value,
    _T.c.new_value,
    _T.c.reason,
    _T.c.prev_hash,
    _T.c.hash,
)
_INSERT = insert(_T)
_KEYS = tuple(column.name for column in _COLUMNS)
_SQLITE_INSERT = (  # built from the table's own constant column names, no input
    f"INSERT INTO journal ({', '.join(_KEYS)}) VALUES ({', '.join('?' for _ in _KEYS)})"  # noqa: S608
)
_SQLITE_SELECT = f"SELECT {', '.join(_KEYS)} FROM journal"  # noqa: S608 - constant columns
_MAX_RETRIES = 5

Extra = Callable[[AsyncConnection], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """What one journal entry says, before it is chained (``seq``, ``ts`` and hashes)."""

    actor: str
    action: str
    subject: str
    batch_id: str | None = None
    old_value: object = None
    new_value: object = None
    reason: str | None = None


#: A change made in the entries' transaction that says which entries record it (one, or a
#: sequence: several, or none for a run that turned out to change nothing worth an entry).
#: It may run more than once (a group commit falling back to one request per transaction,
#: a dropped connection): each run starts from a rolled-back transaction, so it must keep
#: no state but what it returns.
Work = Callable[[AsyncConnection], Awaitable[Entry | Sequence[Entry]]]

_NOTIFY = text("SELECT pg_notify(:channel, :batch_id)")


async def notify_changed(conn: AsyncConnection, batch_ids: set[str]) -> None:
    """Tell every replica (live events) that these batches changed, inside the writing
    transaction: PostgreSQL delivers a ``NOTIFY`` at commit, never for a rollback. SQLite
    has one process: :attr:`Journal.on_commit` rings there."""
    if conn.dialect.name != "postgresql":
        return
    for batch_id in sorted(batch_ids):
        await conn.execute(_NOTIFY, {"channel": CHANGED, "batch_id": batch_id})


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as written (values are the canonical JSON text that was hashed)."""

    seq: int
    ts: str
    actor: str
    action: str
    subject: str
    batch_id: str | None
    old_value: str | None
    new_value: str | None
    reason: str | None
    prev_hash: str
    hash: str


@dataclass(slots=True)
class _Text:
    """An entry's fields as hashed (values already canonical JSON text)."""

    actor: str
    action: str
    subject: str
    batch_id: str | None
    old_text: str | None
    new_text: str | None
    reason: str | None

    @classmethod
    def of(cls, entry: Entry) -> _Text:
        return cls(
            entry.actor,
            entry.action,
            entry.subject,
            entry.batch_id,
            encode_value(entry.old_value),
            encode_value(entry.new_value),
            entry.reason,
        )


@dataclass(slots=True)
class _Request:
    texts: list[_Text]  # a work's request: filled by each run of the work
    alongside: Extra | None
    future: asyncio.Future[list[StoredEntry]]
    work: Work | None = None


def _batch_ids(batch: list[_Request]) -> set[str]:
    """The batches whose record these requests change (for live events)."""
    return {t.batch_id for r in batch for t in r.texts if t.batch_id}


class Journal:
    """Appends to and verifies the journal table of one database."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._clock = clock
        self._lock = asyncio.Lock()
        self._head: tuple[int, str] | None = None  # (last seq, last hash), None = not loaded
        # The writer keeps one connection: no pool checkout/reset per append (2-3x faster on
        # SQLite). It is only used under the lock and re-opened after any error.
        self._conn: AsyncConnection | None = None
        self._pending: list[_Request] = []
        #: called with the batch ids of every commit that changed a batch's record (the
        #: app rings its in-process doorbell: live events without waiting for a poll)
        self.on_commit: Callable[[set[str]], None] | None = None

    def committed(self, batch_ids: set[str]) -> None:
        """Report a commit that changed these batches (also for writes beside the journal)."""
        if self.on_commit is not None and batch_ids:
            self.on_commit(batch_ids)

    async def _load_head(self, conn: AsyncConnection) -> tuple[int, str]:
        row = (
            await conn.execute(select(_T.c.seq, _T.c.hash).order_by(_T.c.seq.desc()).limit(1))
        ).first()
        return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))

    async def start(self) -> None:
        """Read the head of the chain (done lazily on first append otherwise)."""
        async with self._lock, self._engine.connect() as conn:
            self._head = await self._load_head(conn)

    async def append(
        self,
        *,
        actor: str,
        action: str,
        subject: str,
        batch_id: str | None = None,
        old_value: object = None,
        new_value: object = None,
        reason: str | None = None,
        alongside: Extra | None = None,
    ) -> StoredEntry:
        """Append one entry (and run ``alongside`` in the same transaction, before it).

        Concurrent appends are group-committed: whoever holds the writer lock writes every
        pending entry in one transaction, in arrival order (falling back to one transaction
        per entry if that fails, so one bad ``alongside`` cannot fail its neighbours).
        """
        request = _Request(
            texts=[
                _Text(
                    actor,
                    action,
                    subject,
                    batch_id,
                    encode_value(old_value),
                    encode_value(new_value),
                    reason,
                )
            ],
            alongside=alongside,
            future=asyncio.get_running_loop().create_future(),
        )
        return (await self._submit(request))[0]

    async def append_all(
        self, entries: Sequence[Entry], *, alongside: Extra | None = None
    ) -> list[StoredEntry]:
        """Append several entries, in this order, in one transaction (and run
        ``alongside`` in it, before them): all of them and the change, or nothing."""
        request = _Request(
            texts=[_Text.of(entry) for entry in entries],
            alongside=alongside,
            future=asyncio.get_running_loop().create_future(),
        )
        return await self._submit(request)

    async def record(self, work: Work) -> list[StoredEntry]:
        """Run ``work`` in a transaction and append the entries it returns in the same one.

        For a change whose entries name what the change found or made. ``work`` runs under
        the writer lock (keep it to a few statements: no password hashing, no network).
        """
        request = _Request(
            texts=[],
            alongside=None,
            future=asyncio.get_running_loop().create_future(),
            work=work,
        )
        return await self._submit(request)

    async def _submit(self, request: _Request) -> list[StoredEntry]:
        self._pending.append(request)
        async with self._lock:
            if not request.future.done():
                batch, self._pending = self._pending, []
                try:
                    await self._write_batch(batch)
                except BaseException:
                    # Cancelled while writing for others: hand their entries to the next
                    # writer instead of leaving them waiting forever.
                    self._pending[:0] = [
                        r for r in batch if r is not request and not r.future.done()
                    ]
                    raise
        return request.future.result()

    async def _write_batch(self, batch: list[_Request]) -> None:
        if len(batch) > 1:
            written: list[list[StoredEntry]] | None = None
            with contextlib.suppress(Exception):  # retried one by one below, errors go there
                written = await self._write(batch)
            if written is not None:
                for request, stored in zip(batch, written, strict=True):
                    request.future.set_result(stored)
                return
        for request in batch:
            try:
                request.future.set_result((await self._write([request]))[0])
            except Exception as exc:
                request.future.set_exception(exc)

    async def _write(self, batch: list[_Request]) -> list[list[StoredEntry]]:
        for attempt in range(_MAX_RETRIES):
            conn = self._conn
            if conn is None:
                conn = self._conn = await self._engine.connect()
            entries: list[StoredEntry] = []
            written: list[list[StoredEntry]] = []
            try:
                async with conn.begin():
                    for request in batch:
                        if request.alongside is not None:
                            await request.alongside(conn)
                        if request.work is not None:
                            said = await request.work(conn)
                            said = [said] if isinstance(said, Entry) else said
                            request.texts = [_Text.of(e) for e in said]
                    if self._head is None or attempt:
                        self._head = await self._load_head(conn)
                    seq, prev = self._head
                    for request in batch:
                        stored: list[StoredEntry] = []
                        for t in request.texts:
                            seq += 1
                            ts = format_ts(self._clock())
                            digest = entry_hash(
                                seq=seq,
                                ts=ts,
                                actor=t.actor,
                                action=t.action,
                                subject=t.subject,
                                batch_id=t.batch_id,
                                old_value=t.old_text,
                                new_value=t.new_text,
                                reason=t.reason,
                                prev_hash=prev,
                            )
                            stored.append(
                                StoredEntry(
                                    seq,
                                    ts,
                                    t.actor,
                                    t.action,
                                    t.subject,
                                    t.batch_id,
                                    t.old_text,
                                    t.new_text,
                                    t.reason,
                                    prev,
                                    digest,
                                )
                            )
                            prev = digest
                        entries.extend(stored)
                        written.append(stored)
                    if entries:
                        await self._insert(conn, entries)
                    await notify_changed(conn, _batch_ids(batch))
            except (IntegrityError, sqlite3.IntegrityError):  # (raw SQLite path: the latter)
                # Another writer took these seqs, or an ``alongside`` violated a constraint.
                self._head = None
                await self._drop_connection()
                if not entries or attempt == _MAX_RETRIES - 1:
                    raise
                if not await self._head_moved(entries[0].seq):
                    raise
                continue
            except DBAPIError as exc:
                # A dropped connection (database restart, failover): reconnect and retry.
                self._head = None
                await self._drop_connection()
                if not exc.connection_invalidated or attempt == _MAX_RETRIES - 1:
                    raise
                continue
            except BaseException:
                self._head = None
                await self._drop_connection()
                raise
            if entries:
                self._head = (entries[-1].seq, entries[-1].hash)
            self.committed(_batch_ids(batch))
            return written
        raise AssertionError("unreachable")  # pragma: no cover

    async def _insert(self, conn: AsyncConnection, entries: list[StoredEntry]) -> None:
        rows = [astuple(entry) for entry in entries]
        if conn.dialect.driver == "aiosqlite":
            # One thread hop instead of four (cursor, execute, close): the journal is the
            # hottest write path. Same connection and transaction as ``conn``.
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            if len(rows) == 1:
                await driver.execute_insert(_SQLITE_INSERT, rows[0])
            else:
                cursor = await driver.executemany(_SQLITE_INSERT, rows)
                await cursor.close()
            return
        await conn.execute(_INSERT, [dict(zip(_KEYS, row, strict=True)) for row in rows])

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already failing; the first error matters
                await conn.close()

    async def close(self) -> None:
        """Release the writer's connection (call before disposing of the engine)."""
        async with self._lock:
            await self._drop_connection()

    async def _head_moved(self, seq: int) -> bool:
        async with self._engine.connect() as conn:
            head = await self._load_head(conn)
        return head[0] >= seq

    async def verify(self, *, chunk_size: int = 20_000) -> VerifyResult:
        """Verify the whole chain; also flags entries this writer appended that are gone."""
        known_last = None if self._head is None else self._head[0]  # before reading: appends
        async with self._engine.connect() as conn:  # made meanwhile are not "missing"
            verifier = await _verify(conn, chunk_size)
        if known_last is not None:
            verifier.missing_tail(known_last)
        return verifier.result()


def _chunk_reader(
    conn: AsyncConnection, chunk_size: int
) -> Callable[[int], Awaitable[Sequence[Sequence[object]]]]:
    """``read(after)`` -> the next ``chunk_size`` stored entries with ``seq > after``."""
    if conn.dialect.driver == "aiosqlite":
        # Plain tuples in one thread hop: no Row objects for a read of every entry.
        sql = f"{_SQLITE_SELECT} WHERE seq > ? ORDER BY seq LIMIT {int(chunk_size)}"

        async def read_sqlite(after: int) -> Sequence[Sequence[object]]:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            rows: Sequence[Sequence[object]] = await driver.execute_fetchall(sql, (after,))
            return rows

        return read_sqlite
    query = select(*_COLUMNS).order_by(_T.c.seq).limit(chunk_size)

    async def read(after: int) -> Sequence[Sequence[object]]:
        return (await conn.execute(query.where(_T.c.seq > after))).all()

    return read


async def _verify(conn: AsyncConnection, chunk_size: int) -> ChainVerifier:
    """Read chunk n+1 while chunk n is being hashed (the database works in its own thread
    or server process meanwhile)."""
    verifier = ChainVerifier()
    read = _chunk_reader(conn, chunk_size)
    next_chunk: asyncio.Future[Sequence[Sequence[object]]] = asyncio.ensure_future(read(0))
    try:
        while True:
            rows = await next_chunk
            if not rows:
                break
            last = rows[-1][0]
            more = False
            if len(rows) == chunk_size and isinstance(last, int):
                more = True
                next_chunk = asyncio.ensure_future(read(last))
            if not verifier.feed(rows) or not more:
                break
    finally:
        if not next_chunk.done():
            next_chunk.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await next_chunk
    return verifier


async def verify_journal(
    engine: AsyncEngine, *, chunk_size: int = 20_000, expected_last_seq: int | None = None
) -> VerifyResult:
    """Verify the journal stored in ``engine``'s database, reading it in chunks."""
    async with engine.connect() as conn:
        verifier = await _verify(conn, chunk_size)
    if expected_last_seq is not None:
        verifier.missing_tail(expected_last_seq)
    return verifier.result()


async def count_entries(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(_T))).scalar_one())
