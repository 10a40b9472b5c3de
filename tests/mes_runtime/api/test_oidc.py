"""Sign-in with the plant's identity provider (issue #13, item 2), against a real one: Dex,
built from its Go module and run by the test (``holon_testing.dex``), never a mock.

The API takes the provider's tokens as bearer tokens: signature by a key the issuer
publishes, issuer, audience and expiry checked, each refusal a 401 saying why; roles come
from the groups the plant maps (403 when none maps); the user record is created and kept
up to date, journalled. Local sign-in can be switched off. An e-signature by such a user
re-authenticates with their own signing password.

Dex's password database carries no groups, so here the groups claim is the ``email``
claim (a string is one group): the mapping under test is the same whatever the claim.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from holon_testing.dex import Dex, DexClient, DexUser, dex_server
from holon_testing.features import EVERY_FEATURE
from mes_runtime.auth.permissions import Role
from mes_runtime.auth.users import get_user, issue_setup_token
from mes_runtime.db.models import JournalEntry
from mes_runtime.settings import OIDC_ROLES, Settings
from tests.conftest import MakeUser

RUNTIME = DexClient("holon-runtime", "runtime-client-secret-1f3a9c")
OTHER_APP = DexClient("other-app", "other-client-secret-77d0e2")
QA = DexUser("qa-quinn", "dex-password-of-quinn-8c1e", "Quinn Auditor")
OPERATOR = DexUser("op-olga", "dex-password-of-olga-5b2d")
NOBODY = DexUser("vis-victor", "dex-password-of-victor-3a7f")
ROLE_MAP = {QA.email: ["qa"], OPERATOR.email: ["operator", "supervisor"]}

YAML_TEXT = (resources.files("mes_runtime.library") / "buffer-prep-only.yaml").read_text()
APPROVE = "/api/v1/recipes/buffer-prep-only/1/approve"


@pytest.fixture(scope="module")
def dex() -> Iterator[Dex]:
    with dex_server(users=[QA, OPERATOR, NOBODY], clients=[RUNTIME, OTHER_APP]) as server:
        yield server


@pytest.fixture(scope="module")
def short_dex() -> Iterator[Dex]:
    """Another provider (another issuer), whose ID tokens live one second."""
    with dex_server(users=[QA], clients=[RUNTIME], id_token_ttl="1s") as server:
        yield server


def _oidc_settings(db_url: str, tmp_path: Path, dex: Dex, **extra: Any) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        migrate_on_start=False,
        oidc_issuer=dex.issuer,
        oidc_client_id=RUNTIME.client_id,
        oidc_username_claim="name",  # Dex's password database: its user name
        oidc_groups_claim="email",
        oidc_role_map=ROLE_MAP,
        **{**EVERY_FEATURE, **extra},
    )


@pytest.fixture
def settings(db_url: str, tmp_path: Path, dex: Dex) -> Settings:
    return _oidc_settings(db_url, tmp_path, dex)


async def _running(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    from mes_runtime.api.app import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://holon.test") as http:
            yield application, http


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _entries(app: FastAPI, action: str) -> list[JournalEntry]:
    async with app.state.session_factory() as session:
        rows = await session.execute(select(JournalEntry).where(JournalEntry.action == action))
        return list(rows.scalars())


def _refusal(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    msg: str = response.json()["detail"][0]["msg"]
    return msg


async def test_a_provider_token_signs_in_with_the_roles_its_groups_map_to(
    client: httpx.AsyncClient, app: FastAPI, dex: Dex
) -> None:
    for token in (dex.id_token(RUNTIME, QA), dex.password_grant(RUNTIME, QA)["access_token"]):
        me = await client.get("/api/v1/auth/me", headers=_bearer(token))
        assert me.status_code == 200, me.text
        assert (me.json()["username"], me.json()["roles"]) == (QA.username, ["qa"])
        assert "recipe.approve" in me.json()["permissions"]
    operator = await client.get("/api/v1/auth/me", headers=_bearer(dex.id_token(RUNTIME, OPERATOR)))
    assert operator.json()["roles"] == ["operator", "supervisor"]
    assert "recipe.approve" not in operator.json()["permissions"]
    # the user records were created once each, journalled by the system with the issuer
    created = await _entries(app, "user.created")
    assert sorted(e.subject for e in created) == [
        f"user:{OPERATOR.username}",
        f"user:{QA.username}",
    ]
    for entry in created:
        assert entry.actor == "system"
        assert dex.issuer in (entry.reason or "")


async def test_a_user_whose_groups_map_to_no_role_is_forbidden(
    client: httpx.AsyncClient, app: FastAPI, dex: Dex
) -> None:
    me = await client.get("/api/v1/auth/me", headers=_bearer(dex.id_token(RUNTIME, NOBODY)))
    assert me.status_code == 403, me.text
    assert "maps to a role" in me.json()["detail"][0]["msg"]
    async with app.state.session_factory() as session:
        assert await get_user(session, NOBODY.username) is None


async def test_roles_follow_the_providers_groups_at_every_sign_in(
    db_url: str, tmp_path: Path, dex: Dex
) -> None:
    first = _oidc_settings(db_url, tmp_path, dex)
    async for _, http in _running(first):
        me = await http.get("/api/v1/auth/me", headers=_bearer(dex.id_token(RUNTIME, QA)))
        assert me.json()["roles"] == ["qa"]
    remapped = first.model_copy(update={"oidc_role_map": {QA.email: ["supervisor"]}})
    async for app, http in _running(remapped):
        me = await http.get("/api/v1/auth/me", headers=_bearer(dex.id_token(RUNTIME, QA)))
        assert me.json()["roles"] == ["supervisor"]
        [changed] = await _entries(app, "user.changed")
        assert (changed.actor, changed.subject) == ("system", f"user:{QA.username}")
        assert json.loads(changed.old_value or "")["roles"] == ["qa"]
        assert json.loads(changed.new_value or "")["roles"] == ["supervisor"]


async def test_a_token_for_another_audience_is_refused(client: httpx.AsyncClient, dex: Dex) -> None:
    response = await client.get("/api/v1/auth/me", headers=_bearer(dex.id_token(OTHER_APP, QA)))
    assert "another audience" in _refusal(response)


async def test_a_token_of_another_issuer_is_refused(
    client: httpx.AsyncClient, short_dex: Dex
) -> None:
    response = await client.get("/api/v1/auth/me", headers=_bearer(short_dex.id_token(RUNTIME, QA)))
    assert "not by the plant's identity provider" in _refusal(response)


async def test_a_tampered_token_is_refused(client: httpx.AsyncClient, dex: Dex) -> None:
    """The claims changed (another user name), the signature kept: it no longer verifies."""
    header, payload, signature = dex.id_token(RUNTIME, OPERATOR).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["name"] = QA.username
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = await client.get(
        "/api/v1/auth/me", headers=_bearer(f"{header}.{forged}.{signature}")
    )
    assert "signature does not verify" in _refusal(response)


async def test_an_expired_token_is_refused(db_url: str, tmp_path: Path, short_dex: Dex) -> None:
    settings = _oidc_settings(db_url, tmp_path, short_dex, oidc_clock_skew_seconds=0)
    token = short_dex.id_token(RUNTIME, QA)
    async for _, http in _running(settings):
        fresh = await http.get("/api/v1/auth/me", headers=_bearer(token))
        assert fresh.status_code == 200, fresh.text
        await asyncio.sleep(2.1)  # the token lives one second (Dex's expiry.idTokens)
        response = await http.get("/api/v1/auth/me", headers=_bearer(token))
        assert "expired" in _refusal(response)


async def test_local_sign_in_can_be_switched_off(
    db_url: str, tmp_path: Path, dex: Dex, fast_password_hashing: None
) -> None:
    from mes_runtime.auth.users import create_user

    settings = _oidc_settings(db_url, tmp_path, dex, local_login=False)
    async for app, http in _running(settings):
        async with app.state.session_factory() as session, session.begin():
            await create_user(
                session, username="local-lou", password="a-local-passphrase-9c2", roles=["qa"]
            )
        refused = await http.post(
            "/api/v1/auth/token",
            json={"username": "local-lou", "password": "a-local-passphrase-9c2"},
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["detail"][0]["type"] == "local_login_disabled"
        me = await http.get("/api/v1/auth/me", headers=_bearer(dex.id_token(RUNTIME, QA)))
        assert me.status_code == 200


def test_groups_map_to_the_runtimes_roles_but_never_to_the_operators_own() -> None:
    assert set(get_args(OIDC_ROLES)) == {role.value for role in Role} - {Role.UPGRADE.value}
    with pytest.raises(ValueError, match="oidc_role_map"):
        Settings(
            oidc_issuer="http://idp.test", oidc_client_id="c", oidc_role_map={"g": ["upgrade"]}
        )


def test_local_sign_in_off_needs_a_provider(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs an identity provider"):
        Settings(data_dir=tmp_path, local_login=False)


async def test_a_provider_user_signs_with_their_own_signing_password(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser, dex: Dex
) -> None:
    """Signing re-authenticates: the provider's token alone does not sign; the signer's own
    signing password (set with a one-time set-up token, never known to an administrator)
    does, and a wrong one is refused."""
    author = await make_user("supervisor")
    created = await client.post(
        "/api/v1/recipes",
        content=YAML_TEXT,
        headers={"Content-Type": "application/yaml", **author.headers},
    )
    assert created.status_code == 201, created.text
    qa = _bearer(dex.id_token(RUNTIME, QA))
    assert (await client.get("/api/v1/auth/me", headers=qa)).status_code == 200
    no_password = await client.post(
        APPROVE, json={"password": QA.password, "meaning": "approved"}, headers=qa
    )
    assert no_password.status_code == 403, no_password.text  # the provider's password: no
    assert no_password.json()["detail"][0]["type"] == "signature_rejected"
    async with app.state.session_factory() as session, session.begin():
        user = await get_user(session, QA.username)
        assert user is not None
        setup_token, _ = await issue_setup_token(session, user, ttl_seconds=600)
    signing_password = "quinns-own-signing-phrase-4e7b"
    set_up = await client.post(
        "/api/v1/auth/password/setup",
        json={
            "username": QA.username,
            "setup_token": setup_token,
            "new_password": signing_password,
        },
    )
    assert set_up.status_code == 204, set_up.text
    qa = _bearer(dex.id_token(RUNTIME, QA))  # the set-up ended the runtime's own tokens only
    signed = await client.post(
        APPROVE, json={"password": signing_password, "meaning": "approved"}, headers=qa
    )
    assert signed.status_code == 200, signed.text
    signature = signed.json()["signature"]
    assert (signature["signer"], signature["meaning"]) == (QA.username, "approved")
    assert signature["record_digest"] == created.json()["digest"]
