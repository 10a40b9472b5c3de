"""The ownership grant: which colour's replicas own batches (an upgrade's switch)."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from mes_runtime.db.models import JournalEntry, OwnershipGrant
from mes_runtime.services.owner_grant import Grant, read_grant, set_grant
from tests.conftest import MakeUser


def test_no_grant_admits_every_replica_and_a_colour_only_its_own() -> None:
    assert all(Grant().admits(colour) for colour in (None, "blue", "green"))
    blue = Grant(colour="blue")
    assert blue.admits("blue")
    assert not blue.admits("green")
    assert not blue.admits(None)  # a replica without a colour is not blue


async def test_a_grant_is_one_row_written_with_its_journal_entry(app: FastAPI) -> None:
    engine, journal = app.state.engine, app.state.journal
    assert await read_grant(engine) == Grant()
    await set_grant(journal, colour="green", upgrade_pending=True, actor="op")
    await set_grant(journal, colour="blue", upgrade_pending=False, actor="op")
    grant = await read_grant(engine)
    assert (grant.colour, grant.upgrade_pending, grant.changed_by) == ("blue", False, "op")
    async with engine.connect() as conn:
        assert len((await conn.execute(select(OwnershipGrant.id))).all()) == 1
        entries = (
            await conn.execute(
                select(JournalEntry.old_value, JournalEntry.new_value)
                .where(JournalEntry.action == "upgrade.owner")
                .order_by(JournalEntry.seq)
            )
        ).all()
    assert [(json.loads(e.old_value), json.loads(e.new_value)) for e in entries] == [
        ({"colour": None, "upgrade_pending": False}, {"colour": "green", "upgrade_pending": True}),
        (
            {"colour": "green", "upgrade_pending": True},
            {"colour": "blue", "upgrade_pending": False},
        ),
    ]
    with pytest.raises(ValueError, match="colour must be one of blue, green"):
        await set_grant(journal, colour="red", upgrade_pending=False, actor="op")


async def test_only_the_upgrade_role_moves_the_grant(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    url = "/api/v1/upgrade/owner"
    assert (await client.put(url, json={"colour": "green"})).status_code == 401
    for role in ("admin", "supervisor", "qa", "operator"):
        headers = (await make_user(role)).headers
        refused = await client.put(url, json={"colour": "green"}, headers=headers)
        assert refused.status_code == 403, (role, refused.text)
        read = await client.get(url, headers=headers)
        assert read.status_code == 200, (role, read.text)  # everyone who reads batches
    upgrader = (await make_user("upgrade")).headers
    bad = await client.put(url, json={"colour": "red"}, headers=upgrader)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "colour"], bad.text
    missing = await client.put(url, json={}, headers=upgrader)
    assert missing.status_code == 422
    moved = await client.put(
        url, json={"colour": "green", "reason": "1.4 -> 1.5"}, headers=upgrader
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["colour"], body["upgrade_pending"], body["replica_colour"]) == (
        "green",
        False,
        None,
    )
    assert body["replica_owns_batches"] is False  # no colour: not green
    assert body["changed_by"].startswith("upgrade-")
    read = await client.get(url, headers=upgrader)
    assert read.json() == body
    back = await client.put(url, json={"colour": None}, headers=upgrader)
    assert back.json()["replica_owns_batches"] is True
