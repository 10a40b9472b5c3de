"""The batch report of a finished batch, read from the journal: the PDF renders (pages to PNG
with pdfium) and its text shows every section, the chain's head hash and the signatures'
manifestations; the HTML shows the same with SVG plots; the BatchML export validates
against the BatchProductionRecord schema; unknown and running batches are refused."""

from __future__ import annotations

import re
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import xmlschema
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from holon_testing.batch_record import PHASES, TAGS, write_finished_batch
from mes_runtime.auth.signatures import Signature, SignatureMeaning, record_digest
from mes_runtime.db.models import Batch
from mes_runtime.ebr.journal import Journal
from mes_runtime.kernel.clock import utcnow
from mes_runtime.services.release import BatchReleases, Decision
from mes_runtime.services.report import (
    BatchNotFinished,
    read_record,
    render_batchml,
    render_html,
    render_pdf,
)
from mes_runtime.services.report.record import BUCKETS
from mes_runtime.services.report.sections import SECTION_TITLES
from mes_runtime.services.review import ExceptionReview

SCHEMA = Path(__file__).with_name("batchml-v0600-bpr.xsd")


def _signature(record: str, meaning: SignatureMeaning = SignatureMeaning.APPROVED) -> Signature:
    return Signature(
        username="qa-1",
        printed_name="Quinn Auditor",
        meaning=meaning,
        signed_at=utcnow(),
        record=record,
        record_digest=record_digest({"record": record}),
    )


async def _released(engine: AsyncEngine, journal: Journal) -> str:
    batch = await write_finished_batch(engine, journal, entries=120, values=8_000)
    await ExceptionReview(engine=engine, journal=journal).close(
        batch.open_exception,
        signature=_signature(f"exception:{batch.open_exception}"),
        comment="probe drift, product unaffected",
    )
    await BatchReleases(engine=engine, journal=journal).decide(
        batch.batch_id,
        Decision.RELEASED,
        signature=_signature(f"batch:{batch.batch_id}"),
        comment="reviewed by exception",
    )
    return batch.batch_id


def _text(pdf: pdfium.PdfDocument) -> str:
    pages = []
    for page in pdf:
        text_page = page.get_textpage()
        pages.append(text_page.get_text_range())
    return "\n".join(pages)


async def test_pdf_renders_every_section(
    engine: AsyncEngine, journal: Journal, tmp_path: Path
) -> None:
    batch_id = await _released(engine, journal)
    record = await read_record(engine, batch_id)
    assert record.verification.ok
    assert record.journal_entries >= 120
    assert [s.path for s in record.timeline] == list(PHASES)
    assert len(record.series) == len(TAGS)
    assert sum(s.count for s in record.series) == 8_000
    for series in record.series:  # the envelope keeps the extremes of every bucket
        assert 1 < len(series.envelope) <= BUCKETS
        assert min(low for _, low, _ in series.envelope) == series.low
        assert max(high for _, _, high in series.envelope) == series.high

    pdf = pdfium.PdfDocument(render_pdf(record))
    assert len(pdf) >= 2
    text = re.sub(r"[\r\n]+", "\n", _text(pdf))
    for title in SECTION_TITLES:
        assert title in text, title
    flat = text.replace("\n", "")
    assert record.verification.head_hash in flat
    assert "VERIFIED" in text
    assert "RELEASED by qa-1" in text
    assert "Quinn Auditor" in text
    assert "approved" in text
    assert "mab-fedbatch-demo version 1" in text
    assert "closed" in text
    assert "probe drift, product unaffected" in flat
    assert "foam check" in text  # an operator's entry with its reason
    for equipment, name, *_ in TAGS:
        assert f"{equipment}.{name}" in text
    for index in range(len(pdf)):
        image = pdf[index].render(scale=1.0).to_pil()
        path = tmp_path / f"report-{index + 1}.png"
        image.save(path)
        low, high = image.convert("L").getextrema()
        assert high - low > 100, f"page {index + 1} is blank"
    plot_page = next(
        i for i in range(len(pdf)) if "UV280" in pdf[i].get_textpage().get_text_range()
    )
    colours = pdf[plot_page].render(scale=1.0).to_pil().convert("RGB").getcolors(1 << 20) or []
    assert any(rgb == (0x9E, 0xC3, 0xE6) for _, rgb in colours)  # the plotted band


async def test_html_and_batchml(engine: AsyncEngine, journal: Journal) -> None:
    batch_id = await _released(engine, journal)
    record = await read_record(engine, batch_id)
    page = render_html(record)
    for title in SECTION_TITLES:
        assert f"<h2>{title}</h2>" in page
    assert page.count("<svg") == len(TAGS)
    assert record.verification.head_hash in page

    xml = render_batchml(record)
    schema = xmlschema.XMLSchema(SCHEMA)
    schema.validate(xml)  # raises naming the element that breaks the schema
    parsed = schema.to_dict(xml)
    assert parsed["BatchID"] == batch_id
    assert parsed["RecordStatus"] == "released"
    events = parsed["Events"]["Event"]
    assert len(events) == record.journal_entries + len(TAGS)
    assert [int(e["EntryID"]) for e in events[: record.journal_entries]] == [
        line.seq for line in record.journal
    ]
    released = next(e for e in events if e["EventSubType"] == "released")
    assert released["PersonID"] == ["qa-1"]
    assert record.verification.head_hash in " ".join(parsed["Description"])
    broken = xml.replace(b"<BatchID>", b"<Batch>").replace(b"</BatchID>", b"</Batch>")
    assert not schema.is_valid(broken)


async def test_unknown_and_running_batches(engine: AsyncEngine, journal: Journal) -> None:
    with pytest.raises(LookupError):
        await read_record(engine, "B-404")
    batch = await write_finished_batch(engine, journal, entries=30, values=40)
    async with engine.begin() as conn:
        await conn.execute(update(Batch).where(Batch.id == batch.batch_id).values(state="running"))
    with pytest.raises(BatchNotFinished):
        await read_record(engine, batch.batch_id)
    draft = await read_record(engine, batch.batch_id, allow_running=True)
    assert draft.decision is None
