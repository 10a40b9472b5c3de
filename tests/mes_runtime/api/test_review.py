"""Review and release over HTTP: rules drafted, signed and made effective; at release the
rules close the minor excursion; the major one blocks release (409 naming it) until QA
closes it with a signature; then the batch is released and locked."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from mes_runtime.auth.signatures import record_digest
from mes_runtime.db.models import Batch, JournalEntry
from mes_runtime.engine.ports import Severity
from mes_runtime.kernel.clock import utcnow
from tests.conftest import MakeUser
from tests.mes_runtime.batch_rows import add_batch
from tests.mes_runtime.review_rows import MINOR_TEMPERATURE, add_excursion

RULE = MINOR_TEMPERATURE.model_dump(mode="json")


async def _excursion(app: FastAPI, severity: Severity, equipment: str) -> int:
    return await add_excursion(
        app.state.engine,
        app.state.journal,
        app.state.session_factory,
        severity=severity,
        equipment=equipment,
        values=(37.8,),
        with_trigger=False,  # as the engine raises them today: the message only
    )


async def _journalled_signature(app: FastAPI, action: str) -> dict[str, Any]:
    async with app.state.session_factory() as session:
        entry = (
            await session.execute(select(JournalEntry).where(JournalEntry.action == action))
        ).scalar_one()
    signature: dict[str, Any] = json.loads(entry.new_value or "")["signature"]
    return signature


def _signed(password: str, meaning: str = "approved", **body: object) -> dict[str, object]:
    return {**body, "signature": {"password": password, "meaning": meaning}}


async def test_rules_then_review_then_release(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    author, qa, operator = (
        await make_user("supervisor"),
        await make_user("qa"),
        await make_user("operator"),
    )
    drafted = await client.post("/api/v1/closure-rules", json=RULE, headers=author.headers)
    assert (drafted.status_code, drafted.json()["status"]) == (201, "draft"), drafted.text
    bad = await client.post(
        "/api/v1/closure-rules", json={**RULE, "rule_id": "Bad Id"}, headers=author.headers
    )
    assert (bad.status_code, bad.json()["detail"][0]["loc"]) == (422, ["body", "rule_id"])
    url = "/api/v1/closure-rules/minor-temperature/1"
    self_approved = await client.post(
        f"{url}/approve",
        json={"password": author.password, "meaning": "approved"},
        headers=author.headers,
    )
    assert self_approved.status_code == 403  # supervisors do not approve
    too_early = await client.post(f"{url}/effective", headers=qa.headers)
    assert too_early.status_code == 409
    not_approved = await client.post(
        f"{url}/approve", json={"password": qa.password, "meaning": "rejected"}, headers=qa.headers
    )
    assert (not_approved.status_code, not_approved.json()["detail"][0]["loc"]) == (
        422,
        ["body", "meaning"],
    )
    approved = await client.post(
        f"{url}/approve", json={"password": qa.password, "meaning": "approved"}, headers=qa.headers
    )
    assert (approved.status_code, approved.json()["approved_by"]) == (200, qa.username)
    rule_signature = await _journalled_signature(app, "closure_rule.approved")
    assert rule_signature["record_digest"] == f"sha256:{MINOR_TEMPERATURE.digest()}"
    effective = await client.post(f"{url}/effective", headers=qa.headers)
    assert effective.json()["status"] == "effective"

    await add_batch(app.state.session_factory)
    minor = await _excursion(app, Severity.MINOR, "BR-101")
    major = await _excursion(app, Severity.MAJOR, "TK-201")
    review_url = "/api/v1/review/B-1"
    running = await client.post(
        f"{review_url}/decision",
        json=_signed(qa.password, decision="released", comment="looks fine"),
        headers=qa.headers,
    )
    assert (running.status_code, running.json()["detail"][0]["loc"]) == (409, ["path", "batch_id"])
    async with app.state.session_factory() as session, session.begin():
        await session.execute(
            update(Batch)
            .where(Batch.id == "B-1")
            .values(state="complete", ended_at=utcnow() + timedelta(seconds=1))
        )

    refused = await client.post(
        f"{review_url}/decision",
        json=_signed(qa.password, decision="released", comment="looks fine"),
        headers=qa.headers,
    )
    assert refused.status_code == 409
    assert f"open exceptions ({major})" in refused.json()["detail"][0]["msg"]
    view = (await client.get(review_url, headers=operator.headers)).json()
    assert [x["id"] for x in view["needs_review"]] == [major]
    assert [(x["id"], x["rule_id"], x["rule_version"]) for x in view["auto_closed"]] == [
        (minor, "minor-temperature", 1)
    ]
    evidence = view["auto_closed"][0]["closure_evidence"]
    assert abs(evidence["max_distance"] - 0.3) < 1e-9
    operator_release = await client.post(
        f"{review_url}/decision",
        json=_signed(operator.password, decision="released", comment="looks fine"),
        headers=operator.headers,
    )
    assert operator_release.status_code == 403

    closed = await client.post(
        f"/api/v1/exceptions/{major}/close",
        json={"reason": "TK temperature does not touch product", **_signed(qa.password)},
        headers=qa.headers,
    )
    assert closed.status_code == 200, closed.text
    rejected_release = await client.post(
        f"{review_url}/decision",
        json=_signed(qa.password, "rejected", decision="released", comment="not this one"),
        headers=qa.headers,
    )
    assert (rejected_release.status_code, rejected_release.json()["detail"][0]["loc"]) == (
        422,
        ["body", "signature", "meaning"],
    )
    admin_qa = await make_user("qa", "admin")
    by_admin = await client.post(
        f"{review_url}/decision",
        json=_signed(admin_qa.password, decision="released", comment="reviewed by exception"),
        headers=admin_qa.headers,
    )
    assert (by_admin.status_code, by_admin.json()["detail"][0]["type"]) == (403, "forbidden")
    shown = (await client.get(review_url, headers=qa.headers)).json()
    released = await client.post(
        f"{review_url}/decision",
        json=_signed(qa.password, decision="released", comment="reviewed by exception"),
        headers=qa.headers,
    )
    assert released.status_code == 200, released.text
    signed_over = {"review": shown, "decision": "released", "comment": "reviewed by exception"}
    manifest = await _journalled_signature(app, "batch.released")
    assert (manifest["signer"], manifest["meaning"], manifest["record"]) == (
        qa.username,
        "approved",
        "batch:B-1",
    )
    assert manifest["record_digest"] == record_digest(signed_over)
    assert released.json()["decision"]["decision"] == "released"
    assert released.json()["needs_review"] == []
    again = await client.post(
        f"{review_url}/decision",
        json=_signed(qa.password, "rejected", decision="rejected", comment="changed my mind"),
        headers=qa.headers,
    )
    assert again.status_code == 409
    missing = await client.get("/api/v1/review/B-404", headers=qa.headers)
    assert (missing.status_code, missing.json()["detail"][0]["loc"]) == (404, ["path", "batch_id"])
