"""Batches on the equipment simulator over real OPC UA TCP, recorded in a real database.

Everything here is real: asyncua servers on loopback (the simulator), the MTP client and
supervisors, the batch engine, SQLAlchemy on SQLite files and on a PostgreSQL server, and
the hash-chained journal. Parametrised over both databases by the ``db_url`` fixture.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import xmlschema
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from holon_testing.simulator import RunningSimulator, running_simulator
from mes_runtime.assembly import EquipmentRegistry
from mes_runtime.auth.signatures import SignatureMeaning
from mes_runtime.db.models import Batch, BatchException, ProcessValue
from mes_runtime.db.models import MasterRecipe as RecipeRow
from mes_runtime.domain.exceptions import Category
from mes_runtime.domain.states import Command, ElementState
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.recorder import SqlBatchRecorder
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.engine.errors import EquipmentUnavailable
from mes_runtime.kernel.clock import utcnow
from mes_runtime.kernel.events import Severity
from mes_runtime.library import load_template
from mes_runtime.mtp.equipment import MtpEquipment
from mes_runtime.services.batches import BatchRequestError, BatchService, NewBatch
from mes_runtime.services.release import AlreadyDecided, BatchReleases, Decision, NotReleasable
from mes_runtime.services.report import read_record, render_batchml, render_pdf
from mes_runtime.services.review import ExceptionReview
from tests.mes_runtime.review_rows import qa_signed

DEMO = "mab-fedbatch-demo"
CULTIVATE = "procedure/BR-UP/cultivation/run-fedbatch"
TIMEOUT = 90
BATCHML_SCHEMA = Path(__file__).parent / "services" / "report" / "batchml-v0600-bpr.xsd"


@dataclass
class Plant:
    sim: RunningSimulator
    equipment: MtpEquipment
    engine: BatchEngine
    service: BatchService
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture
async def plant(
    recorder: SqlBatchRecorder,
    journal: Journal,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Plant]:
    async with (
        running_simulator(time_factor=7200) as sim,
        MtpEquipment(reconnect_delay=0.3) as equipment,
    ):
        registry = EquipmentRegistry(equipment)
        for manifest in sim.manifests.values():
            registry.add(manifest)
        async with asyncio.timeout(30):
            await equipment.wait_connected()
        async with BatchEngine(equipment=equipment, recorder=recorder) as engine:
            service = BatchService(
                engine=engine,
                journal=journal,
                sessions=session_factory,
                available=registry.connected,
            )
            yield Plant(sim, equipment, engine, service, session_factory)


async def _store_template(sessions: async_sessionmaker[AsyncSession], *, approved: bool) -> None:
    recipe = load_template(DEMO)
    async with sessions() as session:
        session.add(
            RecipeRow(
                name=recipe.header.name,
                version=recipe.header.version,
                status="approved" if approved else "draft",
                body=recipe.to_canonical_data(),
                digest=recipe.digest(),
                created_by="author",
                created_at=utcnow(),
                approved_by="qa" if approved else None,
                approved_at=utcnow() if approved else None,
            )
        )
        await session.commit()


async def _wait_for(predicate: Callable[[], bool], what: str, seconds: float = TIMEOUT) -> None:
    try:
        async with asyncio.timeout(seconds):
            while not predicate():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_demo_batch_completes_with_no_exception_and_is_recorded(
    plant: Plant, journal: Journal, engine: AsyncEngine
) -> None:
    """A good batch is clean: review by exception only means something then (issue #14)."""
    await _store_template(plant.sessions, approved=True)

    batch_id = await plant.service.create(NewBatch(recipe=DEMO), actor="operator-1")
    async with asyncio.timeout(TIMEOUT):
        final = await plant.engine.wait_finished(batch_id)

    assert final is ElementState.COMPLETE
    tree = plant.engine.tree(batch_id)
    assert tree.bindings == {"TK": "TK-201", "BR": "BR-101", "CH": "CH-301"}
    phases = [n for n in tree.root.walk() if n.phase is not None]
    assert len(phases) >= 9
    assert all(n.state is ElementState.COMPLETE for n in phases)
    async with plant.sessions() as session:
        row = await session.get(Batch, batch_id)
        assert row is not None
        assert row.state == "complete"
        stored_values = await session.scalar(
            select(func.count()).select_from(ProcessValue).where(ProcessValue.batch_id == batch_id)
        )
        exceptions = (
            (
                await session.execute(
                    select(BatchException).where(BatchException.batch_id == batch_id)
                )
            )
            .scalars()
            .all()
        )
        do_values = sorted(
            (
                await session.execute(
                    select(ProcessValue.value).where(
                        ProcessValue.batch_id == batch_id, ProcessValue.name == "DO"
                    )
                )
            ).scalars()
        )
    assert stored_values is not None
    assert stored_values > 100
    assert [x.message for x in exceptions] == []
    # The cultivation is most of the batch's time: the DO loop holds CultDO meanwhile.
    assert do_values[len(do_values) // 2] == pytest.approx(40.0, abs=2.0)
    result = await journal.verify()
    assert result.ok, result
    assert result.entries_checked > 4 * len(phases)
    await _check_report(engine, batch_id, [n.path for n in phases])


async def _check_report(engine: AsyncEngine, batch_id: str, phases: list[str]) -> None:
    """What the engine journalled becomes the batch report: every phase on the timeline from
    Running to Complete, the operator's creation among the manual entries, the recorded
    process values plotted; the PDF renders and the BatchML validates."""
    record = await read_record(engine, batch_id)
    assert record.verification.ok
    spans = {span.path: span for span in record.timeline}
    for path in phases:
        assert spans[path].final_state == "complete", path
        assert spans[path].started is not None
        assert spans[path].ended is not None
        assert spans[path].started <= spans[path].ended
    assert ("operator-1", "batch.create") in [(m.actor, m.action) for m in record.manual]
    assert "BR-101.DO" in [s.tag for s in record.series]
    assert all(s.count > 0 and s.envelope for s in record.series)
    assert record.bindings == {"TK": "TK-201", "BR": "BR-101", "CH": "CH-301"}
    pdf = pdfium.PdfDocument(render_pdf(record))
    text = "".join(page.get_textpage().get_text_range() for page in pdf)
    assert "Phase timeline" in text
    assert "BR-101.DO" in text
    xmlschema.XMLSchema(BATCHML_SCHEMA).validate(render_batchml(record))


async def test_draft_recipe_is_refused_with_the_reason(plant: Plant) -> None:
    await _store_template(plant.sessions, approved=False)

    with pytest.raises(BatchRequestError, match="QA must approve") as info:
        await plant.service.create(NewBatch(recipe=DEMO), actor="operator-1")

    assert info.value.conflict
    async with plant.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Batch)) == 0


