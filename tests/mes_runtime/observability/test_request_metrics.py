"""HTTP request and database metrics of the real app (feature on), on SQLite and a real
PostgreSQL: requests through the app's ASGI interface, values read back over HTTP from the
metrics port, the way Prometheus reads them."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from holon_testing.features import EVERY_FEATURE
from mes_runtime.api.app import create_app
from mes_runtime.observability import MeteredHttp
from mes_runtime.observability.http_metrics import UNMATCHED
from mes_runtime.settings import Settings
from tests.mes_runtime.observability.scrape import scrape, value

REQUESTS = "holon_http_requests_total"
SECONDS = "holon_http_request_duration_seconds_count"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """The conftest's app, with metrics on (on any free port)."""
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        migrate_on_start=False,
        feature_metrics=True,
        metrics_port=0,
        **EVERY_FEATURE,
    )


async def test_requests_are_counted_by_route_template_method_and_status(
    app: FastAPI, app_client: httpx.AsyncClient
) -> None:
    batch = "/api/v1/batches/{batch_id}"
    before = await scrape(app)
    for batch_id in ("B-1", "B-2", "B-3"):
        assert (await app_client.get(f"/api/v1/batches/{batch_id}")).status_code == 404
    assert (await app_client.get("/api/v1/batches")).status_code == 200
    unknown = [f"/no/such/{secrets.token_hex(4)}" for _ in range(4)]
    for path in unknown:
        assert (await app_client.get(path)).status_code == 404
    anonymous = await app_client.get("/api/v1/batches", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    brewed = await app_client.request("BREW", "/api/v1/batches")
    assert brewed.status_code == 405
    after = await scrape(app)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew(REQUESTS, method="GET", route=batch, status="404") == 3
    assert grew(SECONDS, method="GET", route=batch) == 3
    assert grew(REQUESTS, method="GET", route="/api/v1/batches", status="200") == 1
    assert grew(REQUESTS, method="GET", route="/api/v1/batches", status="401") == 1
    assert grew(REQUESTS, method="GET", route=UNMATCHED, status="404") == 4
    assert grew(REQUESTS, method="other", route="/api/v1/batches", status="405") == 1
    routes = {dict(labels)["route"] for name, labels in after if name == REQUESTS}
    assert not any("B-1" in route or "/no/such/" in route for route in routes), routes
    assert {"/api/v1/auth/token", batch, UNMATCHED} <= routes  # the admin's login too
    buckets = [v for (name, labels), v in after.items() if name.endswith("seconds_bucket")]
    assert buckets
    assert all(v >= 0 for v in buckets)


async def test_the_database_pool_and_statements_are_measured(
    app: FastAPI, app_client: httpx.AsyncClient
) -> None:
    before = await scrape(app)
    assert (await app_client.get("/api/v1/batches")).status_code == 200
    async with app.state.engine.begin() as conn:
        await conn.execute(text("INSERT INTO batches SELECT * FROM batches WHERE 1 = 0"))
        await conn.execute(text("UPDATE users SET username = username WHERE 1 = 0"))
        await conn.execute(text("DELETE FROM batches WHERE 1 = 0"))
    engine = app.state.engine
    held = 3
    async with engine.connect() as a, engine.connect() as b, engine.connect() as c:
        for conn in (a, b, c):
            await conn.execute(text("SELECT 1"))
        during = await scrape(app)
    after = await scrape(app)
    async with asyncio.timeout(10):  # background work (leases) borrows a connection briefly
        while value(after, "holon_db_pool_connections_in_use") >= held:
            await asyncio.sleep(0.05)
            after = await scrape(app)

    counts = {
        kind: value(after, "holon_db_query_duration_seconds_count", statement=kind)
        - value(before, "holon_db_query_duration_seconds_count", statement=kind)
        for kind in ("select", "insert", "update", "delete")
    }
    assert counts["select"] >= 1 + held
    assert counts["insert"] >= 1
    assert counts["update"] >= 1
    assert counts["delete"] >= 1
    kinds = {dict(labels).get("statement") for name, labels in after if "db_query" in name}
    assert kinds == {"select", "insert", "update", "delete", "other"}
    assert value(during, "holon_db_pool_connections_in_use") >= held
    assert value(during, "holon_db_pool_size") == engine.sync_engine.pool.size() > 0


async def test_without_the_metrics_feature_requests_pass_unmetered(
    db_url: str, tmp_path: Path
) -> None:
    app = create_app(Settings(database_url=db_url, data_dir=tmp_path, migrate_on_start=False))
    assert all(m.cls is not MeteredHttp for m in app.user_middleware)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://holon.test") as http:
            assert (await http.get("/healthz")).status_code == 200
        assert app.state.metrics is None
