"""Reading the journal with paging and filters; verifying it over HTTP."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from mes_runtime.ebr.journal import Journal
from tests.conftest import ApiUser, MakeUser


async def _fill(app: FastAPI) -> None:
    journal: Journal = app.state.journal
    for i in range(7):
        await journal.append(
            actor="engine", action="phase.state", subject=f"p{i}", batch_id=f"B-{i % 2}"
        )


async def test_paging_and_filters(client: httpx.AsyncClient, app: FastAPI, admin: ApiUser) -> None:
    await _fill(app)
    seen: list[int] = []
    after = 0
    while True:
        page = await client.get(
            f"/api/v1/journal?action=phase.state&limit=3&after={after}", headers=admin.headers
        )
        assert page.status_code == 200
        seen += [e["seq"] for e in page.json()["entries"]]
        if page.json()["next_after"] is None:
            break
        after = page.json()["next_after"]
    assert len(seen) == 7
    assert seen == sorted(seen)
    batch = await client.get("/api/v1/journal?batch_id=B-1", headers=admin.headers)
    assert {e["subject"] for e in batch.json()["entries"]} == {"p1", "p3", "p5"}
    bad = await client.get("/api/v1/journal?limit=0", headers=admin.headers)
    assert (bad.status_code, bad.json()["detail"][0]["loc"]) == (422, ["query", "limit"])


async def test_verify_reports_tampering(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    qa = await make_user("qa")
    operator = await make_user("operator")
    await _fill(app)
    assert (await client.get("/api/v1/journal/verify", headers=operator.headers)).status_code == 403
    good = await client.get("/api/v1/journal/verify", headers=qa.headers)
    assert good.status_code == 200
    assert good.json()["ok"] is True
    async with app.state.engine.begin() as conn:
        target = (
            await conn.execute(text("SELECT seq FROM journal WHERE subject = 'p3'"))
        ).scalar_one()
        await conn.execute(text("UPDATE journal SET actor = 'mallory' WHERE subject = 'p3'"))
    bad = (await client.get("/api/v1/journal/verify", headers=qa.headers)).json()
    assert (bad["ok"], bad["first_bad_seq"]) == (False, target)
    assert "modified" in bad["problem"]