async def test_equipment_lost_mid_phase_holds_then_restart_completes(plant: Plant) -> None:
    await _store_template(plant.sessions, approved=True)
    # A long cultivation (30 h = 15 s at this time factor) leaves room for the fault.
    batch_id = await plant.service.create(
        NewBatch(recipe=DEMO, overrides={"CultDuration": 30}), actor="operator-1"
    )
    tree = plant.engine.tree(batch_id)
    cultivate = tree.by_path[CULTIVATE]
    await _wait_for(lambda: cultivate.state is ElementState.RUNNING, "cultivation to run")

    await plant.sim.server.disconnect("BR-101")
    await _wait_for(lambda: cultivate.state is ElementState.HELD, "the phase to be held")

    async with plant.sessions() as session:
        query = select(BatchException).where(BatchException.batch_id == batch_id)
        exceptions = (await session.execute(query)).scalars().all()
    assert any(x.subject == CULTIVATE and x.severity == "major" for x in exceptions)
    with pytest.raises(EquipmentUnavailable, match="BR-101"):
        await plant.engine.command(batch_id, CULTIVATE, Command.RESTART, actor="operator-1")
    assert cultivate.state is ElementState.HELD

    await plant.sim.server.reconnect("BR-101")
    await _wait_for(lambda: plant.equipment.is_connected("BR-101"), "BR-101 to reconnect")
    await plant.engine.command(batch_id, CULTIVATE, Command.RESTART, actor="operator-1")

    async with asyncio.timeout(TIMEOUT):
        final = await plant.engine.wait_finished(batch_id)
    assert final is ElementState.COMPLETE
    assert cultivate.state is ElementState.COMPLETE


