"""What an upgrade did to running batches, read back from the journal (DESIGN §5, §7).

The operator's evidence package for an upgrade records its disruption: when batch
ownership moved from one colour to the other (``upgrade.owner`` entries), each batch's
take-over by the new owner and the gap since the old owner was last heard of
(``batch.resume``), how many records the journal held before the first switch and holds
now, and whether the whole hash chain still verifies (nothing lost, nothing rewritten).
Read-only: nothing here is journalled, so asking twice gives the same answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mes_runtime.db.models import JournalEntry
from mes_runtime.ebr.chain import VerifyResult, format_ts
from mes_runtime.ebr.journal import verify_journal

__all__ = ["HandoverRecord", "Switch", "Takeover", "handover_record"]

_T = cast(Table, JournalEntry.__table__)
LIMIT = 1000
"""Switches and take-overs returned at most (an upgrade has a few switches and one
take-over per running batch)."""


@dataclass(frozen=True, kw_only=True)
class Switch:
    """The ownership grant moved (an upgrade's switch, or its rollback's hand-back)."""

    seq: int
    at: str
    colour: str | None
    previous: str | None
    by: str
    reason: str | None


@dataclass(frozen=True, kw_only=True)
class Takeover:
    """A runtime took a batch over from another (``batch.resume``)."""

    seq: int
    at: str
    batch_id: str
    owner: str | None
    previous_owner: str | None
    gap_seconds: float | None


@dataclass(frozen=True, kw_only=True)
class HandoverRecord:
    """The switches and take-overs since a moment, and the journal around them."""

    since: str
    switches: list[Switch]
    takeovers: list[Takeover]
    head_seq: int
    records_before_switch: int | None
    """Journal entries before the first switch since ``since`` (None: no switch)."""
    chain: VerifyResult


def _json(text: str | None) -> Mapping[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _gap(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


async def handover_record(engine: AsyncEngine, *, since: datetime) -> HandoverRecord:
    """Read the switches and take-overs journalled since ``since`` and verify the chain."""
    query = (
        select(
            _T.c.seq,
            _T.c.ts,
            _T.c.actor,
            _T.c.action,
            _T.c.batch_id,
            _T.c.old_value,
            _T.c.new_value,
            _T.c.reason,
        )
        .where(_T.c.ts >= format_ts(since), _T.c.action.in_(("upgrade.owner", "batch.resume")))
        .order_by(_T.c.seq)
        .limit(LIMIT)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
        head = (await conn.execute(select(func.max(_T.c.seq)))).scalar()
    switches: list[Switch] = []
    takeovers: list[Takeover] = []
    for row in rows:
        new = _json(row["new_value"])
        if row["action"] == "upgrade.owner":
            old = _json(row["old_value"])
            switches.append(
                Switch(
                    seq=row["seq"],
                    at=row["ts"],
                    colour=new.get("colour"),
                    previous=old.get("colour"),
                    by=row["actor"],
                    reason=row["reason"],
                )
            )
        else:
            takeovers.append(
                Takeover(
                    seq=row["seq"],
                    at=row["ts"],
                    batch_id=str(row["batch_id"]),
                    owner=new.get("owner"),
                    previous_owner=new.get("previous_owner"),
                    gap_seconds=_gap(new.get("gap_seconds")),
                )
            )
    # a switch moves ownership from one colour to the other (not from everyone to one)
    moved = [s for s in switches if None not in (s.colour, s.previous) and s.colour != s.previous]
    return HandoverRecord(
        since=format_ts(since),
        switches=switches,
        takeovers=takeovers,
        head_seq=int(head or 0),
        records_before_switch=moved[0].seq - 1 if moved else None,
        chain=await verify_journal(engine),
    )
