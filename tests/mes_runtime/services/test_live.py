"""The live-events hub on a real SQLite database: resuming by event id loses nothing and
repeats nothing, and a client that does not keep up is dropped, not buffered without bound.

The batch view is a stand-in here (``view``): what it holds is the replicas test's concern;
these tests are about the cursor and the queues, fed by the real recorder and journal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from mes_runtime.db.doorbell import CHANGED, Doorbell
from mes_runtime.db.engine import create_engine, session_factory
from mes_runtime.db.migrate import upgrade
from mes_runtime.db.models import Batch
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.recorder import SqlBatchRecorder
from mes_runtime.kernel.events import ProcessSample
from mes_runtime.services import live
from mes_runtime.services.live import Cursor, LiveEvent, LiveEvents

BATCH = "B-LIVE"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def _view(session: AsyncSession, batch_id: str) -> dict[str, Any] | None:
    row = await session.get(Batch, batch_id)
    return None if row is None else {"id": row.id, "state": row.state}


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[SqlBatchRecorder, Journal, LiveEvents]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'live.db'}"
    upgrade(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        session.add(
            Batch(
                id=BATCH, recipe_name="r", recipe_version=1, control_recipe={}, bindings={},
                state="running", created_by="t", created_at=T0,
            )
        )  # fmt: skip
    bell = Doorbell()
    journal = Journal(engine)
    journal.on_commit = lambda ids: bell.ring_here(CHANGED)
    recorder = SqlBatchRecorder(engine, journal)
    async with LiveEvents(sessions=sessions, bell=bell, view=_view) as hub:
        yield recorder, journal, hub
    await journal.close()
    await engine.dispose()


async def _store(recorder: SqlBatchRecorder, first: int, count: int) -> None:
    samples = [
        ProcessSample("BR-101", "Temperature", float(i), "degC", T0 + timedelta(seconds=i))
        for i in range(first, first + count)
    ]
    await recorder.process_values(batch_id=BATCH, samples=samples)


async def _values(
    stream: AsyncIterator[tuple[LiveEvent | None, Cursor]], want: int
) -> tuple[list[float], Cursor]:
    got: list[float] = []
    cursor = Cursor()
    async for event, position in stream:
        cursor = position
        if event is not None and event.kind == "values":
            got += [v["value"] for v in event.values]
        if len(got) >= want:
            break
    return got, cursor


async def test_a_client_resuming_from_its_event_id_gets_every_later_value_once(
    parts: tuple[SqlBatchRecorder, Journal, LiveEvents],
) -> None:
    recorder, journal, hub = parts
    first = hub.stream(BATCH, None, heartbeat=0.2)
    event, _ = await anext(first)
    assert event is not None
    assert event.kind == "batch"
    await _store(recorder, 0, 5)
    got, cursor = await _values(first, 5)
    await first.aclose()
    assert got == [0.0, 1.0, 2.0, 3.0, 4.0]

    await _store(recorder, 5, 3)  # while nobody listens (a replica being replaced)
    await journal.append(actor="t", action="element.state", subject="procedure", batch_id=BATCH)
    resumed = hub.stream(BATCH, cursor, heartbeat=0.2)
    event, after = await anext(resumed)
    assert event is not None
    assert event.kind == "batch"
    assert after.journal > cursor.journal
    await _store(recorder, 8, 2)
    got, _ = await _values(resumed, 5)
    await resumed.aclose()
    assert got == [5.0, 6.0, 7.0, 8.0, 9.0]


async def test_a_client_that_does_not_read_is_dropped_and_resumes_without_loss(
    parts: tuple[SqlBatchRecorder, Journal, LiveEvents], monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder, _, hub = parts
    monkeypatch.setattr(live, "QUEUE_SIZE", 3)
    slow = hub.stream(BATCH, None, heartbeat=0.2)
    _, cursor = await anext(slow)
    reader = hub.stream(BATCH, cursor, heartbeat=0.2)
    await anext(reader)
    for i in range(8):  # one flush, one event each; the slow client reads none
        await _store(recorder, i, 1)
        got, _ = await _values(reader, 1)
        assert got == [float(i)]
    assert hub.dropped == 1
    assert hub.clients() == 1  # the reader only: the slow one's queue is gone
    rest = [event async for event, _ in slow]  # what was queued, then the stream ends
    assert len(rest) <= 3
    again = hub.stream(BATCH, cursor, heartbeat=0.2)
    await anext(again)
    got, _ = await _values(again, 8)
    await again.aclose()
    await reader.aclose()
    assert got == [float(i) for i in range(8)]
