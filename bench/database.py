"""Fresh, migrated databases for the benchmarks, and the batch row process values need."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from mes_runtime.db.engine import session_factory
from mes_runtime.db.migrate import upgrade
from mes_runtime.db.models import Batch
from mes_runtime.kernel.clock import utcnow

__all__ = ["add_batch", "migrate", "sqlite_url"]


def sqlite_url(directory: Path, name: str = "bench.db") -> str:
    return f"sqlite+aiosqlite:///{directory / name}"


async def migrate(url: str) -> None:
    """Upgrade to every head (alembic is synchronous: run it off the event loop)."""
    await asyncio.to_thread(upgrade, url)


async def add_batch(engine: AsyncEngine, batch_id: str) -> None:
    """The batch row that stored process values refer to (foreign key)."""
    async with session_factory(engine)() as session, session.begin():
        session.add(
            Batch(
                id=batch_id,
                recipe_name="bench",
                recipe_version=1,
                control_recipe={},
                bindings={},
                state="running",
                created_by="bench",
                created_at=utcnow(),
            )
        )
