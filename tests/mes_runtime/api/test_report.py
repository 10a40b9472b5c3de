"""The batch report over HTTP: PDF, HTML and BatchML of an ended batch for QA and
supervisors (403 for others), 404 for an unknown batch, 409 while it runs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pypdfium2 as pdfium
import xmlschema
from fastapi import FastAPI
from sqlalchemy import update

from holon_testing.batch_record import PHASES, write_finished_batch
from mes_runtime.db.models import Batch
from tests.conftest import MakeUser

SCHEMA = Path(__file__).parents[1] / "services" / "report" / "batchml-v0600-bpr.xsd"


async def test_reports_of_an_ended_batch(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    qa, supervisor = await make_user("qa"), await make_user("supervisor")
    operator, admin = await make_user("operator"), await make_user("admin")
    batch = await write_finished_batch(
        app.state.engine, app.state.journal, entries=60, values=2_000
    )
    url = f"/api/v1/review/{batch.batch_id}"

    pdf = await client.get(f"{url}/report.pdf", headers=qa.headers)
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert f'filename="batch-{batch.batch_id}.pdf"' in pdf.headers["content-disposition"]
    document = pdfium.PdfDocument(pdf.content)
    first = document[0].get_textpage().get_text_range()
    assert f"Batch record {batch.batch_id}" in first
    assert "NOT RELEASED - review pending" in first

    html = await client.get(f"{url}/report.html", headers=supervisor.headers)
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "<h2>Journal verification</h2>" in html.text

    xml = await client.get(f"{url}/batchml.xml", headers=qa.headers)
    assert (xml.status_code, xml.headers["content-type"]) == (200, "application/xml")
    xmlschema.XMLSchema(SCHEMA).validate(xml.content)

    summary = await client.get(f"{url}/record", headers=operator.headers)
    assert summary.status_code == 200
    assert len(summary.json()["timeline"]) == len(PHASES)
    assert "foam check" in [m["reason"] for m in summary.json()["manual"]]

    for user in (operator, admin):
        refused = await client.get(f"{url}/report.pdf", headers=user.headers)
        assert (refused.status_code, refused.json()["detail"][0]["type"]) == (403, "forbidden")
    assert (await client.get(f"{url}/report.pdf")).status_code == 401

    missing = await client.get("/api/v1/review/B-404/batchml.xml", headers=qa.headers)
    assert (missing.status_code, missing.json()["detail"][0]["loc"]) == (404, ["path", "batch_id"])
    async with app.state.engine.begin() as conn:
        await conn.execute(update(Batch).where(Batch.id == batch.batch_id).values(state="held"))
    running = await client.get(f"{url}/report.html", headers=qa.headers)
    assert running.status_code == 409
    assert "has not ended (it is held)" in running.json()["detail"][0]["msg"]
