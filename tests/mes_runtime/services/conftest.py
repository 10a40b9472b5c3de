"""Two independent PostgreSQL servers that can publish and subscribe (``wal_level=logical``):
blue, the module's current server, and green, the target of a database move (issue #10).

Each is a real server of its own (data directory, port), started once per session when a
test asks for it; each test gets fresh databases (blue's migrated from a template, green's
empty or migrated, as the test asks).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from holon_testing.postgres import LOGICAL_REPLICATION, PgServer
from tests.conftest import fresh_database, migrated_template, postgres_or_skip


def _logical_server() -> Iterator[PgServer]:
    yield from postgres_or_skip(max_connections=50, settings=LOGICAL_REPLICATION)


@pytest.fixture(scope="session")
def blue_pg() -> Iterator[PgServer]:
    """The module's current server, ready to publish."""
    yield from _logical_server()


@pytest.fixture(scope="session")
def green_pg() -> Iterator[PgServer]:
    """A second, independent server: the target of a move."""
    yield from _logical_server()


@pytest.fixture(scope="session")
def blue_template(blue_pg: PgServer) -> str:
    return migrated_template(blue_pg)


@pytest.fixture(scope="session")
def green_template(green_pg: PgServer) -> str:
    return migrated_template(green_pg)


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
