"""QMS hand-off across a runtime SIGKILL mid-delivery, on SQLite and PostgreSQL.

The runtime is a real ``mes-runtime serve`` process; the QMS is a real HTTP receiver run
by the test that holds the first request unanswered, so the kill lands while it is in
flight. A second runtime on the same database sends that event again (same id, same
bytes) and the rest: the receiver processes every event exactly once, every signature
verifies, the outbox ends with all delivered, and the secret is in neither log.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from holon_testing.qms_receiver import receiving
from holon_testing.runtime_process import serving
from mes_runtime.db.engine import create_engine
from mes_runtime.db.models import QmsEvent
from mes_runtime.domain.exceptions import Category
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.outbox import QmsOutbox, QmsPolicy
from mes_runtime.kernel.events import Severity
from mes_runtime.services.review import ExceptionReview, NewException
from tests.mes_runtime.batch_rows import add_batch

SECRET = "qms-hmac-key-c41d0e9b77a2"
SOURCE = "urn:holon:plant-1:batch-execution"


async def _raise_three(db_url: str) -> list[str]:
    """Three exceptions (and their events) written as the runtime would; the event ids."""
    engine = create_engine(db_url)
    journal = Journal(engine)
    try:
        await add_batch(async_sessionmaker(engine))
        review = ExceptionReview(
            engine=engine, journal=journal, outbox=QmsOutbox(engine, QmsPolicy(SOURCE))
        )
        for n, category in enumerate(
            (Category.LIMIT_EXCURSION, Category.EQUIPMENT_LOSS, Category.OUT_OF_TREND)
        ):
            await review.raise_exception(
                NewException(
                    batch_id="B-1",
                    category=category,
                    severity=Severity.MAJOR,
                    subject=f"subject-{n}",
                    message=f"exception {n}",
                )
            )
        return [e.event_id for e in await _outbox(db_url)]
    finally:
        await journal.close()
        await engine.dispose()


async def _outbox(db_url: str) -> list[QmsEvent]:
    engine = create_engine(db_url)
    try:
        async with async_sessionmaker(engine)() as session:
            return list((await session.execute(select(QmsEvent).order_by(QmsEvent.id))).scalars())
    finally:
        await engine.dispose()


def _wait(predicate: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout  # a wait, not a timing assertion
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.05)


async def test_events_are_processed_once_across_a_sigkill_mid_delivery(
    db_url: str, tmp_path: Path
) -> None:
    ids = await _raise_three(db_url)
    with receiving(SECRET.encode(), hold_first=True) as qms:
        settings = {
            "database_url": db_url,
            "qms_url": qms.url,
            "qms_secret": SECRET,
            "qms_source": SOURCE,
            "qms_timeout_seconds": "2",
            "qms_retry_initial_seconds": "0.2",
        }
        first_dir, second_dir = tmp_path / "first", tmp_path / "second"
        first_dir.mkdir()
        second_dir.mkdir()
        with serving(first_dir, **settings) as first:
            assert qms.arrived.wait(timeout=60), "the first event never arrived"
            first.process.kill()  # SIGKILL while the receiver holds the request
            first.process.wait(timeout=30)
        qms.release()  # its answer goes to a dead socket
        held = qms.received[0].event_id
        assert held == ids[0]
        assert [e.status for e in await _outbox(db_url)] == ["pending"] * 3
        with serving(second_dir, **settings) as second:
            _wait(lambda: len(qms.processed) == 3, "three events processed")
            await _until_all_delivered(db_url)
            second_log = second.log.read_text()
        first_log = (first_dir / "server.log").read_text()
        assert sorted(qms.processed) == sorted(ids), "each event processed once"
        assert qms.times_received(held) == 2, "the one in flight was sent again"
        attempts = {e.event_id: e.attempts for e in await _outbox(db_url)}
        assert attempts == {ids[0]: 2, ids[1]: 1, ids[2]: 1}, "the killed attempt counts"
        assert len({r.body for r in qms.received if r.event_id == held}) == 1, "same bytes"
        assert all(r.signed for r in qms.received)
        assert {json.loads(r.body)["source"] for r in qms.received} == {SOURCE}
    assert SECRET not in first_log
    assert SECRET not in second_log
    assert "delivered" in second_log


async def _until_all_delivered(db_url: str) -> None:
    async with asyncio.timeout(60):
        while {e.status for e in await _outbox(db_url)} != {"delivered"}:
            await asyncio.sleep(0.2)
