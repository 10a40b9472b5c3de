"""Runtime metrics after a real batch: the app (feature on) runs the demo recipe on the
simulator over OPC UA TCP, and the values are read back over HTTP from the metrics port,
the way Prometheus reads them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from holon_testing.simulator import RunningSimulator, running_simulator
from mes_runtime.api.app import create_app
from mes_runtime.auth.users import create_user
from mes_runtime.db.doorbell import OWNER
from mes_runtime.db.models import MasterRecipe as RecipeRow
from mes_runtime.domain.exceptions import Category
from mes_runtime.domain.states import ElementState
from mes_runtime.engine.ports import Severity
from mes_runtime.kernel.clock import utcnow
from mes_runtime.library import load_template
from mes_runtime.observability.metrics import RuntimeMetrics
from mes_runtime.services.batches import NewBatch
from mes_runtime.services.owner_grant import set_grant
from mes_runtime.settings import Settings
from tests.mes_runtime.batch_rows import add_batch
from tests.mes_runtime.observability.scrape import Samples, scrape, value

DEMO = "mab-fedbatch-demo"
TIMEOUT = 90
PASSWORD = "watch-the-batch-live"


def _settings(
    db_url: str, tmp_path: Path, *, metrics: bool, colour: Literal["blue", "green"] | None = None
) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        migrate_on_start=False,
        feature_metrics=metrics,
        metrics_port=0,
        colour=colour,
    )


@asynccontextmanager
async def _plant(
    settings: Settings, time_factor: float
) -> AsyncIterator[tuple[FastAPI, RunningSimulator]]:
    app = create_app(settings)
    async with running_simulator(time_factor=time_factor) as sim, app.router.lifespan_context(app):
        for manifest in sim.manifests.values():
            app.state.equipment_registry.add(manifest)
        async with asyncio.timeout(30):
            await app.state.equipment.wait_connected()
        yield app, sim


@pytest.fixture
async def plant(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[FastAPI, RunningSimulator]]:
    """The app with metrics on, supervising the simulator's modules (the simulator outlives
    the app, as equipment does)."""
    async with _plant(_settings(db_url, tmp_path, metrics=True), 7200) as running:
        yield running


def _total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def _start_demo_batch(app: FastAPI) -> str:
    recipe = load_template(DEMO)
    async with app.state.session_factory() as session:
        session.add(
            RecipeRow(
                name=recipe.header.name,
                version=recipe.header.version,
                status="approved",
                body=recipe.to_canonical_data(),
                digest=recipe.digest(),
                created_by="author",
                created_at=utcnow(),
                approved_by="qa",
                approved_at=utcnow(),
            )
        )
        await session.commit()
    batch_id: str = await app.state.batch_service.create(NewBatch(recipe=DEMO), actor="operator")
    return batch_id


async def _run_demo_batch(app: FastAPI) -> str:
    batch_id = await _start_demo_batch(app)
    async with asyncio.timeout(TIMEOUT):
        final = await app.state.batch_engine.wait_finished(batch_id)
    assert final is ElementState.COMPLETE
    return batch_id


async def test_a_real_batch_shows_in_the_metrics(
    plant: tuple[FastAPI, RunningSimulator],
) -> None:
    app, sim = plant
    before = await scrape(app)
    assert value(before, "holon_batches_started_total") == 0
    await _run_demo_batch(app)
    result = await app.state.journal.verify()
    after = await scrape(app)

    assert result.ok
    assert value(after, "holon_batches_started_total") == 1
    assert value(after, "holon_batches_finished_total", result="complete") == 1
    assert value(after, "holon_batches_finished_total", result="aborted") == 0
    assert value(after, "holon_batches_running") == 0
    assert value(after, "holon_batches_in_state", state="running") == 0  # seen, now none
    phase_changes = _total(after, "holon_element_state_changes_total", kind="phase")
    assert phase_changes >= 9 * 2  # every phase at least Running and Complete
    assert value(after, "holon_element_state_changes_total", kind="phase", state="complete") >= 9
    assert value(after, "holon_process_values_ingested_total") > 100
    starts = value(after, "holon_equipment_commands_total", command="start", result="ok")
    assert starts >= 9
    assert value(after, "holon_equipment_command_seconds_count", command="start") == starts
    assert value(after, "holon_journal_appends_total") > 4 * 9
    assert value(after, "holon_journal_verifications_total", result="ok") == 1
    assert value(after, "holon_journal_verifications_total", result="failed") == 0
    connected = {
        dict(labels)["equipment"]: up
        for (name, labels), up in after.items()
        if name == "holon_equipment_connected"
    }
    assert connected == dict.fromkeys(sim.manifests, 1.0)
    lag = "holon_opcua_subscription_lag_seconds"
    for equipment in sim.manifests:  # every module streamed changes, each one measured
        changes = value(after, f"{lag}_count", equipment=equipment)
        assert changes > 0, equipment
        # seconds, on one clock: a loopback notification arrives within a publishing
        # interval or so (tens of ms; a loose bound a loaded machine keeps, which
        # milliseconds as the unit would not)
        assert 0 <= value(after, f"{lag}_sum", equipment=equipment) / changes < 5.0


async def test_metrics_are_off_unless_the_feature_is_on(db_url: str, tmp_path: Path) -> None:
    app = create_app(_settings(db_url, tmp_path, metrics=False))
    async with app.router.lifespan_context(app):
        assert app.state.metrics is None
        assert app.state.metrics_port is None
        assert type(app.state.journal).__name__ == "Journal"


async def test_a_failed_journal_verification_is_counted(db_url: str, tmp_path: Path) -> None:
    app = create_app(_settings(db_url, tmp_path, metrics=True))
    async with app.router.lifespan_context(app):
        for subject in ("p1", "p2", "p3"):
            await app.state.journal.append(actor="qa", action="test", subject=subject)
        async with app.state.engine.begin() as conn:
            await conn.execute(text("UPDATE journal SET actor = 'mallory' WHERE subject = 'p2'"))
        result = await app.state.journal.verify()
        samples = await scrape(app)

    assert not result.ok
    assert value(samples, "holon_journal_verifications_total", result="failed") == 1
    assert value(samples, "holon_journal_verifications_total", result="ok") == 0
    assert value(samples, "holon_journal_appends_total") == 3


async def test_an_exception_is_counted_by_category_and_severity(
    db_url: str, tmp_path: Path
) -> None:
    """Through the app's own recorder (the one the engine records with), into the database
    and the counter; every category and severity is there at 0 before its first one."""
    app = create_app(_settings(db_url, tmp_path, metrics=True))
    async with app.router.lifespan_context(app):
        before = await scrape(app)
        await add_batch(app.state.session_factory)
        for category, severity in (
            (Category.LIMIT_EXCURSION, Severity.MAJOR),
            (Category.LIMIT_EXCURSION, Severity.MAJOR),
            (Category.EQUIPMENT_LOSS, Severity.CRITICAL),
        ):
            await app.state.recorder.exception(
                batch_id="B-1",
                category=category,
                severity=severity,
                subject="BR-101/pH",
                message="pH 7.3 > 7.2",
            )
        after = await scrape(app)

    name = "holon_batch_exceptions_total"
    assert {
        (dict(labels)["category"], dict(labels)["severity"])
        for (n, labels), _ in before.items()
        if n == name
    } == {(c.value, s.value) for c in Category for s in Severity}
    assert value(after, name, category="limit_excursion", severity="major") == 2
    assert value(after, name, category="equipment_loss", severity="critical") == 1
    assert _total(after, name) == 3


def test_a_batch_taken_over_is_counted_where_it_ends() -> None:
    """A replica that takes a running batch over did not start it, but its end is counted
    there (the owner it came from counts neither)."""
    metrics = RuntimeMetrics()

    def sample(name: str, **labels: str) -> float:
        found = metrics.registry.get_sample_value(name, labels)
        assert found is not None, name
        return found

    metrics.batch_adopted("B-1", "held")
    metrics.batch_adopted("B-1", "held")  # a second take-over by the same replica: once
    metrics.batch_changed("B-1", "running")
    assert sample("holon_batches_running") == 1
    assert sample("holon_batches_in_state", state="running") == 1
    metrics.batch_changed("B-1", "complete")
    metrics.batch_adopted("B-2", "aborted")  # already final when read: nothing to run

    assert sample("holon_batches_taken_over_total") == 1
    assert sample("holon_batches_started_total") == 0
    assert sample("holon_batches_finished_total", result="complete") == 1
    assert sample("holon_batches_running") == 0


async def _until(app: FastAPI, done: Callable[[Samples], bool], what: str) -> Samples:
    async with asyncio.timeout(30):
        while not done(samples := await scrape(app)):
            await asyncio.sleep(0.1)
    return samples


async def test_a_batch_handed_over_by_the_grant_and_taken_back_is_counted(
    db_url: str, tmp_path: Path
) -> None:
    """A blue replica hands its running batch over when the grant moves to green (counted,
    and no longer running here), and takes it over again when the grant comes back."""
    settings = _settings(db_url, tmp_path, metrics=True, colour="blue")
    async with _plant(settings, 600) as (app, _):
        journal, bell = app.state.journal, app.state.doorbell
        await _start_demo_batch(app)
        await _until(app, lambda s: value(s, "holon_batches_running") == 1, "running")

        await set_grant(journal, colour="green", upgrade_pending=False, actor="test")
        await bell.ring(OWNER)
        away = await _until(
            app, lambda s: value(s, "holon_batches_handed_over_total") == 1, "handed over"
        )
        assert value(away, "holon_batches_running") == 0
        assert value(away, "holon_batches_taken_over_total") == 0

        await set_grant(journal, colour="blue", upgrade_pending=False, actor="test")
        await bell.ring(OWNER)
        back = await _until(
            app, lambda s: value(s, "holon_batches_taken_over_total") == 1, "taken back"
        )
        assert value(back, "holon_batches_running") == 1
        assert value(back, "holon_batches_handed_over_total") == 1
        assert value(back, "holon_batches_started_total") == 1
    metrics = app.state.metrics  # the endpoint is closed: the shutdown's hand-over, in memory
    assert metrics.registry.get_sample_value("holon_batches_handed_over_total") == 2


async def test_the_live_event_stream_is_counted_when_it_starts_and_never_timed(
    plant: tuple[FastAPI, RunningSimulator],
) -> None:
    app, _ = plant
    route = "/api/v1/events"
    batch_id = await _start_demo_batch(app)
    async with app.state.session_factory() as session, session.begin():
        await create_user(session, username="watcher", password=PASSWORD, roles=["operator"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://holon.test") as http:
        login = await http.post(
            "/api/v1/auth/token", json={"username": "watcher", "password": PASSWORD}
        )
    token = login.json()["access_token"]

    first_chunk = asyncio.Event()
    leave = asyncio.Event()
    statuses: list[int] = []
    asked = False

    async def receive() -> dict[str, object]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(int(str(message["status"])))
        elif message["type"] == "http.response.body" and message.get("body"):
            first_chunk.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "root_path": "",
        "query_string": f"batch={batch_id}".encode(),
        "headers": [(b"host", b"holon.test"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("holon.test", 80),
    }
    stream = asyncio.create_task(app(scope, receive, send))  # a browser's EventSource
    async with asyncio.timeout(30):
        await first_chunk.wait()
    open_ = await scrape(app)
    leave.set()  # the browser goes away
    async with asyncio.timeout(30):
        await stream
    closed = await scrape(app)

    assert statuses == [200]
    for samples in (open_, closed):  # counted once, when it started; never timed
        assert value(samples, "holon_http_requests_total", method="GET", route=route,
                      status="200") == 1  # fmt: skip
        assert value(samples, "holon_http_request_duration_seconds_count", method="GET",
                      route=route) == 0  # fmt: skip
    login_route = "/api/v1/auth/token"
    assert value(closed, "holon_http_request_duration_seconds_count", method="POST",
                  route=login_route) == 1  # fmt: skip


def test_a_negative_subscription_lag_clock_skew_counts_as_zero() -> None:
    metrics = RuntimeMetrics()
    metrics.sample_lag("BR-101", -3.0)  # the module's clock runs ahead of ours
    metrics.sample_lag("BR-101", 0.25)
    lag = "holon_opcua_subscription_lag_seconds"
    registry = metrics.registry
    assert registry.get_sample_value(f"{lag}_count", {"equipment": "BR-101"}) == 2
    assert registry.get_sample_value(f"{lag}_sum", {"equipment": "BR-101"}) == 0.25
    assert registry.get_sample_value(f"{lag}_bucket", {"equipment": "BR-101", "le": "0.005"}) == 1
