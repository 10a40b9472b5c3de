"""Reading the journal and verifying its chain (the verification is itself journalled).

``journal.verified`` is an audit-only entry: it records who checked the chain and what they
found, and changes nothing else, so there is no row to commit with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import RowMapping, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from mes_runtime.db.models import JournalEntry
from mes_runtime.ebr.chain import VerifyResult
from mes_runtime.ebr.journal import Journal

__all__ = ["list_entries", "verify_and_record"]

_T = cast(Table, JournalEntry.__table__)


async def list_entries(
    session: AsyncSession,
    *,
    after: int,
    limit: int,
    batch_id: str | None = None,
    action: str | None = None,
) -> Sequence[RowMapping]:
    """Up to ``limit`` entries with ``seq > after``, in order, optionally of one batch or
    one action."""
    query = select(_T).where(_T.c.seq > after).order_by(_T.c.seq).limit(limit)
    if batch_id is not None:
        query = query.where(_T.c.batch_id == batch_id)
    if action is not None:
        query = query.where(_T.c.action == action)
    rows: Sequence[RowMapping] = (await session.execute(query)).mappings().all()
    return rows


async def verify_and_record(journal: Journal, *, actor: str) -> VerifyResult:
    """Verify the whole chain and journal who did and what they found."""
    result = await journal.verify()
    outcome: dict[str, Any] = {
        "ok": result.ok,
        "entries_checked": result.entries_checked,
        "first_bad_seq": result.first_bad_seq,
    }
    await journal.append(
        actor=actor, action="journal.verified", subject="journal", new_value=outcome
    )
    return result
