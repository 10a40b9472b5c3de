"""``SqlBatchRecorder`` against real SQLite and PostgreSQL databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mes_runtime.db.models import Batch, BatchElement, BatchException, JournalEntry, ProcessValue
from mes_runtime.domain.exceptions import Category
from mes_runtime.ebr.recorder import SqlBatchRecorder, UnknownBatch
from mes_runtime.engine.ports import BatchRecorder, ProcessSample, Severity
from tests.mes_runtime.batch_rows import add_batch


def test_implements_the_port(recorder: SqlBatchRecorder) -> None:
    port: BatchRecorder = recorder  # mypy checks the protocol; this checks it at run time
    assert callable(port.process_values)


async def test_batch_state_sets_start_once_and_end(
    recorder: SqlBatchRecorder, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await add_batch(session_factory)
    await recorder.batch_state(batch_id="B-1", state="running")
    async with session_factory() as session:
        first = await session.get(Batch, "B-1")
        assert first is not None
        assert first.started_at is not None
        assert first.ended_at is None
        started = first.started_at
    await recorder.batch_state(batch_id="B-1", state="held")
    await recorder.batch_state(batch_id="B-1", state="running")
    await recorder.batch_state(batch_id="B-1", state="complete")
    async with session_factory() as session:
        batch = await session.get(Batch, "B-1")
        assert batch is not None
        assert batch.state == "complete"
        assert batch.started_at == started  # a restart does not move the start
        assert batch.ended_at is not None
        assert batch.ended_at >= started
        assert batch.started_at.tzinfo is not None


async def test_unknown_batch_is_refused(recorder: SqlBatchRecorder) -> None:
    with pytest.raises(UnknownBatch, match="B-404"):
        await recorder.batch_state(batch_id="B-404", state="running")


async def test_element_state_is_upserted(
    recorder: SqlBatchRecorder, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await add_batch(session_factory)
    path = "procedure/BR-UP/cultivation/run-fedbatch"
    await recorder.element_state(batch_id="B-1", path=path, state="running")
    await recorder.element_state(batch_id="B-1", path=path, state="held")
    await recorder.element_state(batch_id="B-1", path="procedure/x", state="idle")
    async with session_factory() as session:
        rows = (
            (await session.execute(select(BatchElement).order_by(BatchElement.path)))
            .scalars()
            .all()
        )
    assert [(r.path, r.state) for r in rows] == [(path, "held"), ("procedure/x", "idle")]


async def test_process_values_round_trip(
    recorder: SqlBatchRecorder, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await add_batch(session_factory)
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    samples = [
        ProcessSample("BR-101", "Temperature", 36.5 + i / 10, "degC", t0 + timedelta(seconds=i))
        for i in range(50)
    ]
    await recorder.process_values(batch_id="B-1", samples=samples)
    await recorder.process_values(batch_id="B-1", samples=[])
    async with session_factory() as session:
        rows = (
            (await session.execute(select(ProcessValue).order_by(ProcessValue.ts))).scalars().all()
        )
    assert len(rows) == 50
    assert rows[3].value == pytest.approx(36.8)
    assert rows[3].ts == t0 + timedelta(seconds=3)
    assert {r.unit for r in rows} == {"degC"}


async def test_stored_values_gives_the_watched_tags_since_a_time_oldest_first(
    recorder: SqlBatchRecorder, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await add_batch(session_factory)
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    samples = [
        ProcessSample("BR-101", name, float(i), unit, t0 + timedelta(seconds=i))
        for i in range(10)
        for name, unit in (("pH", "pH"), ("Temperature", "degC"), ("DO", "%"))
    ]
    await recorder.process_values(batch_id="B-1", samples=samples)
    await recorder.process_values(
        batch_id="B-1", samples=[ProcessSample("TK-201", "pH", 99.0, "pH", t0)]
    )
    since = t0 + timedelta(seconds=4)
    found = await recorder.stored_values(
        batch_id="B-1", watched={("BR-101", "pH"), ("BR-101", "Temperature")}, since=since
    )
    assert [(s.name, s.value) for s in found if s.name == "pH"] == [
        ("pH", float(i)) for i in range(4, 10)
    ]
    assert {(s.equipment, s.name) for s in found} == {("BR-101", "pH"), ("BR-101", "Temperature")}
    assert [s.timestamp for s in found] == sorted(s.timestamp for s in found)
    assert found[0].timestamp == since
    assert found[0].unit in {"pH", "degC"}
    assert await recorder.stored_values(batch_id="B-1", watched=set(), since=t0) == []
    assert await recorder.stored_values(batch_id="B-2", watched={("BR-101", "pH")}, since=t0) == []


async def test_exception_is_stored_and_journalled_together(
    recorder: SqlBatchRecorder, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await add_batch(session_factory)
    await recorder.exception(
        batch_id="B-1",
        category=Category.LIMIT_EXCURSION,
        severity=Severity.MAJOR,
        subject="BR-101/pH",
        message="pH 7.3 > 7.2",
        trigger={"equipment": "BR-101", "name": "pH", "value": 7.3, "high": 7.2},
    )
    async with session_factory() as session:
        exc = (await session.execute(select(BatchException))).scalar_one()
        entry = (await session.execute(select(JournalEntry))).scalar_one()
    assert (exc.severity, exc.status, exc.message) == ("major", "open", "pH 7.3 > 7.2")
    assert (exc.category, exc.trigger) == (
        "limit_excursion",
        {"equipment": "BR-101", "name": "pH", "value": 7.3, "high": 7.2},
    )
    assert (entry.action, entry.batch_id, entry.subject) == ("exception.raised", "B-1", "BR-101/pH")


async def test_exception_for_unknown_batch_writes_nothing(
    recorder: SqlBatchRecorder, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        await recorder.exception(
            batch_id="nope",
            category=Category.OTHER,
            severity=Severity.MINOR,
            subject="s",
            message="m",
        )
    async with session_factory() as session:
        assert (await session.execute(select(JournalEntry))).first() is None


async def test_journal_through_the_port(recorder: SqlBatchRecorder) -> None:
    await recorder.journal(
        batch_id=None, actor="engine", action="engine.started", subject="engine", reason="boot"
    )
    result = await recorder.journal_writer.verify()
    assert (result.ok, result.entries_checked) == (True, 1)
