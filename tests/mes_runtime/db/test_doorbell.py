"""Doorbells: a ring after a mark is never missed; on PostgreSQL a ring crosses processes'
connections (LISTEN/NOTIFY) and the listener comes back after its connection is killed."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from mes_runtime.db.doorbell import COMMANDS, RELEASED, Doorbell, PgDoorbell
from mes_runtime.db.engine import create_engine


async def test_a_ring_between_mark_and_wait_is_not_missed() -> None:
    async with Doorbell() as bell:
        mark = bell.mark(COMMANDS)
        await bell.ring(COMMANDS)  # e.g. while the waiter reads the database
        assert await bell.wait(COMMANDS, mark, 5)
        assert not await bell.wait(COMMANDS, bell.mark(COMMANDS), 0.05)  # nothing new
        assert not await bell.wait(RELEASED, bell.mark(RELEASED), 0.05)  # another channel


async def _listening(bell: Doorbell) -> None:
    while not bell.listening:
        await asyncio.sleep(0.02)


@pytest.mark.postgres
async def test_postgres_rings_reach_another_listener_also_after_a_reconnect(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        async with PgDoorbell(engine, pg_url) as ringer, PgDoorbell(engine, pg_url) as waiter:
            async with asyncio.timeout(30):
                await _listening(waiter)
            mark = waiter.mark(COMMANDS)
            await ringer.ring(COMMANDS, "B-1")
            assert await waiter.wait(COMMANDS, mark, 30)
            # the database drops the listener's connection (a failover, a restart)
            async with engine.connect() as conn:
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
                    )
                )
            async with asyncio.timeout(30):
                while waiter.listening:  # it noticed
                    await asyncio.sleep(0.02)
                await _listening(waiter)  # and listens again
            mark = waiter.mark(RELEASED)
            await ringer.ring(RELEASED, "B-1")
            assert await waiter.wait(RELEASED, mark, 30)
    finally:
        await engine.dispose()
