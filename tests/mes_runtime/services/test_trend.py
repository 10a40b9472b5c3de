"""Out-of-trend exceptions from recorded values, on real databases: raised with their
evidence, once, however often the batch is scanned."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mes_runtime.db.models import ProcessValue
from mes_runtime.domain.exceptions import Category, RunRule, TrendSpec
from mes_runtime.ebr.journal import Journal
from mes_runtime.kernel.clock import utcnow
from mes_runtime.services.review import ExceptionReview
from mes_runtime.services.trend import TrendWatch
from tests.mes_runtime.batch_rows import add_batch

SPEC = TrendSpec(
    parameter="BR.pH", unit="pH", center=7.0, sigma=0.02, rules=frozenset({RunRule.SAME_SIDE_9})
)
# Ten in-control values around 7.0, then nine in a row above it: a shift inside the limits.
IN_CONTROL = [7.01, 6.99, 7.005, 6.985, 7.0, 7.012, 6.99, 7.003, 6.996, 7.0]
SHIFTED = [7.01, 7.02, 7.015, 7.03, 7.01, 7.025, 7.02, 7.03, 7.018]
VALUES = [*IN_CONTROL, *SHIFTED]


async def test_a_shift_is_raised_once_with_its_evidence(
    engine: AsyncEngine, journal: Journal, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await add_batch(session_factory)
    start = utcnow()
    async with session_factory() as session, session.begin():
        session.add_all(
            ProcessValue(
                batch_id="B-1",
                equipment="BR-101",
                name=name,
                value=v,
                unit="pH",
                ts=start + timedelta(minutes=i),
            )
            for i, v in enumerate(VALUES)
            for name in ("pH", "Temperature")  # Temperature is not watched
        )
    watch = TrendWatch(engine=engine, journal=journal, specs={("BR-101", "pH"): SPEC})

    (raised,) = await watch.scan("B-1")
    again = await watch.scan("B-1")

    assert again == []
    x = await ExceptionReview(engine=engine, journal=journal).get(raised)
    assert (x.category, x.subject, x.severity.value) == (
        Category.OUT_OF_TREND,
        "BR-101.pH",
        "minor",
    )
    assert x.trigger is not None
    assert x.trigger["rule"] == "nelson-2"
    assert x.trigger["values"] == SHIFTED
    assert x.trigger["window_end"] == (start + timedelta(minutes=18)).isoformat()
    assert len(x.journal) == 1
