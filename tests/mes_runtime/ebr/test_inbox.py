"""The command inbox on real SQLite and PostgreSQL: a queued command is either applied once
or expired, never both; a taken command can be given back to a new owner; a command the
stored state refuses is never queued; an answer rings with the answer itself."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mes_runtime.db.doorbell import COMMAND_DONE, doorbell_for
from mes_runtime.db.models import BatchElement
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


async def test_a_command_the_stored_state_refuses_is_not_queued(
    engine: AsyncEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await add_batch(session_factory)
    async with session_factory() as session, session.begin():
        for path, state in (("procedure", "running"), ("procedure/up", "held")):
            session.add(
                BatchElement(batch_id="B-1", path=path, state=state, updated_at=datetime.now(UTC))
            )
    inbox = CommandInbox(engine)
    seen: list[dict[str, str]] = []

    def refuse(stored: Mapping[str, str]) -> None:
        seen.append(dict(stored))
        raise LookupError("held: no hold")

    with pytest.raises(LookupError, match="no hold"):
        await inbox.submit(
            batch_id="B-1", path="procedure/up", command="hold", actor="op", reason=None,
            expect=refuse,
        )  # fmt: skip
    assert seen == [{"procedure": "running", "procedure/up": "held"}]
    assert await inbox.take(["B-1"], owner="a") == []  # nothing was queued
    queued = await inbox.submit(
        batch_id="B-1", path="procedure/up", command="restart", actor="op", reason=None,
        expect=seen.append,
    )  # fmt: skip
    assert [t.id for t in await inbox.take(["B-1"], owner="a")] == [queued]


async def test_the_answer_rings_with_itself_and_a_long_one_is_read_back(
    db_url: str, engine: AsyncEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await add_batch(session_factory)
    inbox = CommandInbox(engine)
    async with doorbell_for(engine, db_url) as bell:
        async with asyncio.timeout(30):
            while not bell.listening:
                await asyncio.sleep(0.02)
        short, long = await _queued(inbox), await _queued(inbox)
        await inbox.take(["B-1"], owner="a")
        for queued, outcome, carried in (
            (short, {"state": "holding"}, True),
            (long, {"error": "rejected", "message": "no " * 4000}, False),  # > NOTIFY's 8000 B
        ):
            mark = bell.mark(COMMAND_DONE)
            said = await inbox.answer(queued, done="state" in outcome, outcome=outcome)
            bell.committed(COMMAND_DONE, said)  # (PostgreSQL: delivered by the database)
            assert await bell.wait(COMMAND_DONE, mark, 30)
            status = "done" if "state" in outcome else "refused"
            assert await inbox.outcome(queued) == (status, outcome)
            heard = bell.said(COMMAND_DONE, str(queued))
            if carried:
                assert heard is not None
                assert inbox.heard(heard) == (status, outcome)
            else:  # too long to ring: the waiter reads it back
                assert heard is None


async def test_an_owner_whose_command_was_given_back_answers_nothing(
    engine: AsyncEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await add_batch(session_factory)
    inbox = CommandInbox(engine)
    queued = await _queued(inbox)
    await inbox.take(["B-1"], owner="a")
    assert await inbox.reclaim("B-1", owner="b") == 1  # a was replaced before answering
    said = await inbox.answer(queued, done=True, outcome={"state": "holding"})
    assert said == ""  # no ring carries a stale owner's answer
    assert await inbox.outcome(queued) == ("pending", None)
