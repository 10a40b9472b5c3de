"""Runtime metrics after a real batch: the app (feature on) runs the demo recipe on the
simulator over OPC UA TCP, and the values are read back over HTTP from the metrics port,
the way Prometheus reads them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from holon_testing.simulator import RunningSimulator, running_simulator
from mes_runtime.api.app import create_app
from mes_runtime.db.models import MasterRecipe as RecipeRow
from mes_runtime.domain.states import ElementState
from mes_runtime.kernel.clock import utcnow
from mes_runtime.library import load_template
from mes_runtime.observability.metrics import RuntimeMetrics
from mes_runtime.services.batches import NewBatch
from mes_runtime.settings import Settings

DEMO = "mab-fedbatch-demo"
TIMEOUT = 90

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _settings(db_url: str, tmp_path: Path, *, metrics: bool) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        migrate_on_start=False,
        feature_metrics=metrics,
        metrics_port=0,
    )


@pytest.fixture
async def plant(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[FastAPI, RunningSimulator]]:
    """The app with metrics on, supervising the simulator's modules (the simulator outlives
    the app, as equipment does)."""
    app = create_app(_settings(db_url, tmp_path, metrics=True))
    async with running_simulator(time_factor=7200) as sim, app.router.lifespan_context(app):
        for manifest in sim.manifests.values():
            app.state.equipment_registry.add(manifest)
        async with asyncio.timeout(30):
            await app.state.equipment.wait_connected()
        yield app, sim


async def _scrape(app: FastAPI) -> Samples:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{app.state.metrics_port}/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def _run_demo_batch(app: FastAPI) -> str:
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
    async with asyncio.timeout(TIMEOUT):
        final = await app.state.batch_engine.wait_finished(batch_id)
    assert final is ElementState.COMPLETE
    return batch_id


async def test_a_real_batch_shows_in_the_metrics(
    plant: tuple[FastAPI, RunningSimulator],
) -> None:
    app, sim = plant
    before = await _scrape(app)
    assert _value(before, "holon_batches_started_total") == 0
    await _run_demo_batch(app)
    result = await app.state.journal.verify()
    after = await _scrape(app)

    assert result.ok
    assert _value(after, "holon_batches_started_total") == 1
    assert _value(after, "holon_batches_finished_total", result="complete") == 1
    assert _value(after, "holon_batches_finished_total", result="aborted") == 0
    assert _value(after, "holon_batches_running") == 0
    assert _value(after, "holon_batches_in_state", state="running") == 0  # seen, now none
    phase_changes = _total(after, "holon_element_state_changes_total", kind="phase")
    assert phase_changes >= 9 * 2  # every phase at least Running and Complete
    assert _value(after, "holon_element_state_changes_total", kind="phase", state="complete") >= 9
    assert _value(after, "holon_process_values_ingested_total") > 100
    starts = _value(after, "holon_equipment_commands_total", command="start", result="ok")
    assert starts >= 9
    assert _value(after, "holon_equipment_command_seconds_count", command="start") == starts
    assert _value(after, "holon_journal_appends_total") > 4 * 9
    assert _value(after, "holon_journal_verifications_total", result="ok") == 1
    assert _value(after, "holon_journal_verifications_total", result="failed") == 0
    connected = {
        dict(labels)["equipment"]: value
        for (name, labels), value in after.items()
        if name == "holon_equipment_connected"
    }
    assert connected == dict.fromkeys(sim.manifests, 1.0)


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
        samples = await _scrape(app)

    assert not result.ok
    assert _value(samples, "holon_journal_verifications_total", result="failed") == 1
    assert _value(samples, "holon_journal_verifications_total", result="ok") == 0
    assert _value(samples, "holon_journal_appends_total") == 3


def test_a_batch_taken_over_is_counted_where_it_ends() -> None:
    """A replica that takes a running batch over did not start it, but its end is counted
    there (the owner it came from counts neither)."""
    metrics = RuntimeMetrics()

    def sample(name: str, **labels: str) -> float:
        value = metrics.registry.get_sample_value(name, labels)
        assert value is not None, name
        return value

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
