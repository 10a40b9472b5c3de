"""Out-of-trend exceptions from a batch's recorded process values.

Feeds each watched parameter's values, in time order, through its :class:`TrendDetector`
and raises an ``out_of_trend`` exception per finding, with the evidence (rule, reference,
window, values) as its trigger data. The detector is deterministic, so a scan can be
repeated (after a restart, by another replica) from the start of the batch: a finding that
is already recorded (same parameter, rule and window end) is not raised again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mes_runtime.db.models import ProcessValue
from mes_runtime.domain.exceptions import (
    Category,
    TrendDetector,
    TrendFinding,
    TrendPoint,
    TrendSpec,
)
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.outbox import QmsOutbox
from mes_runtime.services.review import ExceptionReview, NewException

__all__ = ["TrendWatch"]

_VALUES = cast(Table, ProcessValue.__table__)


class TrendWatch:
    """Out-of-trend rules for process values, keyed by ``(equipment, name)``."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        journal: Journal,
        specs: Mapping[tuple[str, str], TrendSpec],
        outbox: QmsOutbox | None = None,
    ) -> None:
        self._engine = engine
        self._review = ExceptionReview(engine=engine, journal=journal, outbox=outbox)
        self._specs = dict(specs)

    async def scan(self, batch_id: str) -> list[int]:
        """Raise the batch's out-of-trend exceptions not raised yet; their ids."""
        known = {
            _key(x.subject, x.trigger)
            for x in await self._review.list(batch_id=batch_id)
            if x.category is Category.OUT_OF_TREND
        }
        raised: list[int] = []
        for (equipment, name), spec in sorted(self._specs.items()):
            async with self._engine.connect() as conn:
                rows = await conn.execute(
                    select(_VALUES.c.ts, _VALUES.c.value)
                    .where(
                        _VALUES.c.batch_id == batch_id,
                        _VALUES.c.equipment == equipment,
                        _VALUES.c.name == name,
                    )
                    .order_by(_VALUES.c.ts, _VALUES.c.id)
                )
                points = [TrendPoint(ts, value) for ts, value in rows]
            detector = TrendDetector(spec)
            subject = f"{equipment}.{name}"
            for point in points:
                for finding in detector.add(point):
                    trigger = {"equipment": equipment, "name": name, **finding.evidence(spec)}
                    if _key(subject, trigger) in known:
                        continue
                    raised.append(await self._raise(batch_id, subject, finding, trigger))
        return raised

    async def _raise(
        self, batch_id: str, subject: str, finding: TrendFinding, trigger: dict[str, object]
    ) -> int:
        return await self._review.raise_exception(
            NewException(
                batch_id=batch_id,
                category=Category.OUT_OF_TREND,
                severity=finding.severity,
                subject=subject,
                message=finding.message,
                trigger=trigger,
            )
        )


def _key(subject: str, trigger: Mapping[str, object] | None) -> tuple[str, object, object]:
    trigger = trigger or {}
    return subject, trigger.get("rule"), trigger.get("window_end")
