"""Exceptions through the review service on real databases: raised with category, trigger
and journal link; closed once, by a rule (id, version, evidence) or by a signature."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mes_runtime.auth.signatures import Signature, SignatureMeaning
from mes_runtime.db.models import JournalEntry
from mes_runtime.domain.exceptions import (
    AutoClosure,
    Category,
    ExceptionNotOpen,
    ExceptionStatus,
    PersonClosure,
)
from mes_runtime.ebr.journal import Journal
from mes_runtime.engine.ports import Severity
from mes_runtime.services.review import ExceptionReview, NewException, UnknownException
from tests.mes_runtime.batch_rows import add_batch

EXCURSION = NewException(
    batch_id="B-1",
    category=Category.LIMIT_EXCURSION,
    severity=Severity.MINOR,
    subject="procedure/BR-UP/cultivation/run-fedbatch:BR-101.Temperature",
    message="BR-101.Temperature = 37.7 degC is outside [35.5, 37.5] degC",
    trigger={"value": 37.7, "low": 35.5, "high": 37.5, "unit": "degC"},
)
SIGNED = Signature(
    username="qa-1",
    printed_name="Quinn Assurance",
    meaning=SignatureMeaning.APPROVED,
    signed_at=datetime(2026, 11, 30, tzinfo=UTC),
    record="exception:1",
    record_digest="sha256:" + "0" * 64,
)


@pytest.fixture
async def review(
    engine: AsyncEngine, journal: Journal, session_factory: async_sessionmaker[AsyncSession]
) -> ExceptionReview:
    await add_batch(session_factory)
    return ExceptionReview(engine=engine, journal=journal)


async def _entries(engine: AsyncEngine) -> list[JournalEntry]:
    async with AsyncSession(engine) as session:
        return list(
            (await session.execute(select(JournalEntry).order_by(JournalEntry.seq))).scalars()
        )


async def test_raised_with_category_trigger_and_its_journal_entry(
    review: ExceptionReview, engine: AsyncEngine
) -> None:
    first = await review.raise_exception(EXCURSION)
    second = await review.raise_exception(EXCURSION)  # the same excursion again, later

    found = await review.list(batch_id="B-1")

    entries = await _entries(engine)
    assert [x.id for x in found] == [first, second]
    assert [x.journal for x in found] == [(entries[0].seq,), (entries[1].seq,)]
    x = found[0]
    assert (x.category, x.severity, x.status) == (
        Category.LIMIT_EXCURSION,
        Severity.MINOR,
        ExceptionStatus.OPEN,
    )
    assert x.trigger == EXCURSION.trigger
    assert json.loads(entries[0].new_value or "")["trigger"] == EXCURSION.trigger


async def test_auto_closed_once_with_rule_version_and_evidence(
    review: ExceptionReview, engine: AsyncEngine
) -> None:
    exception_id = await review.raise_exception(EXCURSION)
    evidence = {"duration_s": 40.0, "max_distance": 0.2, "recovered": True}

    await review.auto_close(
        exception_id, rule_id="minor-temperature", rule_version=2, evidence=evidence
    )

    closed = await review.get(exception_id)
    assert closed.status is ExceptionStatus.AUTO_CLOSED
    assert isinstance(closed.closure, AutoClosure)
    assert (closed.closure.rule_id, closed.closure.rule_version) == ("minor-temperature", 2)
    assert closed.closure.evidence == evidence
    entry = (await _entries(engine))[-1]
    assert closed.journal == ((await _entries(engine))[0].seq, entry.seq)
    assert json.loads(entry.new_value or "")["rule"] == {"id": "minor-temperature", "version": 2}
    # A decision is never re-made: a later rule version or a person finds it closed.
    with pytest.raises(ExceptionNotOpen, match="auto_closed"):
        await review.auto_close(
            exception_id, rule_id="minor-temperature", rule_version=3, evidence={}
        )
    with pytest.raises(ExceptionNotOpen):
        await review.close(exception_id, signature=SIGNED, comment="again")
    assert (await review.get(exception_id)) == closed
    assert len(await _entries(engine)) == 2


async def test_closed_by_a_signature_with_a_comment(review: ExceptionReview) -> None:
    exception_id = await review.raise_exception(EXCURSION)

    with pytest.raises(ValueError, match="comment"):
        await review.close(exception_id, signature=SIGNED, comment="  ")
    await review.close(exception_id, signature=SIGNED, comment="sensor swap, verified")

    closed = await review.get(exception_id)
    assert closed.closure == PersonClosure(
        "qa-1", "approved", SIGNED.signed_at, "sensor swap, verified"
    )
    assert len(closed.journal) == 2
    assert await review.list(status="open") == []


async def test_an_unknown_exception_is_named(review: ExceptionReview) -> None:
    with pytest.raises(UnknownException, match="no exception 42"):
        await review.get(42)
