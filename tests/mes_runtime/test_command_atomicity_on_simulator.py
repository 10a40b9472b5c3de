"""A person's command and the equipment command it records before sending are one unit of
work (real PostgreSQL, real OPC UA): when that write cannot be stored, the journal does not
name the command, nothing of it is stored and the equipment never gets it; once storage
takes the write again, the same command is journalled once, together with its record.

The fault is real: the server terminates the writing backend (``pg_terminate_backend``)
right after the pending record's element upsert ran, inside the transaction, every time,
until the engine's retry gives up.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import DBAPIError

from holon_testing.replicas import CULTIVATE
from holon_testing.simulated_plant import connected_plant, cultivating, store_approved
from mes_runtime.db.engine import create_engine, session_factory
from mes_runtime.db.models import BatchElement, JournalEntry
from mes_runtime.domain.states import Command, ElementState
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.recorder import SqlBatchRecorder
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.kernel.codes import ServiceState
from mes_runtime.services.batches import BatchService

pytestmark = pytest.mark.postgres

DEMO = "mab-fedbatch-demo"
TIMEOUT = 90


async def test_a_command_whose_record_cannot_be_stored_leaves_no_entry_and_is_not_sent(
    pg_url: str,
) -> None:
    engine = create_engine(pg_url)
    refuse = True
    kills = 0

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _kill(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        nonlocal kills
        if (
            refuse
            and statement.lstrip().upper().startswith("INSERT INTO BATCH_ELEMENTS")
            and isinstance(parameters, dict)
            and parameters.get("path") == CULTIVATE
            and (parameters.get("last_command"), parameters.get("command_outcome"))
            == ("hold", "pending")
        ):
            kills += 1
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    journal = Journal(engine)
    sessions = session_factory(engine)

    async def entries(batch_id: str) -> list[tuple[str, str | None]]:
        async with sessions() as session:
            rows = await session.execute(
                select(JournalEntry.action, JournalEntry.new_value)
                .where(JournalEntry.batch_id == batch_id, JournalEntry.subject == CULTIVATE)
                .order_by(JournalEntry.seq)
            )
            return [(row.action, row.new_value) for row in rows]

    try:
        await journal.start()
        recorder = SqlBatchRecorder(engine, journal)
        await store_approved(sessions, DEMO)
        async with (
            connected_plant(time_factor=7200) as (sim, equipment, registry),
            BatchEngine(equipment=equipment, recorder=recorder, retry_for=1.0) as batch_engine,
        ):
            service = BatchService(
                engine=batch_engine,
                journal=journal,
                sessions=sessions,
                available=registry.connected,
            )
            async with asyncio.timeout(TIMEOUT):  # then the cultivation lasts: in Execute
                batch_id, phase = await cultivating(
                    sim, batch_engine, service, recipe=DEMO, path=CULTIVATE
                )
            assert phase.phase is not None
            module, name = phase.phase.equipment, phase.phase.service
            before = await entries(batch_id)

            with pytest.raises(DBAPIError):
                await batch_engine.command(batch_id, CULTIVATE, Command.HOLD, actor="op")

            assert kills > 1  # every attempt, retries included, was refused
            assert await entries(batch_id) == before  # no command.hold, no record
            async with sessions() as session:
                stored = await session.get(BatchElement, (batch_id, CULTIVATE))
            assert stored is not None
            assert (stored.state, stored.last_command, stored.command_outcome) == (
                "running",
                "start",
                "done",
            )
            assert phase.state is ElementState.RUNNING
            assert (phase.last_command, phase.command_outcome) == ("start", "done")
            assert await equipment.service_state(module, name) is ServiceState.EXECUTE

            refuse = False  # storage is back: the same command goes through, once
            state = await batch_engine.command(batch_id, CULTIVATE, Command.HOLD, actor="op")
            assert state is ElementState.HOLDING
            added = (await entries(batch_id))[len(before) :]
            assert added[:3] == [
                ("command.hold", None),
                (
                    "equipment.command",
                    f'{{"command":"hold","outcome":"pending","service":"{module}/{name}"}}',
                ),
                ("element.state", '"holding"'),
            ]
        result = await journal.verify()
        assert result.ok, result
    finally:
        await journal.close()
        await engine.dispose()
