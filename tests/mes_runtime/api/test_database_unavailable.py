"""A database that cannot be reached is a 503 with ``Retry-After``, never a 500 (issue #13).

The runtime is started on a PostgreSQL URL where no server listens (a real TCP refusal, as
during a restart or a fail-over): requests that need the database are answered 503 with the
API's error shape and a ``Retry-After`` the client can follow, while liveness stays up.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from mes_runtime.api.app import RETRY_AFTER_SECONDS, create_app
from mes_runtime.settings import Settings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens here once the socket is closed


@pytest.fixture
async def unreachable(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    url = f"postgresql+psycopg://holon:unused@127.0.0.1:{_closed_port()}/holon"
    app: FastAPI = create_app(
        Settings(database_url=url, data_dir=tmp_path / "data", migrate_on_start=False)
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://holon.test") as http:
            yield http


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/auth/token", {"username": "someone", "password": "a-password"}),
        ("GET", "/api/v1/recipes", None),
    ],
)
async def test_requests_needing_the_database_get_503_with_retry_after(
    unreachable: httpx.AsyncClient, method: str, path: str, body: dict[str, str] | None
) -> None:
    headers = {"Authorization": "Bearer some-token"}
    response = await unreachable.request(method, path, json=body, headers=headers)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    (problem,) = response.json()["detail"]
    assert problem["type"] == "unavailable"
    assert "unused" not in response.text  # the URL's password is never echoed


async def test_liveness_stays_up_while_the_database_is_unreachable(
    unreachable: httpx.AsyncClient,
) -> None:
    assert (await unreachable.get("/healthz")).status_code == 200
    assert (await unreachable.get("/readyz")).status_code == 503
