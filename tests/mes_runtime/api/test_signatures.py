"""Electronic signatures over the API (21 CFR 11.50, 11.70, 11.200; issue #13): the meaning
is an enumerated choice that decides ("rejected" rejects), the manifestation carries
printed name, UTC time and meaning linked to the record's digest, administrators never
sign, and repeated wrong signing passwords lock the signer out, journalled."""

from __future__ import annotations

import json
from datetime import datetime
from importlib import resources

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from mes_runtime.db.models import JournalEntry
from tests.conftest import ApiUser, MakeUser

YAML_TEXT = (resources.files("mes_runtime.library") / "buffer-prep-only.yaml").read_text()
APPROVE = "/api/v1/recipes/buffer-prep-only/1/approve"


@pytest.fixture
async def draft(client: httpx.AsyncClient, make_user: MakeUser) -> str:
    """A draft recipe imported by a supervisor: its digest."""
    author = await make_user("supervisor")
    created = await client.post(
        "/api/v1/recipes",
        content=YAML_TEXT,
        headers={"Content-Type": "application/yaml", **author.headers},
    )
    assert created.status_code == 201, created.text
    digest: str = created.json()["digest"]
    return digest


def _at(manifest: dict[str, str]) -> dict[str, object]:
    """The manifest with its time parsed (the API writes UTC as Z, the journal as +00:00)."""
    return {**manifest, "signed_at": datetime.fromisoformat(manifest["signed_at"])}


async def _entries(app: FastAPI, action: str) -> list[JournalEntry]:
    async with app.state.session_factory() as session:
        rows = await session.execute(select(JournalEntry).where(JournalEntry.action == action))
        return list(rows.scalars())


async def test_rejected_rejects_and_the_manifest_links_the_digest(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser, draft: str
) -> None:
    qa = await make_user("qa")
    rejected = await client.post(
        APPROVE, json={"password": qa.password, "meaning": "rejected"}, headers=qa.headers
    )
    assert rejected.status_code == 200, rejected.text
    body = rejected.json()
    assert (body["status"], body["approved_by"], body["approved_at"]) == ("rejected", None, None)
    signature = body["signature"]
    assert signature["signer"] == qa.username
    assert signature["printed_name"] == qa.username  # make_user sets no full name
    assert signature["meaning"] == "rejected"
    assert signature["record"] == "recipe:buffer-prep-only/1"
    assert signature["record_digest"] == draft
    assert datetime.fromisoformat(signature["signed_at"]).utcoffset().total_seconds() == 0
    # rejected for good: no later approval
    again = await client.post(
        APPROVE, json={"password": qa.password, "meaning": "approved"}, headers=qa.headers
    )
    assert again.status_code == 409
    stored = await client.get("/api/v1/recipes/buffer-prep-only/1", headers=qa.headers)
    assert stored.json()["status"] == "rejected"
    [entry] = await _entries(app, "recipe.rejected")
    journalled = json.loads(entry.new_value or "")["signature"]
    assert _at(journalled) == _at(signature)
    assert json.loads(entry.new_value or "")["status"] == "rejected"


async def test_meaning_is_an_enumerated_required_choice(
    client: httpx.AsyncClient, make_user: MakeUser, draft: str
) -> None:
    qa = await make_user("qa")
    for body in (
        {"password": qa.password},
        {"password": qa.password, "meaning": "approved for production"},
        {"password": qa.password, "meaning": "looks fine, I guess"},
    ):
        response = await client.post(APPROVE, json=body, headers=qa.headers)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"] == ["body", "meaning"]
    listed = await client.get("/api/v1/recipes/buffer-prep-only/1", headers=qa.headers)
    assert listed.json()["status"] == "draft"


async def test_an_administrator_cannot_sign_even_holding_qa(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser, draft: str
) -> None:
    both = await make_user("admin", "qa")
    response = await client.post(
        APPROVE, json={"password": both.password, "meaning": "approved"}, headers=both.headers
    )
    assert response.status_code == 403
    assert "administrators may not sign" in response.json()["detail"][0]["msg"]
    [entry] = await _entries(app, "signature.rejected")
    assert entry.actor == both.username
    assert entry.reason == "the signer's roles may not sign"


async def test_wrong_signing_passwords_lock_the_signer_out(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser, draft: str
) -> None:
    qa = await make_user("qa")
    statuses = []
    for i in range(6):
        response = await client.post(
            APPROVE, json={"password": f"guess-{i}", "meaning": "approved"}, headers=qa.headers
        )
        statuses.append(response.status_code)
    assert statuses == [403, 403, 403, 403, 429, 429]
    assert int(response.headers["retry-after"]) > 0
    right = await client.post(
        APPROVE, json={"password": qa.password, "meaning": "approved"}, headers=qa.headers
    )
    assert right.status_code == 429  # locked: the right password does not sign either
    [locked] = await _entries(app, "auth.locked")
    assert (locked.actor, locked.subject) == ("system", f"user:{qa.username}")
    assert json.loads(locked.new_value or "")["via"] == "signature"
    assert len(await _entries(app, "signature.rejected")) == 7


async def test_signer_with_a_printed_name(
    client: httpx.AsyncClient, app: FastAPI, draft: str
) -> None:
    """The full name given at enrolment is what the signature shows."""
    from mes_runtime.auth.users import get_user

    qa_user = await _qa_with_name(app, client, "Quinn A. Auditor")
    response = await client.post(
        APPROVE,
        json={"password": qa_user.password, "meaning": "approved"},
        headers=qa_user.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["signature"]["printed_name"] == "Quinn A. Auditor"
    async with app.state.session_factory() as session:
        stored = await get_user(session, qa_user.username)
    assert stored is not None
    assert stored.full_name == "Quinn A. Auditor"


async def _qa_with_name(app: FastAPI, client: httpx.AsyncClient, full_name: str) -> ApiUser:
    from mes_runtime.auth.users import enroll_user

    async with app.state.session_factory() as session, session.begin():
        _, token, _ = await enroll_user(
            session, username="quinn", full_name=full_name, roles=["qa"], ttl_seconds=600
        )
    password = "she-chose-this-passphrase"
    setup = await client.post(
        "/api/v1/auth/password/setup",
        json={"username": "quinn", "setup_token": token, "new_password": password},
    )
    assert setup.status_code == 204, setup.text
    login = await client.post(
        "/api/v1/auth/token", json={"username": "quinn", "password": password}
    )
    assert login.status_code == 200
    return ApiUser("quinn", password, ("qa",), login.json()["access_token"])
