"""Engine set-up: SQLite pragmas and UTC datetimes on both back-ends."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mes_runtime.db.engine import create_engine, sqlite_path, sync_url
from mes_runtime.db.models import User


async def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'new' / 'x.db'}")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await engine.dispose()
    assert (tmp_path / "new" / "x.db").exists()


def test_unsupported_driver_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        create_engine("mysql+aiomysql://u@h/db")


def test_urls() -> None:
    assert sync_url("sqlite+aiosqlite:////a/b.db") == "sqlite:////a/b.db"
    assert sync_url("postgresql+psycopg://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert sqlite_path("sqlite+aiosqlite:////a/b.db") == Path("/a/b.db")
    assert sqlite_path("postgresql+psycopg://u@h/db") is None


async def test_datetimes_come_back_utc_aware(
    engine: AsyncEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    cest = timezone(timedelta(hours=2))
    moment = datetime(2026, 6, 1, 14, 30, 0, 123456, tzinfo=cest)
    async with session_factory() as session, session.begin():
        session.add(User(username="u1", password_hash="x", roles=["qa"], created_at=moment))
    async with session_factory() as session:
        user = (await session.execute(text("SELECT id FROM users"))).scalar_one()
        stored = await session.get(User, user)
    assert stored is not None
    assert stored.created_at == moment
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.created_at.tzinfo is not None
    assert stored.roles == ["qa"]


async def test_naive_datetimes_are_refused(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with session_factory() as session, session.begin():
            session.add(
                User(
                    username="u2",
                    password_hash="x",
                    roles=["qa"],
                    created_at=datetime(2026, 1, 1),
                )
            )
