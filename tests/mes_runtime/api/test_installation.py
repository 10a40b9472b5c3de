"""``GET /api/v1/upgrade/installation``: the runtime's installation facts for IQ rows.

The runtime here is configured with every secret it can hold (a QMS webhook with its HMAC
key and a token in its path; the database's password on PostgreSQL), each a fresh random
value, and the raw answer must contain none of them. Every setting is either published
or left out on purpose (``api.installation``); one whose kind or name says secret is never
published.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

import httpx
import pytest
import rfc8785
from alembic import command
from pydantic import SecretStr
from sqlalchemy.engine import make_url

import mes_runtime
from mes_runtime.api.features import served
from mes_runtime.api.installation import (
    DERIVED,
    LEFT_OUT,
    QUALIFIED,
    qualified_settings,
    settings_digest,
)
from mes_runtime.db.migrate import alembic_config, head_revisions
from mes_runtime.mtp.manifest import write_manifest
from mes_runtime.settings import Settings
from tests.conftest import ApiUser, MakeUser
from tests.mes_runtime.api.test_equipment import _manifest

PATH = "/api/v1/upgrade/installation"

#: Words in a setting's name that say it may hold a secret (unless it is a number or a flag).
SECRET_WORDS = re.compile(r"secret|password|passwd|token|key|credential|url|dsn|private")


@pytest.fixture
def schema_at() -> str | None:
    """The revision the test's database is taken down to before the app starts (None:
    where the shared fixture migrated it, the heads)."""
    return None


@pytest.fixture
def db_url(db_url: str, schema_at: str | None) -> str:
    if schema_at is not None:  # a real downgrade, as alembic would undo it
        command.downgrade(alembic_config(db_url), schema_at)
    return db_url


@pytest.fixture
def qms_secret() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def qms_url() -> str:
    return f"https://qms.holon.test/hooks/{secrets.token_urlsafe(24)}"


@pytest.fixture
def kind() -> str | None:
    """The module kind (None: a runtime started outside the operator, batch-execution)."""
    return None


@pytest.fixture
def settings(settings: Settings, qms_url: str, qms_secret: str, kind: str | None) -> Settings:
    """The shared settings with the QMS hand-off configured (its URL and key secret); for
    another ``kind``, without the flags only batch-execution serves."""
    update: dict[str, Any] = {"qms_url": qms_url, "qms_secret": SecretStr(qms_secret)}
    if kind is not None:
        update |= {"module": kind, "feature_ui": False, "feature_electronic_signatures": False}
    return settings.model_copy(update=update)


@pytest.fixture
async def upgrader(make_user: MakeUser) -> ApiUser:
    """The operator's machine account."""
    return await make_user("upgrade")


