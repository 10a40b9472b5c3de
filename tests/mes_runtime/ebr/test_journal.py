"""The journal in a real database (SQLite file and PostgreSQL): appends, tamper detection."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mes_runtime.ebr.chain import GENESIS_HASH
from mes_runtime.ebr.journal import Entry, Journal, StoredEntry, count_entries, verify_journal

COLUMNS = ["seq", "ts", "actor", "action", "subject", "batch_id", "old_value", "new_value",
           "reason", "prev_hash", "hash"]  # fmt: skip


async def _fill(journal: Journal, n: int) -> None:
    for i in range(1, n + 1):
        await journal.append(
            actor=f"user{i}",
            action="phase.state",
            subject=f"procedure/BR-UP/op/ph{i}",
            batch_id="B-001",
            old_value={"state": "idle", "i": i},
            new_value={"state": "running", "i": i},
            reason=f"reason {i}",
        )


async def test_appends_are_numbered_and_chained(journal: Journal, engine: AsyncEngine) -> None:
    first = await journal.append(actor="a", action="x", subject="s")
    second = await journal.append(actor="a", action="y", subject="s", new_value={"k": [1, 2]})
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert second.new_value == '{"k":[1,2]}'
    result = await journal.verify()
    assert (result.ok, result.entries_checked) == (True, 2)
    assert await count_entries(engine) == 2


async def test_concurrent_appends_have_no_gaps(journal: Journal) -> None:
    entries = await asyncio.gather(
        *(journal.append(actor="a", action="x", subject=f"s{i}") for i in range(60))
    )
    assert sorted(e.seq for e in entries) == list(range(1, 61))
    assert (await journal.verify()).entries_checked == 60


async def test_a_failing_alongside_write_fails_only_its_own_append(journal: Journal) -> None:
    async def boom(conn: AsyncConnection) -> None:
        raise RuntimeError("nope")

    results = await asyncio.gather(
        journal.append(actor="a", action="ok1", subject="s"),
        journal.append(actor="a", action="bad", subject="s", alongside=boom),
        journal.append(actor="a", action="ok2", subject="s"),
        return_exceptions=True,
    )
    assert isinstance(results[1], RuntimeError)
    assert [r.action for r in results if not isinstance(r, BaseException)] == ["ok1", "ok2"]
    assert (await journal.verify()).entries_checked == 2


async def test_a_new_writer_continues_the_chain(engine: AsyncEngine, journal: Journal) -> None:
    await _fill(journal, 3)
    await journal.close()
    restarted = Journal(engine)
    try:
        entry = await restarted.append(actor="a", action="after-restart", subject="s")
    finally:
        await restarted.close()
    assert entry.seq == 4
    assert (await verify_journal(engine)).entries_checked == 4


async def test_two_writers_on_one_database_never_fork(engine: AsyncEngine) -> None:
    one, two = Journal(engine), Journal(engine)
    try:
        for i in range(5):
            await one.append(actor="one", action="x", subject=str(i))
            await two.append(actor="two", action="x", subject=str(i))
    finally:
        await one.close()
        await two.close()
    result = await verify_journal(engine)
    assert (result.ok, result.entries_checked) == (True, 10)


def _one_byte_changed(column: str, value: object) -> object:
    if column == "seq":
        assert isinstance(value, int)
        return value + 1000
    assert isinstance(value, str)
    assert value
    last = value[-1]
    return value[:-1] + ("0" if last != "0" else "1")


@pytest.mark.parametrize("column", COLUMNS)
async def test_changing_one_byte_of_any_column_is_named(
    journal: Journal, engine: AsyncEngine, column: str
) -> None:
    await _fill(journal, 10)
    async with engine.begin() as conn:
        value = (
            await conn.execute(text(f"SELECT {column} FROM journal WHERE seq = 6"))  # noqa: S608
        ).scalar_one()
        await conn.execute(
            text(f"UPDATE journal SET {column} = :v WHERE seq = 6"),  # noqa: S608
            {"v": _one_byte_changed(column, value)},
        )
    result = await journal.verify(chunk_size=4)  # 6 is inside the second chunk
    assert not result.ok
    assert result.first_bad_seq == 6, result.problem
    assert result.entries_checked == 5


async def test_a_removed_entry_is_named(journal: Journal, engine: AsyncEngine) -> None:
    await _fill(journal, 10)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM journal WHERE seq = 4"))
    result = await journal.verify()
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "missing" in (result.problem or "")


async def test_a_removed_last_entry_is_named_by_the_writer(
    journal: Journal, engine: AsyncEngine
) -> None:
    await _fill(journal, 5)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM journal WHERE seq = 5"))
    result = await journal.verify()
    assert (result.ok, result.first_bad_seq) == (False, 5)


async def test_swapped_entries_are_named(journal: Journal, engine: AsyncEngine) -> None:
    await _fill(journal, 10)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE journal SET seq = -1 WHERE seq = 7"))
        await conn.execute(text("UPDATE journal SET seq = 7 WHERE seq = 8"))
        await conn.execute(text("UPDATE journal SET seq = 8 WHERE seq = -1"))
    result = await journal.verify()
    assert (result.ok, result.first_bad_seq) == (False, 7)


async def test_empty_journal_verifies(engine: AsyncEngine) -> None:
    result = await verify_journal(engine)
    assert (result.ok, result.entries_checked, result.first_bad_seq) == (True, 0, None)


@pytest.mark.postgres
async def test_writer_reconnects_after_the_server_drops_it(
    pg_server: object, empty_pg_url: str
) -> None:
    from mes_runtime.db.engine import create_engine
    from mes_runtime.db.migrate import upgrade

    upgrade(empty_pg_url)
    engine = create_engine(empty_pg_url)
    journal = Journal(engine)
    try:
        await journal.append(actor="a", action="before", subject="s")
        async with engine.connect() as conn:
            killed = (
                await conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            ).scalar_one()
        assert killed >= 1
        entry = await journal.append(actor="a", action="after", subject="s")
        assert entry.seq == 2
        assert (await journal.verify()).ok
    finally:
        await journal.close()
        await engine.dispose()


async def test_cancelling_the_writing_caller_does_not_strand_the_others(
    journal: Journal, engine: AsyncEngine
) -> None:
    gates = {name: (asyncio.Event(), asyncio.Event()) for name in ("first", "second")}

    def blocking(name: str) -> Callable[[AsyncConnection], Awaitable[None]]:
        async def wait(conn: AsyncConnection) -> None:
            entered, release = gates[name]
            entered.set()
            await release.wait()

        return wait

    first = asyncio.create_task(
        journal.append(actor="a", action="first", subject="s", alongside=blocking("first"))
    )
    await gates["first"][0].wait()  # "first" holds the writer lock
    second = asyncio.create_task(
        journal.append(actor="a", action="second", subject="s", alongside=blocking("second"))
    )
    others = [
        asyncio.create_task(journal.append(actor="b", action=f"o{i}", subject="s"))
        for i in range(3)
    ]
    await asyncio.sleep(0.01)  # all queued behind "first"
    gates["first"][1].set()
    await first
    await gates["second"][0].wait()  # "second" now writes a group: itself and the others
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    done = await asyncio.gather(*others)
    assert sorted(e.action for e in done) == ["o0", "o1", "o2"]
    result = await verify_journal(engine)
    assert (result.ok, result.entries_checked) == (True, 4)


async def test_a_work_writes_its_entries_with_its_change(
    journal: Journal, engine: AsyncEngine
) -> None:
    """``record``: the entries a work returns are chained in its transaction, in order;
    a work may return none (its change commits alone)."""

    async def two(conn: AsyncConnection) -> list[Entry]:
        await conn.execute(text("CREATE TABLE uow_probe (n INTEGER)"))
        await conn.execute(text("INSERT INTO uow_probe VALUES (1)"))
        return [Entry(actor="a", action="first", subject="s"), Entry(actor="system",
                action="second", subject="s", new_value={"n": 1})]  # fmt: skip

    async def none(conn: AsyncConnection) -> list[Entry]:
        await conn.execute(text("INSERT INTO uow_probe VALUES (2)"))
        return []

    stored = await journal.record(two)
    assert [(e.seq, e.action) for e in stored] == [(1, "first"), (2, "second")]
    assert stored[1].prev_hash == stored[0].hash
    assert await journal.record(none) == []
    assert (await journal.append(actor="a", action="third", subject="s")).seq == 3
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM uow_probe"))).scalar_one() == 2
    assert (await journal.verify()).ok


async def test_an_error_raised_by_a_work_reaches_its_caller_once(journal: Journal) -> None:
    """A refusal raised inside a work (a domain error, a constraint violation) comes back
    to the caller as raised, after at most the group commit's one retry on its own - never
    retried without end, never swallowed - and its neighbours are written."""
    runs = 0

    class Refused(Exception):
        pass

    async def refuse(conn: AsyncConnection) -> Entry:
        nonlocal runs
        runs += 1
        raise Refused("no")

    async def duplicate(conn: AsyncConnection) -> Entry:  # an IntegrityError from the database
        await conn.execute(
            text("INSERT INTO users (username, password_hash, roles, active, created_at, "
                 "failed_attempts) VALUES ('x', 'h', '[]', true, CURRENT_TIMESTAMP, 0)")
        )  # fmt: skip
        await conn.execute(
            text("INSERT INTO users (username, password_hash, roles, active, created_at, "
                 "failed_attempts) VALUES ('x', 'h', '[]', true, CURRENT_TIMESTAMP, 0)")
        )  # fmt: skip
        return Entry(actor="a", action="never", subject="s")

    results = await asyncio.gather(
        journal.append(actor="a", action="ok1", subject="s"),
        journal.record(refuse),
        journal.record(duplicate),
        journal.append(actor="a", action="ok2", subject="s"),
        return_exceptions=True,
    )
    assert isinstance(results[1], Refused)
    assert isinstance(results[2], IntegrityError)
    assert 1 <= runs <= 2  # the group's attempt, then its own
    assert sorted(r.action for r in (results[0], results[3]) if isinstance(r, StoredEntry)) == [
        "ok1",
        "ok2",
    ]
    assert (await journal.verify()).entries_checked == 2
