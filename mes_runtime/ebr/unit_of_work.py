"""A change and the journal entry that records it, in one transaction (a unit of work).

:func:`journalled` runs ORM work on the journal writer's own connection, inside the
transaction that appends the entry: the rows the work adds or changes and the entry commit
together or not at all. What the work raises (a domain refusal, ``IntegrityError`` for a
duplicate) reaches the caller as it was raised, and nothing of the change is stored.

The work runs under the journal's writer lock, so it does only database statements: hash a
password, parse a document or call the network before, never inside. It may run more than
once (see :data:`~mes_runtime.ebr.journal.Work`): it returns its result rather than storing
it anywhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from mes_runtime.ebr.journal import Entry, Journal

__all__ = ["Entry", "journalled"]

T = TypeVar("T")


async def journalled(
    journal: Journal,
    work: Callable[[AsyncSession], Awaitable[tuple[T, Entry | Sequence[Entry]]]],
) -> T:
    """Run ``work(session)`` and append the :class:`Entry` (or entries) it returns, in one
    transaction; returns the work's result (ORM objects stay loaded: ``expire_on_commit``
    is off)."""
    results: list[T] = []

    async def run(conn: AsyncConnection) -> Entry | Sequence[Entry]:
        # "rollback_only": the session never commits the journal's transaction; a failed
        # flush rolls it back (the error propagates, so nothing is appended either).
        session = AsyncSession(
            bind=conn, expire_on_commit=False, join_transaction_mode="rollback_only"
        )
        try:
            value, entry = await work(session)
            await session.flush()
        finally:
            await session.close()
        results[:] = [value]
        return entry

    await journal.record(run)
    return results[0]
