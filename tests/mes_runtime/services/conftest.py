"""Two independent PostgreSQL servers that can publish and subscribe (``wal_level=logical``):
blue, the module's current server, and green, the target of a database move (issue #10).

Each is a real server of its own (data directory, port), started once per session when a
test asks for it; each test gets fresh databases (blue's migrated from a template, green's
empty or migrated, as the test asks).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

from holon_testing.postgres import LOGICAL_REPLICATION, PgServer, throwaway_postgres


def _logical_server() -> Iterator[PgServer]:
    with throwaway_postgres(max_connections=50, settings=LOGICAL_REPLICATION) as server:
        if isinstance(server, str):
            if os.environ.get("CI"):  # CI installs PostgreSQL: never pass by skipping there
                pytest.fail(f"{server}: CI must run the PostgreSQL tests")
            pytest.skip(f"{server}: PostgreSQL binaries are missing; CI installs them")
        yield server


@pytest.fixture(scope="session")
def blue_pg() -> Iterator[PgServer]:
    """The module's current server, ready to publish."""
    yield from _logical_server()


@pytest.fixture(scope="session")
def green_pg() -> Iterator[PgServer]:
    """A second, independent server: the target of a move."""
    yield from _logical_server()


def _migrated_template(server: PgServer) -> str:
    from mes_runtime.db.migrate import upgrade

    name = "holon_template"
    server.admin(f"CREATE DATABASE {name}")
    upgrade(server.url(name))
    return name


@pytest.fixture(scope="session")
def blue_template(blue_pg: PgServer) -> str:
    return _migrated_template(blue_pg)


@pytest.fixture(scope="session")
def green_template(green_pg: PgServer) -> str:
    return _migrated_template(green_pg)


@contextlib.contextmanager
def fresh_database(server: PgServer, template: str | None = None) -> Iterator[str]:
    """A new database on ``server`` (a copy of ``template``, or empty); its URL."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    server.admin(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    try:
        yield server.url(name)
    finally:
        with contextlib.suppress(Exception):
            server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def blue_url(blue_pg: PgServer, blue_template: str) -> Iterator[str]:
    """A migrated database on blue (the module's)."""
    with fresh_database(blue_pg, blue_template) as url:
        yield url


@pytest.fixture
def green_empty_url(green_pg: PgServer) -> Iterator[str]:
    """An empty database on green (the migrations have not run)."""
    with fresh_database(green_pg) as url:
        yield url


@pytest.fixture
def green_migrated_url(green_pg: PgServer, green_template: str) -> Iterator[str]:
    """A database on green at the schema heads, without rows."""
    with fresh_database(green_pg, green_template) as url:
        yield url
