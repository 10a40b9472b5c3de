"""Login, tokens, 401 vs 403, the journal of (failed) logins, lockout, password change and
expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from mes_runtime.api.deps import require
from mes_runtime.auth.permissions import Permission
from mes_runtime.auth.users import create_user
from mes_runtime.db.models import ApiToken, JournalEntry, User
from mes_runtime.settings import Settings
from tests.conftest import ApiUser, MakeUser

PASSWORD = "correct-horse-battery"


async def _journal(app: FastAPI) -> list[JournalEntry]:
    async with app.state.session_factory() as session:
        return list((await session.execute(select(JournalEntry))).scalars())


async def test_login_gives_a_working_token(client: httpx.AsyncClient, admin: ApiUser) -> None:
    me = await client.get("/api/v1/auth/me", headers=admin.headers)
    assert me.status_code == 200
    assert me.json()["username"] == admin.username
    assert "user.manage" in me.json()["permissions"]


async def test_failed_login_is_401_journalled_without_untrusted_text(
    client: httpx.AsyncClient, app: FastAPI, admin: ApiUser
) -> None:
    """The finding: anyone could write journal entries with an actor of their choosing,
    and a password typed into the user field landed in the journal. Now the actor is
    ``anonymous`` and an unknown name is not recorded at all."""
    wrong = "Wrong-Password-123"
    response = await client.post(
        "/api/v1/auth/token", json={"username": admin.username, "password": wrong}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"][0]["loc"] == ["body", "password"]
    typed_in_the_wrong_field = "My-Secret-Passphrase-9"
    unknown = await client.post(
        "/api/v1/auth/token", json={"username": typed_in_the_wrong_field, "password": wrong}
    )
    assert unknown.status_code == 401
    assert unknown.json() == response.json()  # does not reveal which part was wrong
    entries = await _journal(app)
    failed = [e for e in entries if e.action == "auth.login_failed"]
    assert [(e.actor, e.subject) for e in failed] == [
        ("anonymous", f"user:{admin.username}"),
        ("anonymous", "user:?"),
    ]
    for entry in entries:
        row = f"{entry.actor}{entry.subject}{entry.old_value}{entry.new_value}{entry.reason}"
        assert wrong not in row
        assert typed_in_the_wrong_field not in row
        assert admin.password not in row


async def test_repeated_failed_logins_lock_the_account_and_alert(
    settings: Settings, caplog: pytest.LogCaptureFixture, fast_password_hashing: None
) -> None:
    """The finding: 50 wrong passwords in a row, then 50 in parallel, all 401, no delay,
    no lockout, no alert. Now the fifth failure locks (429 + Retry-After), even the right
    password is refused while locked, and the lock is journalled, logged and counted."""
    from mes_runtime.api.app import create_app

    app = create_app(settings.model_copy(update={"feature_metrics": True, "metrics_port": 0}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://holon.test") as http:
            factory = app.state.session_factory
            async with factory() as session, session.begin():
                await create_user(session, username="victim", password=PASSWORD, roles=["qa"])
            in_a_row = [await _try(http, "victim", f"guess-{i}") for i in range(5)]
            assert [r.status_code for r in in_a_row] == [401, 401, 401, 401, 429]
            parallel = await asyncio.gather(*(_try(http, "victim", f"p-{i}") for i in range(20)))
            assert {r.status_code for r in parallel} == {429}
            right = await _try(http, "victim", PASSWORD)
            assert right.status_code == 429
            assert int(right.headers["retry-after"]) > 0
            assert right.json()["detail"][0]["type"] == "locked"
            metrics = app.state.metrics
            assert metrics.auth_lockouts.labels("login")._value.get() == 1
            assert metrics.auth_failures.labels("login")._value.get() == 26
            entries = await _journal(app)
    locked = [e for e in entries if e.action == "auth.locked"]
    assert [(e.actor, e.subject) for e in locked] == [("system", "user:victim")]
    assert any("security alert: account victim locked" in r.message for r in caplog.records)


async def _try(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/api/v1/auth/token", json={"username": username, "password": password})


async def test_a_user_changes_their_own_password(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user("operator")
    new = "a-better-passphrase-now"
    weak = await client.post(
        "/api/v1/auth/password",
        json={
            "username": user.username,
            "current_password": user.password,
            "new_password": "123456789012345",
        },
    )
    assert weak.status_code == 422
    assert weak.json()["detail"][0]["loc"] == ["body", "new_password"]
    wrong = await client.post(
        "/api/v1/auth/password",
        json={"username": user.username, "current_password": "nope", "new_password": new},
    )
    assert wrong.status_code == 401
    changed = await client.post(
        "/api/v1/auth/password",
        json={"username": user.username, "current_password": user.password, "new_password": new},
    )
    assert changed.status_code == 204, changed.text
    assert (await client.get("/api/v1/auth/me", headers=user.headers)).status_code == 401
    assert (await _try(client, user.username, user.password)).status_code == 401
    assert (await _try(client, user.username, new)).status_code == 200
    actions = [e.action for e in await _journal(app)]
    assert "user.password_changed" in actions
    assert "auth.password_change_failed" in actions


async def test_an_expired_password_must_be_changed_first(
    settings: Settings, fast_password_hashing: None
) -> None:
    """Where the plant's policy sets a maximum age, logging in with an older password is
    403 ``password_expired``; changing it (with the old one) lets the user in again."""
    from mes_runtime.api.app import create_app

    app = create_app(settings.model_copy(update={"password_max_age_days": 90}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://holon.test") as http:
            async with app.state.session_factory() as session, session.begin():
                await create_user(
                    session,
                    username="olde",
                    password=PASSWORD,
                    roles=["qa"],
                    now=datetime.now(UTC) - timedelta(days=91),
                )
            expired = await _try(http, "olde", PASSWORD)
            assert expired.status_code == 403
            assert expired.json()["detail"][0]["type"] == "password_expired"
            new = "the-new-passphrase-91"
            changed = await http.post(
                "/api/v1/auth/password",
                json={"username": "olde", "current_password": PASSWORD, "new_password": new},
            )
            assert changed.status_code == 204, changed.text
            assert (await _try(http, "olde", new)).status_code == 200


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
