"""Durable execution state in ``SqlBatchRecorder``: one unit of work per change, fenced by
the owner's epoch, idempotent on retry, claimed back at start-up (real SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mes_runtime.db.models import Batch, BatchElement, BatchRun, JournalEntry
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.recorder import SqlBatchRecorder
from mes_runtime.engine.ports import ElementRecord, Fenced, StateChange
from tests.mes_runtime.batch_rows import add_batch

PHASE = "procedure/BR-UP/cultivation/run-fedbatch"


def _change(path: str, state: str, *, batch_state: str | None = None) -> StateChange:
    return StateChange(
        batch_id="B-1",
        element=ElementRecord(
            path=path, state=state, procedure_started=True, last_command="start",
            command_outcome="done",
        ),
        graph={"procedure": {"started": True}},
        actor="system",
        action="element.state",
        old_value="idle",
        new_value=state,
        batch_state=batch_state,
    )  # fmt: skip


async def _journal_count(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(JournalEntry)) or 0)


async def test_a_change_writes_element_position_batch_state_and_journal_together(
    recorder: SqlBatchRecorder, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await add_batch(session_factory)
    await recorder.claim("B-1")

    await recorder.change(_change("procedure", "running", batch_state="running"))

    async with session_factory() as session:
        element = await session.get(BatchElement, ("B-1", "procedure"))
        run = await session.get(BatchRun, "B-1")
        batch = await session.get(Batch, "B-1")
        entries = (await session.execute(select(JournalEntry))).scalars().all()
    assert element is not None
    assert (element.state, element.procedure_started, element.last_command) == (
        "running",
        True,
        "start",
    )
    assert run is not None
    assert (run.owner, run.epoch, run.version) == (recorder.owner, 1, 1)
    assert run.graph == {"procedure": {"started": True}}
    assert batch is not None
    assert batch.state == "running"
    assert [(e.action, e.subject) for e in entries] == [("element.state", "procedure")]


async def test_a_retry_whose_first_attempt_committed_is_not_applied_twice(
    recorder: SqlBatchRecorder, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await add_batch(session_factory)
    await recorder.claim("B-1")
    change = _change(PHASE, "complete")
    await recorder.change(change)
    # As if the commit's reply was lost: the recorder did not learn the write landed.
    recorder._runs["B-1"].version -= 1

    await recorder.change(change)  # the retry

    assert await _journal_count(session_factory) == 1
    await recorder.change(_change(PHASE, "idle"))  # and it goes on from there
    assert await _journal_count(session_factory) == 2


async def test_a_newer_owner_fences_the_old_one_out(
    engine: AsyncEngine,
    journal: Journal,
    recorder: SqlBatchRecorder,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await add_batch(session_factory)
    await recorder.claim("B-1")
    await recorder.change(_change("procedure", "running", batch_state="running"))
    before = await _journal_count(session_factory)
    newer = SqlBatchRecorder(engine, journal, owner="replica-b")

    claimed = await newer.claim_active()

    assert [(c.batch_id, c.epoch, c.previous_owner) for c in claimed] == [
        ("B-1", 2, recorder.owner)
    ]
    assert claimed[0].gap_seconds >= 0
    assert claimed[0].graph == {"procedure": {"started": True}}
    assert [e.state for e in claimed[0].elements] == ["running"]
    with pytest.raises(Fenced):
        await recorder.change(_change(PHASE, "running"))
    with pytest.raises(Fenced):
        await recorder.journal(batch_id="B-1", actor="x", action="note", subject="B-1")
    assert await _journal_count(session_factory) == before  # the stale writes left nothing
    async with session_factory() as session:
        assert await session.get(BatchElement, ("B-1", PHASE)) is None
    await newer.change(_change(PHASE, "running"))  # the new owner writes
    assert await _journal_count(session_factory) == before + 1


async def test_claim_active_skips_idle_and_ended_batches(
    engine: AsyncEngine, journal: Journal, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    for batch_id, state in (("B-1", "idle"), ("B-2", "complete"), ("B-3", "held")):
        await add_batch(session_factory, batch_id)
        async with session_factory() as session, session.begin():
            row = await session.get(Batch, batch_id)
            assert row is not None
            row.state = state
    claimed = await SqlBatchRecorder(engine, journal, owner="a").claim_active()
    assert [(c.batch_id, c.epoch, c.previous_owner) for c in claimed] == [("B-3", 1, None)]


async def test_orphans_are_batches_whose_lease_expired_or_was_released(
    engine: AsyncEngine, journal: Journal, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    clock = [datetime(2026, 11, 30, 10, 0, tzinfo=UTC)]
    owner = SqlBatchRecorder(engine, journal, owner="a", lease_seconds=5, clock=lambda: clock[0])
    peer = SqlBatchRecorder(engine, journal, owner="b", lease_seconds=5, clock=lambda: clock[0])
    for batch_id in ("B-1", "B-2"):
        await add_batch(session_factory, batch_id)
        await owner.claim(batch_id)
        async with session_factory() as session, session.begin():
            row = await session.get(Batch, batch_id)
            assert row is not None
            row.state = "running"
    assert await peer.claim_orphans() == []  # both leases are alive

    clock[0] += timedelta(seconds=4)
    assert await owner.renew() == []  # renewed: alive for 5 s more
    clock[0] += timedelta(seconds=4)
    assert await peer.claim_orphans() == []
    await owner.release(["B-2"])  # handed over (a shutdown releases all)
    assert owner.owned() == ["B-1"]

    taken = await peer.claim_orphans()
    assert [(c.batch_id, c.epoch, c.previous_owner, c.gap_seconds) for c in taken] == [
        ("B-2", 2, "a", 0.0)  # the gap counts from the release
    ]
    clock[0] += timedelta(seconds=4)  # the owner stalls past its lease; the peer renews
    assert await peer.renew() == []
    clock[0] += timedelta(seconds=2)
    assert await owner.claim_orphans() == []  # its own lapsed lease: renewed, not re-claimed
    taken = await peer.claim_orphans()
    assert [(c.batch_id, c.previous_owner, c.gap_seconds) for c in taken] == [("B-1", "a", 10.0)]
    assert await owner.renew() == ["B-1"]  # the stale owner learns it lost the batch
    assert owner.owned() == []
    assert sorted(peer.owned()) == ["B-1", "B-2"]
