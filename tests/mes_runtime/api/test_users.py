"""User management (admin only)."""

from __future__ import annotations

import httpx

from tests.conftest import ApiUser, MakeUser


async def test_admin_creates_a_user_who_can_log_in(
    client: httpx.AsyncClient, admin: ApiUser
) -> None:
    response = await client.post(
        "/api/v1/users", json={"username": "olga", "roles": ["operator"]}, headers=admin.headers
    )
    assert response.status_code == 201, response.text
    password = response.json()["password"]
    assert len(password) >= 24
    login = await client.post("/api/v1/auth/token", json={"username": "olga", "password": password})
    assert login.status_code == 200
    listed = await client.get("/api/v1/users", headers=admin.headers)
    assert "olga" in [u["username"] for u in listed.json()]
    assert all("password" not in u for u in listed.json())


async def test_bad_user_data_names_the_field(client: httpx.AsyncClient, admin: ApiUser) -> None:
    cases = [
        ({"username": "x1", "roles": ["root"]}, ["body", "roles", 0]),
        ({"username": "Bad Name", "roles": ["qa"]}, ["body", "username"]),
        ({"username": "pat", "roles": ["qa"], "password": "short"}, ["body", "password"]),
        ({"username": "pat", "roles": []}, ["body", "roles"]),
    ]
    for body, loc in cases:
        response = await client.post("/api/v1/users", json=body, headers=admin.headers)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"] == loc
    duplicate = await client.post(
        "/api/v1/users", json={"username": admin.username, "roles": ["qa"]}, headers=admin.headers
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["detail"][0]["loc"] == ["body", "username"]


async def test_non_admin_is_forbidden(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    qa = await make_user("qa")
    assert (await client.get("/api/v1/users", headers=qa.headers)).status_code == 403


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
