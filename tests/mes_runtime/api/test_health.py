"""Liveness and readiness probes, also while the process drains."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from mes_runtime.api.app import create_app
from mes_runtime.api.drain import Drain
from mes_runtime.settings import Settings


async def test_healthz_and_readyz_on_a_migrated_database(client: httpx.AsyncClient) -> None:
    live = await client.get("/healthz")
    ready = await client.get("/readyz")
    assert (live.status_code, live.json()["status"]) == (200, "ok")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "batches": "ok"}


async def test_a_replica_that_stopped_owning_batches_is_not_ready(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Readiness says whether the replica can own batches: once its ownership loops have
    stopped (as they do first at shutdown), the Service must not send it work."""
    await app.state.batch_ownership.__aexit__(None, None, None)
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["batches"] == "not owning batches (stopped)"


async def test_draining_is_alive_but_not_ready_and_closes_connections(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    app.state.drain.begin()
    live = await client.get("/healthz")
    ready = await client.get("/readyz")
    assert (live.status_code, live.headers["connection"]) == (200, "close")
    assert (ready.status_code, ready.headers["connection"]) == (503, "close")
    assert ready.json() == {"status": "unavailable", "checks": {"shutdown": "draining"}}


def test_the_server_can_share_its_drain_flag_with_the_app(tmp_path: Path) -> None:
    drain = Drain()
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    assert create_app(settings, drain=drain).state.drain is drain
    assert create_app(settings).state.drain is not drain


async def test_readyz_is_503_when_not_migrated(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            live = await client.get("/healthz")
            ready = await client.get("/readyz")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["checks"]["migrations"].startswith("not at heads")


async def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("unreachable")


async def test_unknown_paths_use_the_common_error_shape(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"detail": [{"loc": ["path"], "msg": "Not Found", "type": "http_404"}]}
    wrong_method = await client.delete("/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["detail"][0]["msg"] == "Method Not Allowed"
