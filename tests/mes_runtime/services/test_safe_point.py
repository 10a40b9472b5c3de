"""The safe point an upgrade's switch waits for: no active phase that its recipe marks as
not interruptible; answered from the database, so the same from every replica."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mes_runtime.db.engine import create_engine
from mes_runtime.db.models import Batch, BatchElement
from mes_runtime.domain.control_recipe import ControlRecipe
from mes_runtime.domain.recipe import MasterRecipe
from mes_runtime.library import load_template
from mes_runtime.services.safe_point import (
    SafePoint,
    safe_point,
    until_safe,
)
from tests.conftest import MakeUser

BINDINGS = {"BR": "BR-101"}


def _master(*, interruptible: bool | None) -> MasterRecipe:
    data = load_template("bioreactor-fedbatch").to_canonical_data()
    phase = data["procedure"]["steps"][0]["steps"][0]["steps"][0]
    if interruptible is not None:
        phase["interruptible"] = interruptible
    return MasterRecipe.model_validate(data)


def test_the_flag_keeps_the_digest_of_recipes_written_before_it() -> None:
    plain = _master(interruptible=None)
    assert "interruptible" not in str(plain.to_canonical_json())
    assert _master(interruptible=True).digest() == plain.digest()
    assert _master(interruptible=False).digest() != plain.digest()
    assert MasterRecipe.model_validate(_master(interruptible=False).to_canonical_data()) == (
        _master(interruptible=False)
    )


async def _store(
    factory: async_sessionmaker[AsyncSession], control: ControlRecipe, states: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    async with factory() as session, session.begin():
        session.add(
            Batch(
                id=control.batch_id,
                recipe_name=control.recipe_name,
                recipe_version=control.recipe_version,
                control_recipe=control.to_dict(),
                bindings=BINDINGS,
                state="running",
                created_by="op",
                created_at=now,
                started_at=now,
            )
        )
        await session.flush()
        for path, state in states.items():
            session.add(
                BatchElement(batch_id=control.batch_id, path=path, state=state, updated_at=now)
            )


async def test_an_active_phase_marked_not_interruptible_blocks_until_it_ends(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    control = ControlRecipe.from_master(
        _master(interruptible=False), batch_id="B-1", bindings=BINDINGS
    )
    first = next(control.phases())
    others = ControlRecipe.from_master(
        _master(interruptible=None), batch_id="B-2", bindings=BINDINGS
    )
    await _store(session_factory, control, {first.path: "idle"})
    await _store(session_factory, others, {p.path: "running" for p in others.phases()})
    async with session_factory() as session:
        assert (await safe_point(session)).safe  # not started: nothing to wait for

    for state, safe in (("running", False), ("held", False), ("complete", True)):
        async with session_factory() as session, session.begin():
            element = await session.get(BatchElement, ("B-1", first.path))
            assert element is not None
            element.state = state
        async with session_factory() as session:
            point = await safe_point(session)
        assert point.safe is safe, (state, point)
        if not safe:
            assert [(b.batch_id, b.element, b.state) for b in point.blocking] == [
                ("B-1", first.path, state)
            ]


async def test_the_api_answers_with_the_blocking_batch_and_element(
    client: httpx.AsyncClient,
    session_factory: async_sessionmaker[AsyncSession],
    make_user: MakeUser,
) -> None:
    operator_headers = (await make_user("operator")).headers
    assert (await client.get("/api/v1/upgrade/safe-point")).status_code == 401
    answer = await client.get("/api/v1/upgrade/safe-point", headers=operator_headers)
    assert answer.json() == {"safe": True, "blocking": []}
    control = ControlRecipe.from_master(
        _master(interruptible=False), batch_id="B-9", bindings=BINDINGS
    )
    first = next(control.phases())
    await _store(session_factory, control, {first.path: "running"})
    answer = await client.get("/api/v1/upgrade/safe-point", headers=operator_headers)
    assert answer.status_code == 200
    assert answer.json() == {
        "safe": False,
        "blocking": [{"batch_id": "B-9", "element": first.path, "state": "running"}],
    }


async def test_a_replica_s_own_safe_point_counts_its_batches_only(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    control = ControlRecipe.from_master(
        _master(interruptible=False), batch_id="B-3", bindings=BINDINGS
    )
    await _store(session_factory, control, {next(control.phases()).path: "running"})
    async with session_factory() as session:
        assert not (await safe_point(session)).safe
        assert not (await safe_point(session, ["B-3", "B-4"])).safe
        assert (await safe_point(session, ["B-4"])).safe  # another replica's batch blocks
        assert (await safe_point(session, [])).safe


async def test_the_wait_for_a_safe_point_ends_when_the_database_stays_unreadable(
    tmp_path: Path,
) -> None:
    """A stopping replica whose database is gone does not wait out its whole bound."""
    gone = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'holon.db'}")
    reads = [0]

    async def read() -> SafePoint:
        reads[0] += 1
        async with AsyncSession(gone) as session:
            return await safe_point(session)

    try:
        verdict = await asyncio.wait_for(
            until_safe(read, seconds=3600, every=0.5),
            60,  # a hang guard, not a timing check
        )
    finally:
        await gone.dispose()
    assert verdict is None
    assert reads[0] > 1  # a hiccup is read again
