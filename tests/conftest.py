"""Shared fixtures: real databases (SQLite files and a real PostgreSQL server), the journal,
the recorder, and an API client with users of each role.

PostgreSQL: one server per test session, ``initdb`` into a temporary directory and started on
a free loopback port (as the ``postgres`` OS user when the session runs as root). Each test
gets a fresh database cloned from a migrated template (``CREATE DATABASE ... TEMPLATE``), so a
test costs milliseconds, not a migration. Without PostgreSQL binaries the ``postgres`` tests
are skipped with the reason, except under CI (which installs them), where they fail.

``db_url`` is parametrised over ``sqlite`` and ``postgres`` (marker ``postgres``): a test that
takes it (or anything built on it) runs on both back-ends.

Heavy imports happen inside fixtures so that this file never breaks unrelated test packages.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from holon_testing.hang_report import HangReport
from holon_testing.postgres import PgServer, throwaway_postgres

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from mes_runtime.ebr.journal import Journal
    from mes_runtime.ebr.recorder import SqlBatchRecorder
    from mes_runtime.settings import Settings


# --------------------------------------------------------------------------- PostgreSQL


def postgres_or_skip(**options: Any) -> Iterator[PgServer]:
    """A throw-away PostgreSQL server (``throwaway_postgres``'s options), for a session
    fixture to yield from: skipped where the binaries are missing, never in CI."""
    with throwaway_postgres(**options) as server:
        if isinstance(server, str):
            if os.environ.get("CI"):  # CI installs PostgreSQL: never pass by skipping there
                pytest.fail(f"{server}: CI must run the PostgreSQL tests")
            pytest.skip(f"{server}: PostgreSQL binaries are missing; CI installs them")
        yield server


def migrated_template(server: PgServer) -> str:
    """Name of a database on ``server`` migrated to heads, the template of test databases."""
    from mes_runtime.db.migrate import upgrade

    name = "holon_template"
    server.admin(f"CREATE DATABASE {name}")
    upgrade(server.url(name))
    return name


@contextlib.contextmanager
def fresh_database(
    server: PgServer, template: str | None = None, *, prefix: str = "t"
) -> Iterator[str]:
    """A new database on ``server`` (a copy of ``template``, or empty), dropped after; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    server.admin(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    try:
        yield server.url(name)
    finally:
        with contextlib.suppress(Exception):
            server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL for the session (initdb + pg_ctl on a free loopback port)."""
    yield from postgres_or_skip(max_connections=200)


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer) -> str:
    """Name of a database migrated to heads, used as the template of every test database."""
    return migrated_template(pg_server)


# --------------------------------------------------------------------------- SQLite


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to heads once; each test copies it."""
    from mes_runtime.db.migrate import upgrade

    path = tmp_path_factory.mktemp("sqlite-template") / "runtime.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


# --------------------------------------------------------------------------- per test


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, migrated database: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "runtime.db"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    yield from _pg_database(
        request.getfixturevalue("pg_server"), request.getfixturevalue("pg_template")
    )


@pytest.fixture
def pg_url(pg_server: PgServer, pg_template: str) -> Iterator[str]:
    """URL of a fresh, migrated PostgreSQL database (multi-replica tests: PG only)."""
    yield from _pg_database(pg_server, pg_template)


def _pg_database(server: PgServer, template_name: str) -> Iterator[str]:
    with fresh_database(server, template_name) as url:
        yield url


@pytest.fixture
def empty_db_url(tmp_path: Path) -> str:
    """URL of an empty (never migrated) SQLite database; see ``empty_pg_url`` for PG."""
    return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture
def empty_pg_url(pg_server: PgServer) -> Iterator[str]:
    with fresh_database(pg_server, prefix="e") as url:
        yield url


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    from mes_runtime.db.engine import create_engine

    eng = create_engine(db_url)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    from mes_runtime.db.engine import session_factory as make

    return make(engine)


@pytest.fixture
async def journal(engine: AsyncEngine) -> AsyncIterator[Journal]:
    from mes_runtime.ebr.journal import Journal

    writer = Journal(engine)
    await writer.start()
    try:
        yield writer
    finally:
        await writer.close()


@pytest.fixture
def recorder(engine: AsyncEngine, journal: Journal) -> SqlBatchRecorder:
    from mes_runtime.ebr.recorder import SqlBatchRecorder

    return SqlBatchRecorder(engine, journal)


# --------------------------------------------------------------------------- API


@pytest.fixture(scope="session")
def fast_password_hashing() -> Iterator[None]:
    """argon2 with its cheapest parameters: production cost (~50 ms a hash, by design) would
    make each login-heavy test file take tens of seconds. Still real argon2id hashing."""
    from argon2 import PasswordHasher

    from mes_runtime.auth import passwords

    original = passwords._HASHER
    passwords._HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    try:
        yield
    finally:
        passwords._HASHER = original


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    from holon_testing.features import EVERY_FEATURE
    from mes_runtime.settings import Settings

    return Settings(
        database_url=db_url, data_dir=tmp_path / "data", migrate_on_start=False, **EVERY_FEATURE
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The real application with its lifespan running (engine, journal on app.state)."""
    from mes_runtime.api.app import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@dataclass(frozen=True)
class ApiUser:
    username: str
    password: str
    roles: tuple[str, ...]
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


MakeUser = Callable[..., Awaitable[ApiUser]]


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client speaking ASGI to the app (real request handling, no socket)."""
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://holon.test") as http:
        yield http


@pytest.fixture
def make_user(app: FastAPI, client: httpx.AsyncClient, fast_password_hashing: None) -> MakeUser:
    """``await make_user("operator")`` -> a stored user with those roles and a login token."""
    import secrets

    from mes_runtime.auth.users import create_user

    async def _make(*roles: str, username: str | None = None) -> ApiUser:
        name = username or f"{'-'.join(roles) or 'user'}-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(16)
        factory: Any = app.state.session_factory
        async with factory() as session, session.begin():
            await create_user(session, username=name, password=password, roles=list(roles))
        response = await client.post(
            "/api/v1/auth/token", json={"username": name, "password": password}
        )
        assert response.status_code == 200, response.text
        return ApiUser(name, password, tuple(roles), response.json()["access_token"])

    return _make


@pytest.fixture
async def admin(make_user: MakeUser) -> ApiUser:
    return await make_user("admin")


@pytest.fixture
async def app_client(client: httpx.AsyncClient, admin: ApiUser) -> httpx.AsyncClient:
    """The API client with an admin bearer token already set."""
    client.headers.update(admin.headers)
    return client


def pytest_configure(config: pytest.Config) -> None:
    """A test that hangs reports which ``await`` it hung in (see ``hang_report``)."""
    config.pluginmanager.register(HangReport(), "holon-hang-report")
