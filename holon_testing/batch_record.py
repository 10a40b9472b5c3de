"""A finished batch written straight into a runtime database, as the engine and the recorder
would have written it: the batch row with its control recipe, the journal (creation, start,
element states of each phase, an operator's hold and restart, equipment commands as filler
up to the number of entries asked for, the end), process values through the recorder and
one major limit excursion, raised and left open for review.

Used by the report tests and by ``bench/report.py`` (10,000 entries, a million values).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from mes_runtime.db.models import Batch
from mes_runtime.domain.exceptions import Category
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.recorder import SqlBatchRecorder
from mes_runtime.kernel.events import ProcessSample, Severity
from mes_runtime.services.review import ExceptionReview, NewException

__all__ = ["PHASES", "TAGS", "SynthBatch", "write_finished_batch"]

PHASES = (
    "procedure/BR-UP/fill/fill-media",
    "procedure/BR-UP/cultivation/run-fedbatch",
    "procedure/BR-UP/harvest/harvest",
    "procedure/CAP-UP/capture/load",
)
#: (equipment, name, unit, centre, amplitude)
TAGS = (
    ("BR-101", "Temperature", "degC", 36.5, 0.3),
    ("BR-101", "pH", "pH", 7.0, 0.05),
    ("BR-101", "DO", "%", 40.0, 5.0),
    ("CH-301", "UV280", "mAU", 120.0, 80.0),
)


@dataclass(frozen=True, slots=True)
class SynthBatch:
    batch_id: str
    journal_entries: int
    process_values: int
    open_exception: int
    started_at: datetime
    ended_at: datetime


async def write_finished_batch(
    engine: AsyncEngine,
    journal: Journal,
    *,
    batch_id: str = "B-REPORT",
    entries: int = 200,
    values: int = 4_000,
    operator: str = "op-1",
    hours: float = 12.0,
) -> SynthBatch:
    """Write the batch (ended ``complete``, not reviewed yet); ``entries`` is the number of
    journal entries of the batch (at least about 20), ``values`` the process values."""
    recorder = SqlBatchRecorder(engine, journal)
    start = datetime.now(UTC) - timedelta(hours=hours)
    end = start + timedelta(hours=hours)
    async with engine.begin() as conn:
        await conn.execute(
            insert(Batch.__table__),  # type: ignore[arg-type]
            {
                "id": batch_id,
                "recipe_name": "mab-fedbatch-demo",
                "recipe_version": 1,
                "control_recipe": {
                    "batch_id": batch_id,
                    "recipe_name": "mab-fedbatch-demo",
                    "recipe_version": 1,
                    "product": "mAb-1 drug substance",
                    "master_digest": "sha256:" + "ab" * 32,
                    "formula": [
                        {
                            "name": "CultTemp",
                            "value": 36.5,
                            "unit": "degC",
                            "low": 35.5,
                            "high": 37.5,
                            "criticality": "critical",
                        },
                        {
                            "name": "Glucose",
                            "value": 4.0,
                            "unit": "g/L",
                            "low": 2.0,
                            "high": 6.0,
                            "criticality": "major",
                        },
                    ],
                    "overrides": [],
                    "bindings": [
                        {"unit": "BR", "equipment": "BR-101"},
                        {"unit": "CAP", "equipment": "CH-301"},
                    ],
                    "procedure": {"id": "procedure"},
                },
                "bindings": {"BR": "BR-101", "CAP": "CH-301"},
                "state": "running",
                "created_by": operator,
                "created_at": start - timedelta(minutes=5),
                "started_at": start,
                "ended_at": None,
            },
        )

    async def entry(
        actor: str,
        action: str,
        subject: str,
        *,
        old_value: object = None,
        new_value: object = None,
        reason: str | None = None,
    ) -> None:
        await journal.append(
            batch_id=batch_id,
            actor=actor,
            action=action,
            subject=subject,
            old_value=old_value,
            new_value=new_value,
            reason=reason,
        )

    await entry(operator, "batch.create", f"batch:{batch_id}", new_value={"recipe": 1})
    await entry(operator, "batch.start", "procedure", reason="shift A start")
    written = 2
    for phase in PHASES:
        for old, new in (("idle", "running"), ("running", "complete")):
            await entry("system", "element.state", phase, old_value=old, new_value=new)
            written += 1
    hold = PHASES[1]
    await entry(operator, "command.hold", hold, old_value="running", reason="foam check")
    await entry(operator, "command.restart", hold, old_value="held", reason="foam cleared")
    written += 2
    review = ExceptionReview(engine=engine, journal=journal)
    open_id = await review.raise_exception(
        NewException(
            batch_id=batch_id,
            category=Category.LIMIT_EXCURSION,
            severity=Severity.MAJOR,
            subject=f"{hold}:BR-101.Temperature",
            message="BR-101.Temperature = 38.4 degC is outside [35.5, 37.5] degC",
            trigger={"equipment": "BR-101", "name": "Temperature", "low": 35.5, "high": 37.5},
        )
    )
    written += 1
    filler = max(entries - written - 1, 0)
    chunk = 500
    for first in range(0, filler, chunk):
        await asyncio.gather(
            *(
                entry(
                    "system",
                    "equipment.command",
                    PHASES[i % len(PHASES)],
                    new_value={"command": "Start", "n": i},
                )
                for i in range(first, min(first + chunk, filler))
            )
        )
    per_tag = max(values // len(TAGS), 1)
    step = timedelta(hours=hours) / per_tag
    batch_rows = 10_000
    for equipment, name, unit, centre, amplitude in TAGS:
        for first in range(0, per_tag, batch_rows):
            samples = [
                ProcessSample(
                    equipment=equipment,
                    name=name,
                    value=centre + amplitude * math.sin(i / 500.0) + (i % 7) * amplitude / 50,
                    unit=unit,
                    timestamp=start + step * i,
                )
                for i in range(first, min(first + batch_rows, per_tag))
            ]
            await recorder.process_values(batch_id=batch_id, samples=samples)
    await recorder.batch_state(batch_id=batch_id, state="complete")
    await entry("system", "batch.end", "procedure", new_value="complete")
    return SynthBatch(
        batch_id=batch_id,
        journal_entries=written + filler + 1,
        process_values=per_tag * len(TAGS),
        open_exception=open_id,
        started_at=start,
        ended_at=end,
    )
