"""Async engine creation for the two supported back-ends.

SQLite (aiosqlite) is the embedded default: WAL mode so that readers (the API) never block the
writer (the engine and the journal), foreign keys on (SQLite has them off by default), and a
busy timeout instead of instant "database is locked" errors. PostgreSQL uses psycopg 3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

__all__ = ["create_engine", "ensure_sqlite_dir", "session_factory", "sqlite_path", "sync_url"]


def create_engine(
    url: str, *, sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL", echo: bool = False
) -> AsyncEngine:
    """An :class:`AsyncEngine` for ``sqlite+aiosqlite://`` or ``postgresql+psycopg://``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        ensure_sqlite_dir(url)
        engine = _create_async_engine(url, echo=echo)
        synchronous = sqlite_synchronous

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

        return engine
    if parsed.drivername != "postgresql+psycopg":
        raise ValueError(f"unsupported database driver {parsed.drivername!r}")
    return _create_async_engine(url, echo=echo, pool_pre_ping=True)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other back-ends and in-memory databases)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def ensure_sqlite_dir(url: str) -> None:
    """Create the directory of a SQLite database file (a fresh data_dir just works)."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (no lazy I/O surprises)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def sync_url(url: str) -> str:
    """The same database with a synchronous driver (alembic runs synchronously)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    return url  # psycopg 3 is both sync and async under the same driver name
