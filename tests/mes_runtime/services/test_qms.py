"""QMS hand-off: exception events written with the exception, in its transaction, and
delivered to a real HTTP receiver (signed, retried with back-off, each processed once),
with their delivery state in the API. The kill of a runtime mid-delivery is in
``tests/mes_runtime/test_qms_handoff.py``."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from holon_testing.features import EVERY_FEATURE
from holon_testing.qms_receiver import QmsReceiver, make_plant_ca, receiving
from mes_runtime.db.engine import create_engine
from mes_runtime.db.models import BatchException, QmsEvent
from mes_runtime.domain.exceptions import Category
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.outbox import QmsOutbox, QmsPolicy
from mes_runtime.ebr.recorder import SqlBatchRecorder
from mes_runtime.kernel.events import Severity
from mes_runtime.services.qms import QmsRelay, WebhookTarget
from mes_runtime.services.review import ExceptionReview, NewException
from mes_runtime.settings import Settings
from tests.conftest import MakeUser
from tests.mes_runtime.batch_rows import add_batch
from tests.mes_runtime.review_rows import qa_signed

SECRET = "qms-hmac-key-7f3a9c2e5b1d"
POLICY = QmsPolicy(source="urn:holon:test", severities=frozenset({"critical", "major"}))


async def _wait(predicate: object, what: str) -> None:
    async with asyncio.timeout(30):  # a wait for ``what``, not a timing assertion
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.05)


async def _events(engine: AsyncEngine) -> list[QmsEvent]:
    factory = async_sessionmaker(engine)
    async with factory() as session:
        return list((await session.execute(select(QmsEvent).order_by(QmsEvent.id))).scalars())


async def test_an_exception_and_its_event_commit_together(
    engine: AsyncEngine, journal: Journal, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await add_batch(session_factory)
    outbox = QmsOutbox(engine, POLICY)
    recorder = SqlBatchRecorder(engine, journal, outbox=outbox)
    await recorder.exception(
        batch_id="B-1",
        category=Category.EQUIPMENT_LOSS,
        severity=Severity.MAJOR,
        subject="procedure/BR-UP",
        message="BR-101: connection lost",
    )
    await recorder.exception(  # minor: not selected by the policy
        batch_id="B-1",
        category=Category.OTHER,
        severity=Severity.MINOR,
        subject="BR-101/DO",
        message="DO low",
    )
    with pytest.raises(Exception, match=r"(?i)foreign key"):  # no batch: nothing is written
        await recorder.exception(
            batch_id="nope",
            category=Category.OTHER,
            severity=Severity.CRITICAL,
            subject="s",
            message="m",
        )
    review = ExceptionReview(engine=engine, journal=journal, outbox=outbox)
    raised = await review.raise_exception(
        NewException(
            batch_id="B-1",
            category=Category.OUT_OF_TREND,
            severity=Severity.MAJOR,
            subject="BR-101.pH",
            message="BR-101.pH out of trend",
            trigger={"rule": "nelson-1"},
        )
    )
    await review.close(raised, signature=qa_signed(), comment="probe drift; product unaffected")
    events = await _events(engine)
    assert [(e.type, e.status, e.attempts) for e in events] == [
        ("dev.holon.exception.raised", "pending", 0),
        ("dev.holon.exception.raised", "pending", 0),
        ("dev.holon.exception.closed", "pending", 0),
    ]
    first = json.loads(events[0].body)
    assert first["specversion"] == "1.0"
    assert first["id"] == events[0].event_id
    assert first["source"] == "urn:holon:test"
    assert first["data"]["category"] == "equipment_loss"
    assert first["subject"] == f"batches/B-1/exceptions/{first['data']['id']}"
    closed = json.loads(events[2].body)["data"]
    assert (closed["id"], closed["status"]) == (raised, "closed")
    assert closed["signature"]["meaning"] == "approved"
    assert closed["reason"] == "probe drift; product unaffected"
    async with session_factory() as session:
        count = await session.scalar(select(func.count()).select_from(BatchException))
    assert count == 3, "the refused exception left no row (and so no event)"


@pytest.fixture
def receiver() -> Iterator[QmsReceiver]:
    with receiving(SECRET.encode(), fail_first=3) as qms:
        yield qms


@pytest.fixture
def settings(db_url: str, tmp_path: Path, receiver: QmsReceiver) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        migrate_on_start=False,
        qms_url=receiver.url,
        qms_secret=SECRET,  # type: ignore[arg-type]
        qms_source="urn:holon:plant-1:batch-execution",
        qms_retry_initial_seconds=0.2,
        qms_retry_max_seconds=0.5,
        **EVERY_FEATURE,
    )


async def test_a_failing_receiver_gets_the_event_retried_and_processed_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    receiver: QmsReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await add_batch(app.state.session_factory, "B-9")
    await app.state.recorder.exception(
        batch_id="B-9",
        category=Category.LIMIT_EXCURSION,
        severity=Severity.CRITICAL,
        subject="p:BR-101.Temperature",
        message="BR-101.Temperature = 40 degC is outside [35.5, 37.5] degC",
        trigger={"equipment": "BR-101", "name": "Temperature", "value": 40.0},
    )
    await _wait(lambda: len(receiver.processed) == 1, "the event processed")
    operator = await make_user("operator")
    url = "/api/v1/qms/deliveries?batch_id=B-9"

    async def delivered() -> dict[str, object]:
        async with asyncio.timeout(30):
            while True:
                (row,) = (await client.get(url, headers=operator.headers)).json()
                if row["status"] == "delivered":
                    return dict(row)
                await asyncio.sleep(0.05)

    row = await delivered()
    assert row["attempts"] == 4, "three refusals, then accepted"
    assert row["next_attempt_at"] is None
    assert row["type"] == "dev.holon.exception.raised"
    (event_id,) = receiver.processed
    assert row["event_id"] == event_id
    assert receiver.times_received(event_id) == 4
    assert all(r.signed for r in receiver.received), "every request's signature verifies"
    assert {r.content_type for r in receiver.received} == {
        "application/cloudevents+json; charset=utf-8"
    }
    assert len({r.body for r in receiver.received}) == 1, "each retry sends the same bytes"
    event = receiver.processed[event_id]
    assert event["source"] == "urn:holon:plant-1:batch-execution"
    assert event["data"]["trigger"]["value"] == 40.0
    assert "HTTP 503" in caplog.text, "the refusals are logged"
    assert SECRET not in caplog.text
    assert SECRET not in repr(app.state.settings)
    nobody = await client.get(url)
    assert nobody.status_code == 401


async def test_a_pending_delivery_shows_its_last_error_and_next_attempt(
    engine: AsyncEngine, journal: Journal, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """A QMS that cannot be reached: the event stays pending, its error and next attempt
    recorded, the wait doubling up to its cap."""
    await add_batch(session_factory)
    outbox = QmsOutbox(engine, POLICY)
    await SqlBatchRecorder(engine, journal, outbox=outbox).exception(
        batch_id="B-1",
        category=Category.EQUIPMENT_LOSS,
        severity=Severity.MAJOR,
        subject="procedure/BR-UP",
        message="lost",
    )
    with receiving(SECRET.encode()) as gone:
        url = gone.url  # nothing listens there once it has stopped
    target = WebhookTarget(url=url, secret=SECRET.encode(), retry_initial_seconds=60)
    relay = QmsRelay(outbox=outbox, target=target, owner="r1")
    async with httpx.AsyncClient() as http:
        assert await relay.deliver_due(http) == 1
        assert await relay.deliver_due(http) == 0, "not due before its next attempt"
    (row,) = await _events(engine)
    assert (row.status, row.attempts, row.lease_token) == ("pending", 1, None)
    assert row.last_error is not None
    assert "ConnectError" in row.last_error
    assert row.next_attempt_at > row.created_at + timedelta(seconds=59)
    assert [target.backoff(n) for n in (1, 2, 3, 4, 10, 20)] == [
        60,
        120,
        240,
        300,
        300,
        300,
    ]


@pytest.fixture
async def pg_engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(pg_url)
    yield engine
    await engine.dispose()


@pytest.mark.postgres
async def test_two_replicas_deliver_every_event_exactly_once(pg_engine: AsyncEngine) -> None:
    """Two relays on one PostgreSQL claim concurrently (FOR UPDATE SKIP LOCKED): the
    receiver gets each event once, without needing its de-duplication."""
    engine = pg_engine
    journal = Journal(engine)
    await add_batch(async_sessionmaker(engine))
    outbox = QmsOutbox(engine, POLICY)
    review = ExceptionReview(engine=engine, journal=journal, outbox=outbox)
    for n in range(40):
        await review.raise_exception(
            NewException(
                batch_id="B-1",
                category=Category.LIMIT_EXCURSION,
                severity=Severity.MAJOR,
                subject=f"p:BR-101.T{n}",
                message=f"excursion {n}",
            )
        )
    with receiving(SECRET.encode()) as qms:
        target = WebhookTarget(url=qms.url, secret=SECRET.encode())
        relays = [
            QmsRelay(outbox=QmsOutbox(engine, POLICY), target=target, owner=f"replica-{i}")
            for i in range(2)
        ]
        tasks = [asyncio.create_task(r.run()) for r in relays]
        try:
            await _wait(lambda: len(qms.processed) == 40, "40 events processed")
            async with asyncio.timeout(30):  # and recorded as delivered
                while {e.status for e in await _events(engine)} != {"delivered"}:
                    await asyncio.sleep(0.05)
        finally:
            for relay in relays:
                relay.stop()
            await asyncio.gather(*tasks)
        assert len(qms.received) == 40, "no event was sent twice"
    events = await _events(engine)
    assert {e.status for e in events} == {"delivered"}
    assert {e.attempts for e in events} == {1}
    await journal.close()


def test_the_qms_settings_are_checked_at_start(tmp_path: Path) -> None:
    from typing import get_args

    from pydantic import ValidationError

    from mes_runtime.settings import QMS_CATEGORIES, QMS_SEVERITIES

    assert set(get_args(QMS_CATEGORIES)) == {c.value for c in Category}
    assert set(get_args(QMS_SEVERITIES)) == {s.value for s in Severity}
    base = {"data_dir": tmp_path, "qms_url": "https://qms.plant.example/hooks/holon"}
    with pytest.raises(ValidationError, match="qms_secret: required"):
        Settings(**base)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(**base, qms_secret="changeme")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="not an http"):
        Settings(**{**base, "qms_url": "ftp://qms"}, qms_secret=SECRET)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="qms_ca_bundle"):
        Settings(**base, qms_secret=SECRET, qms_ca_bundle=tmp_path / "none.pem")  # type: ignore[arg-type]
    chosen = Settings(
        **base,
        qms_secret=SECRET,  # type: ignore[arg-type]
        qms_categories="limit_excursion, out_of_trend",  # type: ignore[arg-type]
        qms_severities="critical",  # type: ignore[arg-type]
    )
    assert chosen.qms_categories == {"limit_excursion", "out_of_trend"}
    assert chosen.qms_severities == {"critical"}
    assert SECRET in chosen.secret_values(), "masked in every log line"
    with pytest.raises(ValidationError):
        Settings(**base, qms_secret=SECRET, qms_categories="telepathy")  # type: ignore[arg-type]


async def test_https_with_the_plants_ca_bundle(
    engine: AsyncEngine,
    journal: Journal,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    """An https webhook whose certificate a plant CA signed: verified against
    ``HOLON_QMS_CA_BUNDLE``; without it (the system's CAs) the event stays pending."""
    await add_batch(session_factory)
    outbox = QmsOutbox(engine, POLICY)
    review = ExceptionReview(engine=engine, journal=journal, outbox=outbox)
    for n in range(2):
        await review.raise_exception(
            NewException(
                batch_id="B-1",
                category=Category.EQUIPMENT_LOSS,
                severity=Severity.MAJOR,
                subject=f"s{n}",
                message="lost",
            )
        )
    ca = make_plant_ca(tmp_path)
    with receiving(SECRET.encode(), tls=ca) as qms:
        assert qms.url.startswith("https://")
        untrusted = WebhookTarget(url=qms.url, secret=SECRET.encode())
        async with untrusted.client() as http:
            refused = QmsRelay(outbox=outbox, target=untrusted, owner="r1")
            assert await refused.deliver_due(http, at_most=1) == 1
        assert qms.received == [], "no request without a verified certificate"
        trusted = WebhookTarget(url=qms.url, secret=SECRET.encode(), ca_bundle=ca.ca)
        async with trusted.client() as http:
            assert await QmsRelay(outbox=outbox, target=trusted, owner="r2").deliver_due(http)
        assert len(qms.processed) == 1
    statuses = [(e.status, e.last_error) for e in await _events(engine)]
    assert statuses[1] == ("delivered", None)
    assert statuses[0][0] == "pending"
    assert "SSL" in (statuses[0][1] or "") or "certificate" in (statuses[0][1] or "")
