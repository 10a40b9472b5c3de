"""The command inbox on real SQLite and PostgreSQL: a queued command is either applied once
or expired, never both; a taken command can be given back to a new owner."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mes_runtime.ebr.inbox import CommandInbox
from tests.mes_runtime.batch_rows import add_batch


async def _queued(inbox: CommandInbox, batch_id: str = "B-1") -> int:
    return await inbox.submit(
        batch_id=batch_id, path="procedure", command="hold", actor="op", reason="why"
    )


async def test_taken_answered_and_read_back(
    engine: AsyncEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await add_batch(session_factory)
    await add_batch(session_factory, "B-2")
    inbox = CommandInbox(engine)
    first, other, second = await _queued(inbox), await _queued(inbox, "B-2"), await _queued(inbox)
    taken = await inbox.take(["B-1"], owner="a")
    assert [t.id for t in taken] == [first, second]  # oldest first, only the owner's batches
    assert (taken[0].command, taken[0].actor, taken[0].reason) == ("hold", "op", "why")
    assert await inbox.take(["B-1"], owner="b") == []  # taken once
    assert await inbox.outcome(first) == ("taken", None)
    await inbox.answer(first, done=True, outcome={"state": "holding"})
    await inbox.answer(second, done=False, outcome={"error": "rejected", "message": "no"})
    assert await inbox.outcome(first) == ("done", {"state": "holding"})
    assert await inbox.outcome(second) == ("refused", {"error": "rejected", "message": "no"})
    assert await inbox.outcome(other) == ("pending", None)


async def test_an_expired_command_is_never_taken_and_a_taken_one_never_expires(
    engine: AsyncEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await add_batch(session_factory)
    inbox = CommandInbox(engine)
    expired, taken = await _queued(inbox), await _queued(inbox)
    assert await inbox.expire(expired)
    assert [t.id for t in await inbox.take(["B-1"], owner="a")] == [taken]
    assert not await inbox.expire(taken)  # the owner is applying it: the caller waits
    assert (await inbox.outcome(expired))[0] == "expired"


async def test_a_command_given_back_goes_to_the_next_owner(
    engine: AsyncEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await add_batch(session_factory)
    inbox = CommandInbox(engine)
    queued = await _queued(inbox)
    assert [t.id for t in await inbox.take(["B-1"], owner="a")] == [queued]
    await inbox.requeue(queued)  # a lost the batch before applying it
    assert [t.id for t in await inbox.take(["B-1"], owner="b")] == [queued]
