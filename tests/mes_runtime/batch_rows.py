"""A stored batch row for recorder tests: the minimum a ``batches`` row needs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mes_runtime.db.models import Batch


async def add_batch(factory: async_sessionmaker[AsyncSession], batch_id: str = "B-1") -> None:
    async with factory() as session, session.begin():
        session.add(
            Batch(
                id=batch_id,
                recipe_name="mab-fedbatch-demo",
                recipe_version=1,
                control_recipe={"procedure": {"id": "p"}},
                bindings={"BR": "BR-101"},
                state="idle",
                created_by="op",
                created_at=datetime.now(UTC),
            )
        )
