"""Review by exception: list and close (QA), with the closure journalled."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from mes_runtime.db.models import Batch, JournalEntry
from mes_runtime.ebr.recorder import SqlBatchRecorder
from mes_runtime.engine.ports import Severity
from tests.conftest import MakeUser


async def _raise_two(app: FastAPI) -> None:
    async with app.state.session_factory() as session, session.begin():
        session.add(
            Batch(
                id="B-7",
                recipe_name="r",
                recipe_version=1,
                control_recipe={},
                bindings={},
                state="running",
                created_by="op",
                created_at=datetime.now(UTC),
            )
        )
    recorder: SqlBatchRecorder = app.state.recorder
    await recorder.exception(
        batch_id="B-7", severity=Severity.MAJOR, subject="BR-101/pH", message="pH high"
    )
    await recorder.exception(
        batch_id="B-7", severity=Severity.MINOR, subject="BR-101/DO", message="DO low"
    )


async def test_list_and_close(client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser) -> None:
    await _raise_two(app)
    qa = await make_user("qa")
    operator = await make_user("operator")
    listed = await client.get("/api/v1/exceptions?status=open", headers=operator.headers)
    assert [e["subject"] for e in listed.json()] == ["BR-101/pH", "BR-101/DO"]
    major = await client.get("/api/v1/exceptions?severity=major", headers=operator.headers)
    exception_id = major.json()[0]["id"]

    forbidden = await client.post(
        f"/api/v1/exceptions/{exception_id}/close",
        json={"reason": "within validated range"},
        headers=operator.headers,
    )
    assert forbidden.status_code == 403
    too_short = await client.post(
        f"/api/v1/exceptions/{exception_id}/close", json={"reason": ""}, headers=qa.headers
    )
    assert (too_short.status_code, too_short.json()["detail"][0]["loc"]) == (
        422,
        ["body", "reason"],
    )

    closed = await client.post(
        f"/api/v1/exceptions/{exception_id}/close",
        json={"reason": "probe drift, re-calibrated; product unaffected"},
        headers=qa.headers,
    )
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["closed_by"]) == ("closed", qa.username)
    again = await client.post(
        f"/api/v1/exceptions/{exception_id}/close", json={"reason": "again"}, headers=qa.headers
    )
    assert again.status_code == 409
    missing = await client.post(
        "/api/v1/exceptions/9999/close", json={"reason": "nothing"}, headers=qa.headers
    )
    assert (missing.status_code, missing.json()["detail"][0]["loc"]) == (
        404,
        ["path", "exception_id"],
    )
    still_open = await client.get("/api/v1/exceptions?status=open", headers=qa.headers)
    assert [e["subject"] for e in still_open.json()] == ["BR-101/DO"]
    async with app.state.session_factory() as session:
        entry = (
            await session.execute(
                select(JournalEntry).where(JournalEntry.action == "exception.closed")
            )
        ).scalar_one()
    assert (entry.actor, entry.batch_id) == (qa.username, "B-7")
    assert entry.reason == "probe drift, re-calibrated; product unaffected"