async def _installation(client: httpx.AsyncClient, user: ApiUser) -> dict[str, Any]:
    response = await client.get(PATH, headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_upgrade_account_reads_the_installation(
    client: httpx.AsyncClient, upgrader: ApiUser, settings: Settings
) -> None:
    body = await _installation(client, upgrader)
    assert set(body) == {
        "version",
        "schema",
        "settings",
        "settingsDigest",
        "capabilities",
        "equipment",
    }
    assert body["version"] == mes_runtime.__version__
    assert body["capabilities"] == sorted(capability.value for capability in served(settings))
    assert body["settings"] == qualified_settings(settings)
    assert body["settings"]["qms_hand_off"] is True
    assert body["settings"]["feature_electronic_signatures"] is True
    assert body["settings"]["qms_severities"] == ["critical", "major"]
    assert body["equipment"] == []


async def test_the_settings_digest_is_of_their_canonical_json(
    client: httpx.AsyncClient, upgrader: ApiUser
) -> None:
    body = await _installation(client, upgrader)
    canonical = rfc8785.dumps(body["settings"])  # recomputed from the answer alone
    assert body["settingsDigest"] == "sha256:" + hashlib.sha256(canonical).hexdigest()


async def test_the_schema_is_at_heads_after_migration(
    client: httpx.AsyncClient, upgrader: ApiUser, db_url: str
) -> None:
    schema = (await _installation(client, upgrader))["schema"]
    assert schema["dialect"] == ("postgresql" if db_url.startswith("postgresql") else "sqlite")
    assert schema["heads"] == sorted(head_revisions())
    assert schema["current"] == sorted(schema["current"])
    assert schema["current"]
    assert (schema["atHeads"], schema["compatible"]) == (True, True)


@pytest.mark.parametrize("schema_at", ["contract_0001"])
async def test_a_database_one_revision_behind_is_not_at_heads(
    client: httpx.AsyncClient, upgrader: ApiUser
) -> None:
    schema = (await _installation(client, upgrader))["schema"]
    assert "contract_0001" in schema["current"]
    assert "contract_0002" not in schema["current"]
    assert "contract_0002" in schema["heads"]
    # green before its contract: this version works on it, but it is not where it will be
    assert (schema["atHeads"], schema["compatible"]) == (False, True)


async def test_equipment_is_listed_with_the_digest_of_its_manifest(
    client: httpx.AsyncClient, upgrader: ApiUser, admin: ApiUser
) -> None:
    endpoint = f"opc.tcp://127.0.0.1:4840/{secrets.token_hex(8)}"
    data = write_manifest(_manifest("TK-7", endpoint=endpoint))
    headers = {**admin.headers, "Content-Type": "application/xml"}
    imported = await client.post("/api/v1/equipment", content=data, headers=headers)
    assert imported.status_code == 201, imported.text
    response = await client.get(PATH, headers=upgrader.headers)
    assert response.json()["equipment"] == [
        {"name": "TK-7", "digest": "sha256:" + hashlib.sha256(data).hexdigest()}
    ]
    assert endpoint not in response.text


@pytest.mark.parametrize("role", ["operator", "supervisor", "qa", "admin"])
async def test_other_roles_are_refused(
    client: httpx.AsyncClient, make_user: MakeUser, role: str
) -> None:
    user = await make_user(role)
    response = await client.get(PATH, headers=user.headers)
    assert response.status_code == 403, response.text
    (detail,) = response.json()["detail"]
    assert detail["msg"] == "your roles do not grant the permission 'upgrade.manage'"


async def test_without_a_token_it_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get(PATH)
    assert response.status_code == 401, response.text


async def test_no_secret_is_in_the_answer(
    client: httpx.AsyncClient,
    upgrader: ApiUser,
    settings: Settings,
    qms_url: str,
    qms_secret: str,
) -> None:
    response = await client.get(PATH, headers=upgrader.headers)
    assert response.status_code == 200, response.text
    raw = response.text
    secrets_held = [qms_secret, qms_url, qms_url.rsplit("/", 1)[1], settings.database_url]
    secrets_held += settings.secret_values()  # the database's password, where it has one
    password = make_url(settings.database_url).password
    if password:
        secrets_held.append(str(password))
    for secret in secrets_held:
        assert secret not in raw


@pytest.mark.parametrize("kind", ["ebr", "review-by-exception"])
async def test_every_module_kind_serves_it(
    client: httpx.AsyncClient, upgrader: ApiUser, kind: str
) -> None:
    body = await _installation(client, upgrader)
    assert body["settings"]["module"] == kind
    assert "batches" not in body["capabilities"]
    assert body["equipment"] == []  # equipment is not served: none belongs to this module
    # the rest of /api/v1/upgrade is the batches' (its not-served answer does not shadow)
    safe_point = await client.get("/api/v1/upgrade/safe-point", headers=upgrader.headers)
    assert safe_point.status_code == 404, safe_point.text


# -- which settings are published (no app) -------------------------------------------------


def test_every_setting_is_published_or_left_out_on_purpose() -> None:
    fields = set(Settings.model_fields)
    assert not set(QUALIFIED) & set(LEFT_OUT)
    assert set(QUALIFIED) | set(LEFT_OUT) == fields, (
        "place each new setting in QUALIFIED or LEFT_OUT (api/installation.py): "
        f"{sorted(fields - set(QUALIFIED) - set(LEFT_OUT))}"
    )
    assert not set(DERIVED) & fields


def _may_hold_a_secret(name: str) -> bool:
    field = Settings.model_fields[name]
    extra = field.json_schema_extra
    if "Secret" in repr(field.annotation) or (isinstance(extra, dict) and extra.get("secret")):
        return True  # SecretStr (or SecretBytes), or marked secret
    return bool(SECRET_WORDS.search(name)) and field.annotation not in (int, float, bool)


def test_no_setting_that_may_hold_a_secret_is_published() -> None:
    suspects = [name for name in Settings.model_fields if _may_hold_a_secret(name)]
    assert {"database_url", "qms_url", "qms_secret"} <= set(suspects)  # the check sees them
    published = set(qualified_settings(Settings()))
    assert not published & set(suspects)
    assert published <= set(QUALIFIED) | set(DERIVED)


def test_the_digest_follows_published_settings_only() -> None:
    base = Settings()
    digest = settings_digest(qualified_settings(base))
    assert digest.startswith("sha256:")
    assert len(digest) == len("sha256:") + 64
    changed = base.model_copy(update={"login_max_failures": 3})
    assert settings_digest(qualified_settings(changed)) != digest
    moved = base.model_copy(update={"port": 9090, "colour": "green"})
    assert settings_digest(qualified_settings(moved)) == digest
