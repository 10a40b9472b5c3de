"""Login, tokens, 401 vs 403, and the journal of (failed) logins."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from mes_runtime.api.deps import require
from mes_runtime.auth.permissions import Permission
from mes_runtime.db.models import ApiToken, JournalEntry, User
from tests.conftest import ApiUser, MakeUser


async def _journal(app: FastAPI) -> list[JournalEntry]:
    async with app.state.session_factory() as session:
        return list((await session.execute(select(JournalEntry))).scalars())


async def test_login_gives_a_working_token(client: httpx.AsyncClient, admin: ApiUser) -> None:
    me = await client.get("/api/v1/auth/me", headers=admin.headers)
    assert me.status_code == 200
    assert me.json()["username"] == admin.username
    assert "user.manage" in me.json()["permissions"]


async def test_failed_login_is_401_journalled_without_password(
    client: httpx.AsyncClient, app: FastAPI, admin: ApiUser
) -> None:
    wrong = "Wrong-Password-123"
    response = await client.post(
        "/api/v1/auth/token", json={"username": admin.username, "password": wrong}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"][0]["loc"] == ["body", "password"]
    unknown = await client.post("/api/v1/auth/token", json={"username": "ghost", "password": wrong})
    assert unknown.status_code == 401
    assert unknown.json() == response.json()  # does not reveal which part was wrong
    entries = await _journal(app)
    failed = [e for e in entries if e.action == "auth.login_failed"]
    assert [e.subject for e in failed] == [f"user:{admin.username}", "user:ghost"]
    for entry in entries:
        for column in (entry.old_value, entry.new_value, entry.reason, entry.subject):
            assert wrong not in (column or "")
            assert admin.password not in (column or "")


async def test_missing_fields_are_named(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/token", json={"username": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "password"]


async def test_no_or_bad_token_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/auth/me")).status_code == 401
    bad = await client.get("/api/v1/auth/me", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.json()["detail"][0]["loc"] == ["header", "Authorization"]


async def test_expired_token_is_401(
    client: httpx.AsyncClient, app: FastAPI, admin: ApiUser
) -> None:
    async with app.state.session_factory() as session, session.begin():
        await session.execute(
            update(ApiToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    response = await client.get("/api/v1/auth/me", headers=admin.headers)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"][0]["msg"]


async def test_logout_revokes_the_token(client: httpx.AsyncClient, admin: ApiUser) -> None:
    assert (await client.delete("/api/v1/auth/token", headers=admin.headers)).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=admin.headers)).status_code == 401


def _probe(permission: Permission) -> Callable[..., Awaitable[str]]:
    dependency = require(permission)

    async def probe(user: User = dependency) -> str:
        return user.username

    return probe


async def test_operator_gets_403_on_supervisor_and_qa_duties(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    # The batches API belongs to the engine; exercise the same dependency on a probe route.
    for permission in (Permission.BATCH_ABORT, Permission.BATCH_RELEASE, Permission.BATCH_START):
        app.add_api_route(f"/probe/{permission.value}", _probe(permission), methods=["POST"])
    operator = await make_user("operator")
    supervisor = await make_user("supervisor")
    qa = await make_user("qa")
    expected = {
        (operator, "batch.command.abort"): 403,
        (operator, "batch.release"): 403,
        (operator, "batch.command.start"): 200,
        (supervisor, "batch.command.abort"): 200,
        (supervisor, "batch.release"): 403,
        (qa, "batch.release"): 200,
        (qa, "batch.command.start"): 403,
    }
    for (user, permission_name), status_code in expected.items():
        response = await client.post(f"/probe/{permission_name}", headers=user.headers)
        assert response.status_code == status_code, (user.roles, permission_name)
        if status_code == 403:
            assert permission_name in response.json()["detail"][0]["msg"]
    unauthenticated = await client.post("/probe/batch.command.start")
    assert unauthenticated.status_code == 401
