"""A database connection killed at the moment a phase completes (real PostgreSQL, real OPC
UA): the transition is retried, lands exactly once in ``batch_elements`` and the journal,
and the batch goes on to complete.

The fault is real: the server terminates the writing backend (``pg_terminate_backend``)
right after the element's upsert ran, inside the unit of work's transaction, several times
in a row (more than the journal writer's own reconnect attempts, so the engine's back-off
retry is exercised too). Nothing of a failed attempt may remain.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy import event, func, select

from holon_testing.simulated_plant import connected_plant, store_approved
from mes_runtime.db.engine import create_engine, session_factory
from mes_runtime.db.models import BatchElement, JournalEntry
from mes_runtime.domain.states import ElementState
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.recorder import SqlBatchRecorder
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.services.batches import BatchService, NewBatch

pytestmark = pytest.mark.postgres

DEMO = "mab-fedbatch-demo"
FILL = "procedure/BR-PREP/preparation/fill-medium"
KILLS = 7  # more than the journal writer's 5 immediate reconnects
TIMEOUT = 90


async def test_a_connection_killed_as_a_phase_completes_is_retried_and_lands_once(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(pg_url)
    kills = 0

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _kill(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        nonlocal kills
        if (
            kills < KILLS
            and statement.lstrip().upper().startswith("INSERT INTO BATCH_ELEMENTS")
            and isinstance(parameters, dict)
            and (parameters.get("path"), parameters.get("state")) == (FILL, "complete")
        ):
            kills += 1
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    journal = Journal(engine)
    sessions = session_factory(engine)
    try:
        await journal.start()
        recorder = SqlBatchRecorder(engine, journal)
        await store_approved(sessions, DEMO)
        async with (
            connected_plant(time_factor=7200) as (_sim, equipment, registry),
            BatchEngine(equipment=equipment, recorder=recorder) as batch_engine,
        ):
            service = BatchService(
                engine=batch_engine,
                journal=journal,
                sessions=sessions,
                available=registry.connected,
            )
            with caplog.at_level(logging.WARNING, logger="mes_runtime.engine"):
                batch_id = await service.create(NewBatch(recipe=DEMO), actor="op")
                async with asyncio.timeout(TIMEOUT):
                    final = await batch_engine.wait_finished(batch_id)
        assert final is ElementState.COMPLETE
        assert kills == KILLS
        retried = [r for r in caplog.records if "storing failed" in r.getMessage()]
        assert retried, "the engine's back-off retry was not needed: the fault missed"
        async with sessions() as session:
            element = await session.get(BatchElement, (batch_id, FILL))
            completions = await session.scalar(
                select(func.count())
                .select_from(JournalEntry)
                .where(
                    JournalEntry.batch_id == batch_id,
                    JournalEntry.subject == FILL,
                    JournalEntry.action == "element.state",
                    JournalEntry.new_value == '"complete"',
                )
            )
        assert element is not None
        assert element.state == "complete"
        assert completions == 1
        result = await journal.verify()
        assert result.ok, result
    finally:
        await journal.close()
        await engine.dispose()
