"""``GET /api/v1/upgrade/handover``: what an upgrade did to running batches, read back from
the journal for the operator's evidence package - the grant's moves, each take-over with
its gap, the records before the switch and now, and the whole chain verified (a rewritten
entry shows). Only the upgrade account may ask; a time without a zone is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from mes_runtime.db.models import JournalEntry
from mes_runtime.services.owner_grant import set_grant
from tests.conftest import MakeUser

PATH = "/api/v1/upgrade/handover"


async def _takeover(app: FastAPI, batch: str, gap: float) -> int:
    entry = await app.state.journal.append(
        actor="system",
        action="batch.resume",
        subject=f"{batch}/procedure",
        batch_id=batch,
        new_value={"owner": "batch-green-1", "previous_owner": "batch-blue-1",
                   "gap_seconds": gap, "epoch": 2, "state": "Running"},
    )  # fmt: skip
    return int(entry.seq)


async def test_the_switch_take_overs_and_records_around_it(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    journal = app.state.journal
    upgrader = await make_user("upgrade")
    before = datetime.now(UTC) - timedelta(seconds=1)
    await set_grant(journal, colour="blue", upgrade_pending=False, actor="op")  # green starts
    await set_grant(journal, colour="blue", upgrade_pending=True, actor="op")  # safe point
    switch = await set_grant(journal, colour="green", upgrade_pending=False, actor="op")
    assert switch.colour == "green"
    first = await _takeover(app, "B-1", 0.012)
    await _takeover(app, "B-2", 0.04)
    response = await client.get(
        PATH, params={"since": before.isoformat()}, headers=upgrader.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(s["previous"], s["colour"]) for s in body["switches"]] == [
        (None, "blue"), ("blue", "blue"), ("blue", "green"),
    ]  # fmt: skip
    moved = body["switches"][-1]["seq"]
    assert body["records_before_switch"] == moved - 1
    assert [(t["batch_id"], t["gap_seconds"]) for t in body["takeovers"]] == [
        ("B-1", 0.012), ("B-2", 0.04),
    ]  # fmt: skip
    assert body["takeovers"][0]["seq"] == first
    assert body["head_seq"] == first + 1
    assert body["chain"]["ok"] is True
    assert body["chain"]["entries_checked"] == body["head_seq"]
    # read-only: asking again journals nothing
    again = await client.get(PATH, params={"since": before.isoformat()}, headers=upgrader.headers)
    assert again.json()["head_seq"] == body["head_seq"]

    later = datetime.now(UTC) + timedelta(hours=1)
    empty = await client.get(PATH, params={"since": later.isoformat()}, headers=upgrader.headers)
    assert empty.json()["switches"] == empty.json()["takeovers"] == []
    assert empty.json()["records_before_switch"] is None


async def test_a_rewritten_entry_shows_in_the_chain(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    upgrader = await make_user("upgrade")
    since = datetime.now(UTC) - timedelta(seconds=1)
    seq = await _takeover(app, "B-7", 0.02)
    async with app.state.engine.begin() as conn:
        await conn.execute(
            update(JournalEntry).where(JournalEntry.seq == seq).values(reason="edited later")
        )
    body = (
        await client.get(PATH, params={"since": since.isoformat()}, headers=upgrader.headers)
    ).json()
    assert body["chain"]["ok"] is False
    assert body["chain"]["first_bad_seq"] == seq


async def test_only_the_upgrade_account_asks_and_since_needs_a_zone(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    operator = await make_user("operator")
    upgrader = await make_user("upgrade")
    refused = await client.get(
        PATH, params={"since": "2026-12-01T10:00:00Z"}, headers=operator.headers
    )
    assert refused.status_code == 403
    naive = await client.get(
        PATH, params={"since": "2026-12-01T10:00:00"}, headers=upgrader.headers
    )
    assert naive.status_code == 422
    assert naive.json()["detail"][0]["loc"] == ["query", "since"]
    missing = await client.get(PATH, headers=upgrader.headers)
    assert missing.status_code == 422
    assert "since" in missing.text
