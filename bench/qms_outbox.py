"""Benchmark: QMS hand-off, outbox delivery throughput on SQLite.

Exceptions raised with their outbox events (``ExceptionReview`` with a ``QmsOutbox``), then
one relay delivers them to a real HTTP receiver on loopback (``holon_testing``'s, which
verifies every HMAC signature and de-duplicates on the event id). Reported: events/s from
the first claim until every event is recorded delivered; baseline: the same number of
signed POSTs of the same bodies straight to the receiver, without the outbox (the cost of
the outbox is the ratio). No goal: exceptions are rare (a few per batch).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bench.database import add_batch, migrate, sqlite_url
from bench.progress import Progress
from bench.results import Row, median
from holon_testing.qms_receiver import receiving
from mes_runtime.db.engine import create_engine
from mes_runtime.db.models import QmsEvent
from mes_runtime.domain.exceptions import Category
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.outbox import QmsOutbox, QmsPolicy
from mes_runtime.kernel.events import Severity
from mes_runtime.services.qms import SIGNATURE_HEADER, QmsRelay, WebhookTarget, sign
from mes_runtime.services.review import ExceptionReview, NewException

__all__ = ["NAME", "run"]

NAME = "qms-outbox"
SECRET = b"bench-qms-hmac-key-5e0c"


@dataclass(frozen=True, slots=True)
class Size:
    events: int
    repeats: int


FULL = Size(events=1_000, repeats=3)
QUICK = Size(events=30, repeats=1)


async def _one(url: str, events: int, say: Progress) -> tuple[float, float, int]:
    """Delivered events/s through the outbox, direct POSTs/s, events processed."""
    engine = create_engine(url)
    journal = Journal(engine)
    outbox = QmsOutbox(engine, QmsPolicy(source="urn:holon:bench"))
    review = ExceptionReview(engine=engine, journal=journal, outbox=outbox)
    try:
        await add_batch(engine, "B-1")
        for n in range(events):
            await review.raise_exception(
                NewException(
                    batch_id="B-1",
                    category=Category.LIMIT_EXCURSION,
                    severity=Severity.MAJOR,
                    subject=f"p:BR-101.T{n}",
                    message=f"excursion {n}",
                )
            )
        async with engine.connect() as conn:
            bodies = [b for (b,) in await conn.execute(select(QmsEvent.body))]
        with receiving(SECRET) as qms:
            relay = QmsRelay(
                outbox=outbox, target=WebhookTarget(url=qms.url, secret=SECRET), owner="bench"
            )
            started = time.perf_counter()
            task = asyncio.create_task(relay.run())
            while True:
                async with engine.connect() as conn:
                    pending = await conn.scalar(
                        select(func.count()).where(QmsEvent.status == "pending")
                    )
                if not pending:
                    break
                await asyncio.sleep(0.02)
            via_outbox = events / (time.perf_counter() - started)
            relay.stop()
            await task
            processed = len(qms.processed)
            async with httpx.AsyncClient() as http:
                started = time.perf_counter()
                for body in bodies:
                    data = body.encode()
                    headers = {SIGNATURE_HEADER: sign(SECRET, int(time.time()), data)}
                    (await http.post(qms.url, content=data, headers=headers)).raise_for_status()
                direct = events / (time.perf_counter() - started)
        say(f"{via_outbox:,.0f} events/s via the outbox, {direct:,.0f} POSTs/s direct")
        return via_outbox, direct, processed
    finally:
        await journal.close()
        await engine.dispose()


async def run(*, quick: bool = False, progress: Progress | None = None) -> list[Row]:
    size = QUICK if quick else FULL
    say = progress or Progress(NAME, enabled=False)
    rates: list[float] = []
    direct: list[float] = []
    processed = 0
    with tempfile.TemporaryDirectory(prefix="holon-bench-qms-") as tmp:
        for repeat in range(size.repeats):
            url = sqlite_url(Path(tmp), f"qms-{repeat}.db")
            await migrate(url)
            rate, baseline, processed = await _one(url, size.events, say)
            rates.append(rate)
            direct.append(baseline)
    return [
        Row(
            NAME,
            f"QMS events delivered through the outbox, SQLite, {size.events:,} events",
            median(rates),
            "events/s",
            baseline=median(direct),
            baseline_label="signed POSTs straight to the receiver",
            counts={"events": size.events, "processed": processed, "runs": size.repeats},
        )
    ]
