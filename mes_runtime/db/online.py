"""Schema changes while the runtime serves: bounded lock waits and backfills in batches.

A migration that runs beside live replicas (the operator's expand and contract Jobs) must
never queue behind a long transaction while holding up every query that arrives after it,
nor rewrite a large table in one transaction. So, on PostgreSQL, a migration calls
:func:`bound_waits` first: ``lock_timeout`` (default 2 s) makes a DDL statement that cannot
get its lock fail at once with ``canceling statement due to lock timeout``, to be re-run
later, instead of waiting; ``statement_timeout`` (default 60 s) bounds each statement. A
backfill runs in batches (:func:`backfill_in_batches`, default 1,000 rows per statement),
each statement its own transaction (inside alembic's ``autocommit_block``), keyed on the
primary key so that it always ends, and touching only rows not done yet, so that a re-run
after a failure continues where it stopped. SQLite (one process, no lock queue) ignores
the timeouts and runs the same batches.

Settings (environment, read when the migration runs): ``HOLON_MIGRATION_LOCK_TIMEOUT_MS``,
``HOLON_MIGRATION_STATEMENT_TIMEOUT_MS``, ``HOLON_MIGRATION_BATCH_ROWS``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from sqlalchemy import Connection, text

__all__ = ["Backfill", "backfill_in_batches", "batch_rows", "bound_waits"]

log = logging.getLogger("holon.migrations")


def _setting(name: str, default: int) -> int:
    raw = os.environ.get(name)
    value = int(raw) if raw else default
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, not {raw!r}")
    return value


def batch_rows() -> int:
    return _setting("HOLON_MIGRATION_BATCH_ROWS", 1000)


def bound_waits(bind: Connection) -> None:
    """``SET lock_timeout`` and ``statement_timeout`` for this migration's session
    (PostgreSQL; nothing on SQLite)."""
    if bind.dialect.name != "postgresql":
        return
    lock_ms = _setting("HOLON_MIGRATION_LOCK_TIMEOUT_MS", 2000)
    statement_ms = _setting("HOLON_MIGRATION_STATEMENT_TIMEOUT_MS", 60_000)
    bind.exec_driver_sql(f"SET lock_timeout = {lock_ms}")
    bind.exec_driver_sql(f"SET statement_timeout = {statement_ms}")


@dataclass(frozen=True, slots=True)
class Backfill:
    """What a backfill did: the number of batches (UPDATE statements) and rows updated."""

    batches: int
    rows: int


def backfill_in_batches(
    bind: Connection, *, label: str, table: str, pending: str, assign: str
) -> Backfill:
    """``UPDATE table SET assign`` on the rows matching ``pending``, a batch of
    :func:`batch_rows` primary keys (``id``) at a time, in key order; each statement commits
    on its own when ``bind`` is in autocommit mode (alembic's ``autocommit_block``).

    Each batch logs ``<label> backfill: batch N, R rows (ids A..B)`` on ``holon.migrations``.
    ``pending`` must become false for a row once it is done, so a re-run skips it."""
    size = batch_rows()
    after = 0
    batches = rows = 0
    # the table and expressions are the calling migration's constants, never input
    where = f"WHERE ({pending})"
    select_ids = text(f"SELECT id FROM {table} {where} AND id > :after ORDER BY id LIMIT :size")  # noqa: S608
    update = text(f"UPDATE {table} SET {assign} {where} AND id >= :first AND id <= :last")  # noqa: S608
    while True:
        ids = [row[0] for row in bind.execute(select_ids, {"after": after, "size": size})]
        if not ids:
            break
        first, last = ids[0], ids[-1]
        done = bind.execute(update, {"first": first, "last": last}).rowcount
        batches += 1
        rows += done
        after = last
        log.info("%s backfill: batch %d, %d rows (ids %d..%d)", label, batches, done, first, last)
    log.info("%s backfill: done, %d rows in %d batches of up to %d", label, rows, batches, size)
    return Backfill(batches, rows)
