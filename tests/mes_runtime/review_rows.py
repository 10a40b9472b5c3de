"""Review test data: the issue's example closure rule, a recovered temperature excursion
in batch ``B-1`` as the record shows it (the exception, the values outside the limit, the
journal's ``limit.recovered`` entry), and QA's signature manifestation as the services
receive it (the API tests sign for real, through the accounts service)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mes_runtime.auth.signatures import Signature, SignatureMeaning, record_digest
from mes_runtime.db.models import ProcessValue
from mes_runtime.domain.exceptions import Category, ClosureCriteria, ClosureRule
from mes_runtime.ebr.journal import Journal
from mes_runtime.kernel.clock import utcnow
from mes_runtime.kernel.events import Severity
from mes_runtime.services.review import ExceptionReview, NewException

#: "A minor temperature excursion shorter than 60 s within 0.5 degC of the limit, with
#: recovery and no other exception on the unit, closes automatically" (issue #14).
MINOR_TEMPERATURE = ClosureRule(
    rule_id="minor-temperature",
    version=1,
    description="minor temperature excursion < 60 s within 0.5 degC, recovered, alone",
    criteria=ClosureCriteria(
        category=Category.LIMIT_EXCURSION,
        parameter="Temperature",
        max_duration_s=60,
        max_distance=0.5,
    ),
)


def qa_signed(
    username: str = "qa-1",
    meaning: SignatureMeaning = SignatureMeaning.APPROVED,
    *,
    record: str = "batch:B-1",
) -> Signature:
    """A signature by ``username`` meaning ``meaning`` over ``record``, signed now."""
    return Signature(
        username=username,
        printed_name=f"{username} (QA)",
        meaning=meaning,
        signed_at=utcnow(),
        record=record,
        record_digest=record_digest({"record": record}),
    )


async def add_excursion(
    engine: AsyncEngine,
    journal: Journal,
    sessions: async_sessionmaker[AsyncSession],
    *,
    severity: Severity,
    equipment: str = "BR-101",
    values: Sequence[float] = (37.6, 37.8, 37.7),
    with_trigger: bool = True,
) -> int:
    """Raise it (with its trigger data, or only the engine's message) and recover it."""
    subject = f"procedure/BR-UP/cultivation/run-fedbatch:{equipment}.Temperature"
    trigger = {"equipment": equipment, "name": "Temperature", "low": 35.5, "high": 37.5}
    exception_id = await ExceptionReview(engine=engine, journal=journal).raise_exception(
        NewException(
            batch_id="B-1",
            category=Category.LIMIT_EXCURSION,
            severity=severity,
            subject=subject,
            message=f"{equipment}.Temperature = {values[0]} degC is outside [35.5, 37.5] degC",
            trigger=trigger if with_trigger else None,
        )
    )
    async with sessions() as session, session.begin():
        now = utcnow()
        session.add_all(
            ProcessValue(
                batch_id="B-1",
                equipment=equipment,
                name="Temperature",
                value=v,
                unit="degC",
                ts=now - timedelta(milliseconds=len(values) - i),  # before the recovery
            )
            for i, v in enumerate(values)
        )
    await journal.append(
        batch_id="B-1",
        actor="system",
        action="limit.recovered",
        subject=subject,
        reason="back within [35.5, 37.5] degC",
    )
    return exception_id
