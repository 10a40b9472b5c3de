"""User management (admin only), with segregation of duties: the administrator enrols users
but never learns their passwords, never changes their own roles and never grants a role
they do not hold (issue #13)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from mes_runtime.db.models import JournalEntry
from tests.conftest import ApiUser, MakeUser

PASSWORD = "she-picked-this-passphrase"


async def _set_up(client: httpx.AsyncClient, username: str, token: str, password: str) -> int:
    response = await client.post(
        "/api/v1/auth/password/setup",
        json={"username": username, "setup_token": token, "new_password": password},
    )
    return response.status_code


async def _login(client: httpx.AsyncClient, username: str, password: str) -> int:
    response = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )
    return response.status_code


async def test_enrolled_user_sets_their_own_password(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    """The admin gets a one-time set-up token, never a password; the user chooses it."""
    lead = await make_user("admin", "operator")  # administers operators: holds the role
    response = await client.post(
        "/api/v1/users",
        json={"username": "olga", "full_name": "Olga Operator", "roles": ["operator"]},
        headers=lead.headers,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert "password" not in created
    assert created["full_name"] == "Olga Operator"
    assert created["password_changed_at"] is None
    token = created["setup_token"]
    assert await _login(client, "olga", token) == 401  # the token is not a password
    assert await _set_up(client, "olga", token, "olga-is-my-name-too") == 422
    assert await _set_up(client, "olga", token, PASSWORD) == 204
    assert await _set_up(client, "olga", token, PASSWORD + "-again") == 401  # once only
    assert await _login(client, "olga", PASSWORD) == 200
    listed = await client.get("/api/v1/users", headers=lead.headers)
    olga = next(u for u in listed.json() if u["username"] == "olga")
    assert olga["password_changed_at"] is not None
    assert all("password" not in u and "setup_token" not in u for u in listed.json())
    async with app.state.session_factory() as session:
        entries = list((await session.execute(select(JournalEntry))).scalars())
    assert {"user.created", "user.password_set"} <= {e.action for e in entries}
    for entry in entries:
        assert token not in f"{entry.new_value}{entry.reason}{entry.subject}"
        assert PASSWORD not in f"{entry.new_value}{entry.reason}{entry.subject}"


async def test_admin_cannot_choose_a_password(client: httpx.AsyncClient, admin: ApiUser) -> None:
    response = await client.post(
        "/api/v1/users",
        json={"username": "pat", "full_name": "Pat", "roles": ["admin"], "password": "x" * 20},
        headers=admin.headers,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "password"]


async def test_admin_cannot_give_itself_qa(client: httpx.AsyncClient, admin: ApiUser) -> None:
    """The finding: ``PATCH /users/admin`` with the QA role, then approve. Now 403."""
    response = await client.patch(
        f"/api/v1/users/{admin.username}", json={"roles": ["admin", "qa"]}, headers=admin.headers
    )
    assert response.status_code == 403
    assert "own roles" in response.json()["detail"][0]["msg"]
    me = await client.get("/api/v1/auth/me", headers=admin.headers)
    assert me.json()["roles"] == ["admin"]


async def test_nobody_grants_a_role_they_do_not_hold(
    client: httpx.AsyncClient, admin: ApiUser, make_user: MakeUser
) -> None:
    """An admin cannot make an accomplice (or a second account of its own) a QA signer."""
    new_qa = await client.post(
        "/api/v1/users",
        json={"username": "accomplice", "full_name": "A. Complice", "roles": ["qa"]},
        headers=admin.headers,
    )
    assert new_qa.status_code == 403
    assert new_qa.json()["detail"][0]["loc"] == ["body", "roles"]
    assert "qa" in new_qa.json()["detail"][0]["msg"]
    operator = await make_user("operator")
    promoted = await client.patch(
        f"/api/v1/users/{operator.username}",
        json={"roles": ["operator", "qa"]},
        headers=admin.headers,
    )
    assert promoted.status_code == 403
    listed = await client.get("/api/v1/users", headers=admin.headers)
    assert "accomplice" not in [u["username"] for u in listed.json()]
    # taking a role away is allowed
    qa = await make_user("qa", "operator")
    demoted = await client.patch(
        f"/api/v1/users/{qa.username}", json={"roles": ["operator"]}, headers=admin.headers
    )
    assert demoted.status_code == 200
    assert demoted.json()["roles"] == ["operator"]


async def test_bad_user_data_names_the_field(client: httpx.AsyncClient, admin: ApiUser) -> None:
    cases = [
        ({"username": "x1", "full_name": "X", "roles": ["root"]}, ["body", "roles", 0]),
        ({"username": "Bad Name", "full_name": "X", "roles": ["admin"]}, ["body", "username"]),
        ({"username": "pat", "roles": ["admin"]}, ["body", "full_name"]),
        ({"username": "pat", "full_name": "X", "roles": []}, ["body", "roles"]),
        ({"username": "anonymous", "full_name": "X", "roles": ["admin"]}, ["body", "username"]),
    ]
    for body, loc in cases:
        response = await client.post("/api/v1/users", json=body, headers=admin.headers)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"] == loc
    duplicate = await client.post(
        "/api/v1/users",
        json={"username": admin.username, "full_name": "X", "roles": ["admin"]},
        headers=admin.headers,
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["detail"][0]["loc"] == ["body", "username"]


async def test_non_admin_is_forbidden(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    qa = await make_user("qa")
    assert (await client.get("/api/v1/users", headers=qa.headers)).status_code == 403


async def test_password_reset_gives_the_user_a_new_set_up_token(
    client: httpx.AsyncClient, admin: ApiUser, make_user: MakeUser
) -> None:
    operator = await make_user("operator")
    lead = await make_user("admin", "operator")
    reset = await client.post(
        f"/api/v1/users/{operator.username}/password-reset", headers=lead.headers
    )
    assert reset.status_code == 200, reset.text
    assert (await client.get("/api/v1/auth/me", headers=operator.headers)).status_code == 401
    assert await _login(client, operator.username, operator.password) == 401
    token = reset.json()["setup_token"]
    assert await _set_up(client, operator.username, token, PASSWORD) == 204
    assert await _login(client, operator.username, PASSWORD) == 200
    own = await client.post(f"/api/v1/users/{admin.username}/password-reset", headers=admin.headers)
    assert own.status_code == 403
    ghost = await client.post("/api/v1/users/ghost/password-reset", headers=admin.headers)
    assert ghost.status_code == 404


async def test_an_admin_cannot_take_over_a_signer_by_resetting_their_password(
    client: httpx.AsyncClient, admin: ApiUser, make_user: MakeUser
) -> None:
    """The set-up token lets its holder choose the password: an admin who could reset a
    QA user's password could sign as them. Resetting needs every role the user holds."""
    qa = await make_user("qa")
    reset = await client.post(f"/api/v1/users/{qa.username}/password-reset", headers=admin.headers)
    assert reset.status_code == 403
    assert "qa" in reset.json()["detail"][0]["msg"]
    assert (await client.get("/api/v1/auth/me", headers=qa.headers)).status_code == 200
    assert await _login(client, qa.username, qa.password) == 200


async def test_deactivation_stops_the_users_tokens(
    client: httpx.AsyncClient, admin: ApiUser, make_user: MakeUser
) -> None:
    operator = await make_user("operator")
    response = await client.patch(
        f"/api/v1/users/{operator.username}", json={"active": False}, headers=admin.headers
    )
    assert response.status_code == 200
    assert response.json()["active"] is False
    assert (await client.get("/api/v1/auth/me", headers=operator.headers)).status_code == 401
    missing = await client.patch(
        "/api/v1/users/ghost", json={"active": False}, headers=admin.headers
    )
    assert missing.status_code == 404
    self_off = await client.patch(
        f"/api/v1/users/{admin.username}", json={"active": False}, headers=admin.headers
    )
    assert self_off.status_code == 422
