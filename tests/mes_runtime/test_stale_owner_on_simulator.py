"""A stale owner is refused by the database, not by convention (real PostgreSQL, real OPC
UA): a runtime whose lease expired while it stalled, and whose batch a peer has claimed,
still holds the batch in memory when it comes back - its first command is recorded
epoch-checked before it is sent, the record is refused, and so the equipment never gets the
command and the journal never names it.

The stall is the lease running out with no heartbeat (as SIGSTOP does to a process); the
peer claims the batch the way a replica's take-over scan does (``claim_orphans``).
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from holon_testing.replicas import CULTIVATE
from holon_testing.simulated_plant import connected_plant, cultivating, store_approved
from mes_runtime.db.engine import create_engine, session_factory
from mes_runtime.db.models import BatchElement, JournalEntry
from mes_runtime.domain.states import Command
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.recorder import SqlBatchRecorder
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.engine.ports import Fenced
from mes_runtime.kernel.codes import ServiceState
from mes_runtime.mtp.codes import ServiceCommand
from mes_runtime.services.batches import BatchService

pytestmark = pytest.mark.postgres

DEMO = "mab-fedbatch-demo"
LEASE = 1.0  # seconds: the stale owner's lease, left to expire
TIMEOUT = 90


async def test_a_stale_owner_s_command_is_refused_by_the_database_and_never_sent(
    pg_url: str,
) -> None:
    engine = create_engine(pg_url)
    journal = Journal(engine)
    sessions = session_factory(engine)

    async def actions(batch_id: str) -> list[str]:
        async with sessions() as session:
            rows = await session.execute(
                select(JournalEntry.action)
                .where(JournalEntry.batch_id == batch_id)
                .order_by(JournalEntry.seq)
            )
            return list(rows.scalars())

    try:
        await journal.start()
        stale = SqlBatchRecorder(engine, journal, owner="replica-a", lease_seconds=LEASE)
        peer = SqlBatchRecorder(engine, journal, owner="replica-b", lease_seconds=30)
        await store_approved(sessions, DEMO)
        async with (
            connected_plant(time_factor=7200) as (sim, equipment, registry),
            BatchEngine(equipment=equipment, recorder=stale) as batch_engine,
        ):
            service = BatchService(
                engine=batch_engine, journal=journal, sessions=sessions,
                available=registry.connected,
            )  # fmt: skip
            async with asyncio.timeout(TIMEOUT):  # then the cultivation lasts: in Execute
                batch_id, phase = await cultivating(
                    sim, batch_engine, service, recipe=DEMO, path=CULTIVATE
                )
            assert phase.phase is not None
            module, name = phase.phase.equipment, phase.phase.service
            machine = sim.server.model(module).machines[name]

            async with asyncio.timeout(TIMEOUT):  # no heartbeat: the lease runs out
                while not (claimed := await peer.claim_orphans()):
                    await asyncio.sleep(0.2)
            assert [(c.batch_id, c.previous_owner) for c in claimed] == [(batch_id, "replica-a")]
            assert batch_id in batch_engine.batch_ids()  # the stale owner has not noticed
            before = await actions(batch_id)

            with pytest.raises(Fenced) as refused:
                await batch_engine.command(batch_id, CULTIVATE, Command.HOLD, actor="op")

            assert not refused.value.in_flight  # refused before anything was sent
            assert ServiceCommand.HOLD not in machine.history
            assert await equipment.service_state(module, name) is ServiceState.EXECUTE
            assert await actions(batch_id) == before  # no command.hold, no record
            async with sessions() as session:
                stored = await session.get(BatchElement, (batch_id, CULTIVATE))
            assert stored is not None
            assert (stored.state, stored.last_command, stored.command_outcome) == (
                "running",
                "start",
                "done",
            )
            assert batch_id not in batch_engine.batch_ids()  # it stops executing the batch
            await peer.journal(  # while the new owner writes
                batch_id=batch_id, actor="op", action="note", subject=batch_id
            )
            assert await actions(batch_id) == [*before, "note"]
        result = await journal.verify()
        assert result.ok, result
    finally:
        await journal.close()
        await engine.dispose()