async def test_injected_major_excursion_blocks_release_until_qa_signs(
    plant: Plant, journal: Journal, engine: AsyncEngine
) -> None:
    await _store_template(plant.sessions, approved=True)
    batch_id = await plant.service.create(NewBatch(recipe=DEMO), actor="operator-1")
    cultivate = plant.engine.tree(batch_id).by_path[CULTIVATE]
    await _wait_for(lambda: cultivate.state is ElementState.RUNNING, "cultivation to run")

    plant.sim.server.inject("BR-101", "DO", 50.0, duration=2 * 3600.0)  # DO reads ~90 %
    async with asyncio.timeout(TIMEOUT):
        assert await plant.engine.wait_finished(batch_id) is ElementState.COMPLETE
    releases = BatchReleases(engine=engine, journal=journal)
    qa = qa_signed(record=f"batch:{batch_id}")

    with pytest.raises(NotReleasable, match="open exceptions") as refused:
        await releases.decide(batch_id, Decision.RELEASED, signature=qa, comment="all fine")

    view = await releases.view(batch_id)
    (excursion,) = view.open
    assert refused.value.open_ids == [excursion.id]
    assert (excursion.category, excursion.severity) == (Category.LIMIT_EXCURSION, Severity.MAJOR)
    assert excursion.subject == f"{CULTIVATE}:BR-101.DO"
    assert len(excursion.journal) == 1  # linked to the entry that raised it
    assert view.evaluated  # the release attempt ran the closure rules first
    await ExceptionReview(engine=engine, journal=journal).close(
        excursion.id,
        signature=qa_signed(record=f"exception:{excursion.id}"),
        comment="injected sensor offset; the process was unaffected",
    )
    await releases.decide(batch_id, Decision.RELEASED, signature=qa, comment="reviewed")

    released = await releases.view(batch_id)
    assert released.open == []
    assert released.decision is not None
    assert released.decision["decision"] == "released"
    with pytest.raises(AlreadyDecided):
        await releases.decide(
            batch_id,
            Decision.REJECTED,
            signature=qa_signed("qa-1", SignatureMeaning.REJECTED, record=f"batch:{batch_id}"),
            comment="too late",
        )


async def test_injected_ph_shift_inside_its_limits_raises_an_out_of_trend_exception(
    plant: Plant, journal: Journal, engine: AsyncEngine
) -> None:
    """The demo recipe's pH has out-of-trend rules beside its limits (6.8-7.2): a reading
    shifted to ~7.06 is in spec but 6 sigma off its validated center, and is raised live,
    with the evidence, as ``out_of_trend`` (the clean batch above raises nothing)."""
    await _store_template(plant.sessions, approved=True)
    batch_id = await plant.service.create(NewBatch(recipe=DEMO), actor="operator-1")
    cultivate = plant.engine.tree(batch_id).by_path[CULTIVATE]
    await _wait_for(lambda: cultivate.state is ElementState.RUNNING, "cultivation to run")

    plant.sim.server.inject("BR-101", "pH", 0.06, duration=2 * 3600.0)
    async with asyncio.timeout(TIMEOUT):
        assert await plant.engine.wait_finished(batch_id) is ElementState.COMPLETE

    raised = await ExceptionReview(engine=engine, journal=journal).list(batch_id=batch_id)
    assert raised, "the shift was detected"
    assert {x.category for x in raised} == {Category.OUT_OF_TREND}, "in spec: no excursion"
    assert {x.subject for x in raised} == {f"{CULTIVATE}:BR-101.pH"}
    rules = {x.trigger["rule"] for x in raised if x.trigger is not None}
    assert "nelson-1" in rules
    assert rules <= {"nelson-1", "nelson-5", "nelson-6"}, "only the configured rules"
    first = raised[0]
    assert first.severity is Severity.MINOR
    assert first.trigger is not None
    assert (first.trigger["center"], first.trigger["sigma"]) == (7.0, 0.01)
    assert first.trigger["phase"] == CULTIVATE
    assert all(6.8 < v < 7.2 for v in first.trigger["values"])
    assert any(v > 7.03 for v in first.trigger["values"])
    assert first.trigger["window_start"] <= first.trigger["window_end"]
    assert len(first.journal) == 1, "journalled when raised"
