"""Which colour owns batches: the grant an upgrade's switch moves from blue to green.

Blue-green (DESIGN §5) runs two versions side by side on one database. Green must own no
batch before the switch, and blue none after it, while both keep serving the API. The grant
is one row in the database (``ownership_grant``), so every replica reads the same answer:

* no row: every replica may own batches (a module that never switched, a local runtime);
* ``colour`` set: only replicas started with that ``HOLON_COLOUR`` claim batches; the others
  hand theirs over (their engine finishes the step in flight, then the leases are released)
  and keep serving reads and commands, which reach the owner through the command inbox.

A rollback is the same write with the other colour: a hand-back. Every change is journalled
in the same transaction as the row (``upgrade.owner``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mes_runtime.db.models import OwnershipGrant
from mes_runtime.ebr.journal import Entry, Journal
from mes_runtime.kernel.clock import utcnow

__all__ = ["COLOURS", "Grant", "read_grant", "set_grant"]

COLOURS = ("blue", "green")

_GRANT = cast(Table, OwnershipGrant.__table__)
_ROW = 1


@dataclass(frozen=True, slots=True)
class Grant:
    """Who may own batches now (``colour`` None: any replica)."""

    colour: str | None = None
    upgrade_pending: bool = False
    changed_by: str | None = None
    changed_at: datetime | None = None

    def admits(self, colour: str | None) -> bool:
        """Whether a replica of ``colour`` may own batches."""
        return self.colour is None or self.colour == colour

    def to_journal(self) -> dict[str, Any]:
        return {"colour": self.colour, "upgrade_pending": self.upgrade_pending}


async def read_grant(engine: AsyncEngine) -> Grant:
    """The grant as stored (no row: everyone may own batches)."""
    async with engine.connect() as conn:
        return await _read(conn)


async def _read(conn: AsyncConnection) -> Grant:
    row = (await conn.execute(select(_GRANT).where(_GRANT.c.id == _ROW))).one_or_none()
    if row is None:
        return Grant()
    return Grant(
        colour=row.colour,
        upgrade_pending=bool(row.upgrade_pending),
        changed_by=row.changed_by,
        changed_at=row.changed_at,
    )


async def set_grant(
    journal: Journal,
    *,
    colour: str | None,
    upgrade_pending: bool,
    actor: str,
    reason: str | None = None,
) -> Grant:
    """Grant batch ownership to ``colour`` (None: to every replica), journalled with the
    previous grant in the same transaction."""
    if colour is not None and colour not in COLOURS:
        raise ValueError(f"colour must be one of {', '.join(COLOURS)} or null, not {colour!r}")
    after = Grant(
        colour=colour, upgrade_pending=upgrade_pending, changed_by=actor, changed_at=utcnow()
    )
    values = {
        "colour": after.colour,
        "upgrade_pending": after.upgrade_pending,
        "changed_by": actor,
        "changed_at": after.changed_at,
    }

    async def _write(conn: AsyncConnection) -> Entry:
        before = await _read(conn)  # in the writing transaction: the grant it replaces
        result = await conn.execute(update(_GRANT).where(_GRANT.c.id == _ROW).values(**values))
        if result.rowcount == 0:
            await conn.execute(insert(_GRANT).values(id=_ROW, **values))
        return Entry(
            actor=actor,
            action="upgrade.owner",
            subject="ownership",
            old_value=before.to_journal(),
            new_value=after.to_journal(),
            reason=reason,
        )

    await journal.record(_write)
    return after
