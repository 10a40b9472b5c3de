"""``/api/v1/review/{batch_id}/report.pdf|report.html|batchml.xml``: the batch record; and
``.../record``, what the review page shows beside the exceptions (phase timeline, manual
entries, signatures) as JSON, for anyone who reads exceptions, running batches included.

Generated on request from the journal (the EBR is the source of truth) and the batch's
rows, never stored: the same record as PDF, as a self-contained HTML page and as B2MML
BatchML (``BatchProductionRecord``). QA and supervisors read reports (``batch.report``);
404 for an unknown batch, 409 while the batch has not ended (its record is not complete:
QA reviews and releases ended batches, and a draft would invite signing the wrong thing).
A batch not yet released says so on every page ("NOT RELEASED - review pending").

Each is an attachment: the HTML report carries its own style (the API's content security
policy forbids inline style in pages the runtime serves), so it is saved and opened, not
shown inside the UI. Rendering runs in a worker thread: a big record does not stall the
event loop.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel

from mes_runtime.api.deps import EngineDep, require
from mes_runtime.api.errors import conflict, not_found
from mes_runtime.auth.permissions import Permission
from mes_runtime.db.models import User
from mes_runtime.services.report import (
    BatchNotFinished,
    BatchRecord,
    read_record,
    render_batchml,
    render_html,
    render_pdf,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/review", tags=["review"])

Reporter = Annotated[User, require(Permission.BATCH_REPORT)]
Reader = Annotated[User, require(Permission.EXCEPTION_READ)]
_BATCH = ("path", "batch_id")
_RESPONSES: dict[int | str, dict[str, str]] = {
    404: {"description": "no such batch"},
    409: {"description": "the batch has not ended"},
}


async def _record(engine: EngineDep, batch_id: str) -> BatchRecord:
    try:
        return await read_record(engine, batch_id)
    except BatchNotFinished as exc:
        raise conflict(_BATCH, str(exc)) from None
    except LookupError:
        raise not_found(_BATCH, f"no batch {batch_id!r}") from None


def _attachment(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/{batch_id}/report.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **_RESPONSES},
)
async def report_pdf(batch_id: str, _: Reporter, engine: EngineDep) -> Response:
    record = await _record(engine, batch_id)
    body = await asyncio.to_thread(render_pdf, record)
    return _attachment(body, "application/pdf", f"batch-{batch_id}.pdf")


@router.get(
    "/{batch_id}/report.html",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}, **_RESPONSES},
)
async def report_html(batch_id: str, _: Reporter, engine: EngineDep) -> Response:
    record = await _record(engine, batch_id)
    page = await asyncio.to_thread(render_html, record)
    return _attachment(page.encode(), "text/html; charset=utf-8", f"batch-{batch_id}.html")


@router.get(
    "/{batch_id}/batchml.xml",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}, **_RESPONSES},
)
async def batchml(batch_id: str, _: Reporter, engine: EngineDep) -> Response:
    record = await _record(engine, batch_id)
    body = await asyncio.to_thread(render_batchml, record)
    return _attachment(body, "application/xml", f"batch-{batch_id}-batchml.xml")


class RecordOut(BaseModel):
    """The parts of the record the review page lists besides the exceptions."""

    batch_id: str
    state: str
    timeline: list[dict[str, Any]]
    manual: list[dict[str, Any]]
    signatures: list[dict[str, Any]]


@router.get("/{batch_id}/record", response_model=RecordOut, responses={404: _RESPONSES[404]})
async def record_summary(batch_id: str, _: Reader, engine: EngineDep) -> RecordOut:
    try:
        record = await read_record(engine, batch_id, verify=False, allow_running=True, values=False)
    except LookupError:
        raise not_found(_BATCH, f"no batch {batch_id!r}") from None
    return RecordOut(
        batch_id=record.batch_id,
        state=record.state,
        timeline=[
            {
                "path": span.path,
                "started": span.started,
                "ended": span.ended,
                "final_state": span.final_state,
            }
            for span in record.timeline
        ],
        manual=[
            {
                "seq": line.seq,
                "ts": line.ts,
                "actor": line.actor,
                "action": line.action,
                "subject": line.subject,
                "reason": line.reason,
            }
            for line in record.manual
        ],
        signatures=[dict(s) for s in record.signatures],
    )
