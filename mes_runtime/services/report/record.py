"""The batch record as a report shows it, read from the journal (the EBR is the source of
truth) and the batch's stored rows.

:func:`read_record` gathers, for one ended batch: the header (batch, recipe and version,
product, master digest, who created and started it, when), the formula and bindings of its
control recipe, the phase timeline (from the journal's ``element.state`` entries), what
people did (every journal entry of the batch whose actor is not the system), the process
values per tag (count, min, max and a min/max envelope per time bucket, aggregated in the
database so that a million values cost one grouped query), the exceptions with their
closure (by rule with its version and evidence, or by a person with the signature), every
signature in the record (the recipe's approval, exception closures, the release) and the
journal's verification result with the chain's head.

Everything here is read-only; the renderers (``html``, ``pdf``, ``batchml``) are pure
functions of the :class:`BatchRecord`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Float, Integer, Table, func, literal, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from mes_runtime.db.models import Batch, JournalEntry, MasterRecipe, ProcessValue
from mes_runtime.domain.exceptions import ReviewException
from mes_runtime.ebr.journal import Journal, verify_journal
from mes_runtime.ebr.recorder import FINAL_BATCH_STATES
from mes_runtime.kernel.clock import utcnow
from mes_runtime.services.release import BatchReleases

__all__ = [
    "BatchNotFinished",
    "BatchRecord",
    "JournalLine",
    "PhaseSpan",
    "Series",
    "Verification",
    "read_record",
]

_BATCHES = cast(Table, Batch.__table__)
_J = cast(Table, JournalEntry.__table__)
_PV = cast(Table, ProcessValue.__table__)
_RECIPES = cast(Table, MasterRecipe.__table__)

#: Buckets per plotted tag: a min/max envelope this fine keeps every spike visible on a
#: page-wide plot, whatever the number of values.
BUCKETS = 240
_FINAL_ELEMENT = {"complete", "stopped", "aborted"}
_SYSTEM = "system"


class BatchNotFinished(Exception):
    """The batch has not ended: its record is not complete yet."""


@dataclass(frozen=True, slots=True)
class JournalLine:
    """One journal entry as the report lists it (values decoded)."""

    seq: int
    ts: str
    actor: str
    action: str
    subject: str
    old_value: Any
    new_value: Any
    reason: str | None
    hash: str


@dataclass(frozen=True, slots=True)
class PhaseSpan:
    """One procedural element from its first Running to its final state."""

    path: str
    started: str | None
    ended: str | None
    final_state: str
    states: tuple[tuple[str, str], ...]  # (ts, state), in order

    @property
    def depth(self) -> int:
        return self.path.count("/")


@dataclass(frozen=True, slots=True)
class Series:
    """One process value tag over the batch: totals and a min/max envelope per bucket."""

    equipment: str
    name: str
    unit: str
    count: int
    low: float
    high: float
    mean: float
    t0: datetime
    t1: datetime
    # (bucket start as seconds since t0, min, max), in time order
    envelope: tuple[tuple[float, float, float], ...]

    @property
    def tag(self) -> str:
        return f"{self.equipment}.{self.name}"


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    entries_checked: int
    head_seq: int
    head_hash: str
    problem: str | None
    batch_last_seq: int | None
    batch_last_hash: str | None


@dataclass(frozen=True, slots=True)
class BatchRecord:
    batch_id: str
    state: str
    recipe_name: str
    recipe_version: int
    product: str
    master_digest: str
    recipe_approved_by: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    formula: tuple[Mapping[str, Any], ...]
    overrides: tuple[Mapping[str, Any], ...]
    bindings: Mapping[str, str]
    journal: tuple[JournalLine, ...]
    timeline: tuple[PhaseSpan, ...]
    manual: tuple[JournalLine, ...]
    series: tuple[Series, ...]
    exceptions: tuple[ReviewException, ...]
    signatures: tuple[Mapping[str, Any], ...]
    decision: Mapping[str, Any] | None
    journal_entries: int
    verification: Verification
    generated_at: datetime = field(default_factory=utcnow)

    @property
    def released(self) -> bool:
        return self.decision is not None and self.decision.get("decision") == "released"


async def read_record(
    engine: AsyncEngine,
    batch_id: str,
    *,
    verify: bool = True,
    allow_running: bool = False,
    values: bool = True,
) -> BatchRecord:
    """The record of ``batch_id``: :class:`LookupError` if unknown, :class:`BatchNotFinished`
    if it has not ended (unless ``allow_running``). ``verify=False`` skips the journal's
    verification, ``values=False`` the process values (the review page needs neither)."""
    async with engine.connect() as conn:
        batch = (
            (await conn.execute(select(_BATCHES).where(_BATCHES.c.id == batch_id)))
            .mappings()
            .one_or_none()
        )
        if batch is None:
            raise LookupError(f"no batch {batch_id!r}")
        if batch["state"] not in FINAL_BATCH_STATES and not allow_running:
            raise BatchNotFinished(f"batch {batch_id} has not ended (it is {batch['state']})")
        lines = await _journal(conn, batch_id)
        approval = await _recipe_approval(conn, batch["recipe_name"], batch["recipe_version"])
        approved_by = (
            await conn.execute(
                select(_RECIPES.c.approved_by).where(
                    _RECIPES.c.name == batch["recipe_name"],
                    _RECIPES.c.version == batch["recipe_version"],
                )
            )
        ).scalar_one_or_none()
        series = await _series(conn, batch_id) if values else ()
        head = (
            await conn.execute(select(_J.c.seq, _J.c.hash).order_by(_J.c.seq.desc()).limit(1))
        ).first()
    # the review as QA sees it: exceptions and the decision (read only: the journal writer
    # given here is never used to append)
    review = await BatchReleases(engine=engine, journal=Journal(engine)).view(batch_id)
    exceptions = sorted((*review.open, *review.auto_closed, *review.closed), key=lambda x: x.id)
    verification = await _verification(engine, head, lines, verify=verify)
    control: Mapping[str, Any] = batch["control_recipe"] or {}
    signatures = ([approval] if approval else []) + [
        {**line.new_value["signature"], "action": line.action, "seq": line.seq}
        for line in lines
        if isinstance(line.new_value, dict) and isinstance(line.new_value.get("signature"), dict)
    ]
    return BatchRecord(
        batch_id=batch_id,
        state=batch["state"],
        recipe_name=batch["recipe_name"],
        recipe_version=batch["recipe_version"],
        product=str(control.get("product", "")),
        master_digest=str(control.get("master_digest", "")),
        recipe_approved_by=approved_by,
        created_by=batch["created_by"],
        created_at=batch["created_at"],
        started_at=batch["started_at"],
        ended_at=batch["ended_at"],
        formula=tuple(control.get("formula", ())),
        overrides=tuple(control.get("overrides", ())),
        bindings=_bindings(control, batch["bindings"]),
        journal=tuple(lines),
        timeline=_timeline(lines),
        manual=tuple(line for line in lines if line.actor != _SYSTEM),
        series=series,
        exceptions=tuple(exceptions),
        signatures=tuple(signatures),
        decision=review.decision,
        journal_entries=len(lines),
        verification=verification,
    )


def _decode(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


async def _journal(conn: AsyncConnection, batch_id: str) -> list[JournalLine]:
    rows = await conn.execute(
        select(
            _J.c.seq,
            _J.c.ts,
            _J.c.actor,
            _J.c.action,
            _J.c.subject,
            _J.c.old_value,
            _J.c.new_value,
            _J.c.reason,
            _J.c.hash,
        )
        .where(_J.c.batch_id == batch_id)
        .order_by(_J.c.seq)
    )
    return [
        JournalLine(
            seq=seq,
            ts=ts,
            actor=actor,
            action=action,
            subject=subject,
            old_value=_decode(old),
            new_value=_decode(new),
            reason=reason,
            hash=digest,
        )
        for seq, ts, actor, action, subject, old, new, reason, digest in rows
    ]


async def _recipe_approval(conn: AsyncConnection, name: str, version: int) -> dict[str, Any] | None:
    text = (
        await conn.execute(
            select(_J.c.seq, _J.c.new_value)
            .where(_J.c.subject == f"recipe:{name}/{version}", _J.c.action == "recipe.approved")
            .order_by(_J.c.seq.desc())
            .limit(1)
        )
    ).first()
    if text is None:
        return None
    value = _decode(text[1])
    if not isinstance(value, dict) or not isinstance(value.get("signature"), dict):
        return None
    return {**value["signature"], "action": "recipe.approved", "seq": text[0]}


def _bindings(control: Mapping[str, Any], stored: Any) -> dict[str, str]:
    found = control.get("bindings")
    if isinstance(found, list):
        return {str(b.get("unit")): str(b.get("equipment")) for b in found if isinstance(b, dict)}
    return {str(k): str(v) for k, v in (stored or {}).items()}


def _timeline(lines: Sequence[JournalLine]) -> tuple[PhaseSpan, ...]:
    states: dict[str, list[tuple[str, str]]] = {}
    for line in lines:
        if line.action == "element.state" and isinstance(line.new_value, str):
            states.setdefault(line.subject, []).append((line.ts, line.new_value))
    spans = []
    for path, changes in states.items():
        started = next((ts for ts, state in changes if state == "running"), None)
        ended = next((ts for ts, state in reversed(changes) if state in _FINAL_ELEMENT), None)
        spans.append(
            PhaseSpan(
                path=path,
                started=started,
                ended=ended,
                final_state=changes[-1][1],
                states=tuple(changes),
            )
        )
    spans.sort(key=lambda s: (s.started or "~", s.path))
    return tuple(spans)


def _seconds_since(column: Any, t0: datetime, dialect: str) -> ColumnElement[float]:
    """Seconds from ``t0`` to ``column``, computed by the database (``t0`` is a constant:
    one date function per row)."""
    if dialect == "sqlite":
        julian_t0 = t0.timestamp() / 86400.0 + 2440587.5
        return (func.julianday(column) - literal(julian_t0)) * 86400.0
    return sql_cast(func.extract("epoch", column), Float) - literal(t0.timestamp())


async def _series(conn: AsyncConnection, batch_id: str) -> tuple[Series, ...]:
    """Every tag's totals and min/max envelope from one grouped scan of the batch's values
    (the time range first, from the ``(batch_id, ts)`` index)."""
    mine = _PV.c.batch_id == batch_id
    first, last = (
        await conn.execute(select(func.min(_PV.c.ts), func.max(_PV.c.ts)).where(mine))
    ).one()
    if first is None:
        return ()
    t0, t1 = _aware(first), _aware(last)
    width = max((t1 - t0).total_seconds(), 1e-3) / BUCKETS
    bucket = sql_cast(_seconds_since(_PV.c.ts, t0, conn.dialect.name) / width, Integer)
    grouped = await conn.execute(
        select(
            _PV.c.equipment,
            _PV.c.name,
            _PV.c.unit,
            bucket.label("bucket"),
            func.min(_PV.c.value),
            func.max(_PV.c.value),
            func.count(),
            func.sum(_PV.c.value),
        )
        .where(mine)
        .group_by(_PV.c.equipment, _PV.c.name, _PV.c.unit, bucket)
    )
    # slot -> (min, max, count, sum); the last value's bucket (t1 itself) joins the last slot
    tags: dict[tuple[str, str, str], dict[int, tuple[float, float, int, float]]] = {}
    for equipment, name, unit, index, low, high, count, total in grouped:
        slot = min(max(int(index or 0), 0), BUCKETS - 1)
        slots = tags.setdefault((equipment, name, unit), {})
        seen = slots.get(slot)
        if seen is not None:
            low, high = min(low, seen[0]), max(high, seen[1])
            count, total = count + seen[2], total + seen[3]
        slots[slot] = (float(low), float(high), int(count), float(total))
    series = []
    for (equipment, name, unit), slots in sorted(tags.items()):
        buckets = sorted(slots.items())
        count = sum(b[2] for _, b in buckets)
        series.append(
            Series(
                equipment=equipment,
                name=name,
                unit=unit,
                count=count,
                low=min(b[0] for _, b in buckets),
                high=max(b[1] for _, b in buckets),
                mean=sum(b[3] for _, b in buckets) / count,
                t0=t0,
                t1=t1,
                envelope=tuple((slot * width, b[0], b[1]) for slot, b in buckets),
            )
        )
    return tuple(series)


def _aware(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite's min()/max() answer the stored text
        value = datetime.fromisoformat(value)
    moment = cast(datetime, value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def _verification(
    engine: AsyncEngine, head: Any, lines: Sequence[JournalLine], *, verify: bool
) -> Verification:
    head_seq, head_hash = (0, "") if head is None else (int(head[0]), str(head[1]))
    last = lines[-1] if lines else None
    if not verify:
        return Verification(
            ok=True,
            entries_checked=0,
            head_seq=head_seq,
            head_hash=head_hash,
            problem="not verified",
            batch_last_seq=last.seq if last else None,
            batch_last_hash=last.hash if last else None,
        )
    result = await verify_journal(engine, expected_last_seq=head_seq)
    return Verification(
        ok=result.ok,
        entries_checked=result.entries_checked,
        head_seq=head_seq,
        head_hash=head_hash,
        problem=result.problem,
        batch_last_seq=last.seq if last else None,
        batch_last_hash=last.hash if last else None,
    )


def duration(start: str | datetime | None, end: str | datetime | None) -> timedelta | None:
    """``end - start`` for journal timestamps or datetimes; None if either is missing."""
    if start is None or end is None:
        return None
    a = start if isinstance(start, datetime) else datetime.fromisoformat(start)
    b = end if isinstance(end, datetime) else datetime.fromisoformat(end)
    return b - a
