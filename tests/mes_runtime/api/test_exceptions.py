"""Review by exception: list and close (QA, with an e-signature and a comment), the closure
journalled; categories, trigger data and journal links as the API shows them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from mes_runtime.db.models import Batch, JournalEntry
from mes_runtime.domain.exceptions import Category
from mes_runtime.ebr.recorder import SqlBatchRecorder
from mes_runtime.engine.ports import Severity
from tests.conftest import MakeUser

LIMIT_MESSAGE = (
    "BR-101.pH = 7.31 pH is outside [6.8, 7.2] pH while procedure/BR-UP/cultivation/x runs"
)


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
        batch_id="B-7",
        category=Category.LIMIT_EXCURSION,
        severity=Severity.MAJOR,
        subject="procedure/BR-UP/cultivation/x:BR-101.pH",
        message=LIMIT_MESSAGE,
    )
    await recorder.exception(
        batch_id="B-7",
        category=Category.OTHER,
        severity=Severity.MINOR,
        subject="BR-101/DO",
        message="DO low",
    )


def _close(reason: str, password: str, meaning: str = "approved") -> dict[str, object]:
    return {"reason": reason, "signature": {"password": password, "meaning": meaning}}


async def test_list_and_close_with_a_signature(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    await _raise_two(app)
    qa = await make_user("qa")
    operator = await make_user("operator")
    listed = await client.get("/api/v1/exceptions?status=open", headers=operator.headers)
    assert [(e["category"], e["status"]) for e in listed.json()] == [
        ("limit_excursion", "open"),
        ("other", "open"),
    ]
    major = await client.get("/api/v1/exceptions?severity=major", headers=operator.headers)
    exception_id = major.json()[0]["id"]
    raised_seq = major.json()[0]["journal"]
    assert len(raised_seq) == 1
    url = f"/api/v1/exceptions/{exception_id}/close"
    comment = "probe drift, re-calibrated; product unaffected"

    forbidden = await client.post(
        url, json=_close(comment, operator.password), headers=operator.headers
    )
    assert forbidden.status_code == 403
    too_short = await client.post(url, json=_close("", qa.password), headers=qa.headers)
    assert (too_short.status_code, too_short.json()["detail"][0]["loc"]) == (
        422,
        ["body", "reason"],
    )
    unsigned = await client.post(url, json={"reason": comment}, headers=qa.headers)
    assert (unsigned.status_code, unsigned.json()["detail"][0]["loc"]) == (
        422,
        ["body", "signature"],
    )
    wrong = await client.post(url, json=_close(comment, "not-the-password"), headers=qa.headers)
    assert (wrong.status_code, wrong.json()["detail"][0]["loc"]) == (
        403,
        ["body", "signature", "password"],
    )
    rejected = await client.post(
        url, json=_close(comment, qa.password, "rejected"), headers=qa.headers
    )
    assert (rejected.status_code, rejected.json()["detail"][0]["loc"]) == (
        422,
        ["body", "signature", "meaning"],
    )
    assert "'approved'" in rejected.json()["detail"][0]["msg"]
    after_rejection = await client.get("/api/v1/exceptions?status=open", headers=qa.headers)
    assert exception_id in [e["id"] for e in after_rejection.json()]  # nothing was written

    closed = await client.post(url, json=_close(comment, qa.password), headers=qa.headers)
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert (body["status"], body["closed_by"], body["signature_meaning"]) == (
        "closed",
        qa.username,
        "approved",
    )
    assert body["closure_reason"] == comment
    assert body["journal"][0] == raised_seq[0]
    assert len(body["journal"]) == 2
    again = await client.post(url, json=_close("again", qa.password), headers=qa.headers)
    assert again.status_code == 409
    missing = await client.post(
        "/api/v1/exceptions/9999/close", json=_close("nothing", qa.password), headers=qa.headers
    )
    assert (missing.status_code, missing.json()["detail"][0]["loc"]) == (
        404,
        ["path", "exception_id"],
    )
    still_open = await client.get("/api/v1/exceptions?status=open", headers=qa.headers)
    assert [e["subject"] for e in still_open.json()] == ["BR-101/DO"]
    async with app.state.session_factory() as session:
        entries = {
            e.action: e
            for e in (
                await session.execute(select(JournalEntry).where(JournalEntry.batch_id == "B-7"))
            ).scalars()
        }
    closing = entries["exception.closed"]
    assert (closing.actor, closing.seq) == (qa.username, body["journal"][1])
    assert closing.reason == comment
    manifest = json.loads(closing.new_value or "")["signature"]
    assert (manifest["signer"], manifest["meaning"]) == (qa.username, "approved")
    assert manifest["record"] == f"exception:{exception_id}"
    assert manifest["record_digest"].startswith("sha256:")
    refused = entries["signature.rejected"]
    assert (refused.actor, refused.subject) == (qa.username, f"exception:{exception_id}")
