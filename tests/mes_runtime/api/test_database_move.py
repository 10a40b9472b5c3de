"""``GET /api/v1/upgrade/database-move``: the module's database as a move needs it, for the
upgrade account only, never a secret; SQLite answers 409 (it cannot be moved). The facts
themselves are tested against two logical-replication servers in
``tests/mes_runtime/services/test_database_move.py``."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from mes_operator.dbmove import Green, blue_from_api, preflight
from sqlalchemy.engine import make_url

from mes_runtime.db.migrate import head_revisions
from mes_runtime.settings import Settings
from tests.conftest import MakeUser

PATH = "/api/v1/upgrade/database-move"


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_the_facts_of_the_module_database(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser, settings: Settings
) -> None:
    upgrader = await make_user("upgrade")
    response = await client.get(PATH, headers=upgrader.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    server = body["server"]
    assert server["walLevel"] == "replica"  # the shared test server: PostgreSQL's default
    assert server["database"] == make_url(settings.database_url).database
    assert server["major"] == server["versionNum"] // 10000
    assert server["freeReplicationSlots"] == server["maxReplicationSlots"]
    assert server["superuser"] is True
    assert "public.journal" in body["tables"]["tables"]
    assert body["tables"]["withoutIdentity"] == []
    assert body["canPublish"] is True
    assert body["atHeads"] is True
    assert body["heads"] == sorted(head_revisions())
    assert body["publications"] == []
    head = body["journalHead"]
    await app.state.journal.append(actor="t", action="test.entry", subject="s")
    again = await client.get(PATH, headers=upgrader.headers)
    assert again.json()["journalHead"] == head + 1
    # the operator reads this answer as it is: its preflight names what to fix here
    blue = blue_from_api(response.json())
    assert preflight(blue, Green(server=blue.server, can_subscribe=True)).refusals == (
        "blue: wal_level is replica; set wal_level=logical and restart the server",
        "green: wal_level is replica; set wal_level=logical and restart the server",
    )
    url = make_url(settings.database_url)
    for secret in (settings.database_url, f"{url.username}@", "postgresql+psycopg"):
        assert secret not in response.text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sqlite_cannot_be_moved(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    upgrader = await make_user("upgrade")
    response = await client.get(PATH, headers=upgrader.headers)
    assert response.status_code == 409, response.text
    detail = response.json()["detail"][0]
    assert detail["type"] == "conflict"
    assert "only a PostgreSQL database can be moved" in detail["msg"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("role", ["admin", "operator", "qa"])
async def test_only_the_upgrade_account_reads_it(
    client: httpx.AsyncClient, make_user: MakeUser, role: str
) -> None:
    user = await make_user(role)
    response = await client.get(PATH, headers=user.headers)
    assert response.status_code == 403, response.text
    assert (await client.get(PATH)).status_code == 401
