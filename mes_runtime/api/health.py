"""``/healthz`` (liveness: the process serves requests) and ``/readyz`` (readiness: the
database is reachable and migrated to every head, and the process is not draining).
Kubernetes probes and the operator's upgrade flow use these; they need no authentication and
reveal nothing sensitive.

A draining process (``api.drain``) is still alive but no longer ready: ``/readyz`` answers
503 with ``{"shutdown": "draining"}`` at once, without touching the database, so the Pod
leaves the Service's endpoints while it finishes what it is doing."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel

from mes_runtime.api.deps import EngineDep
from mes_runtime.api.drain import DrainDep
from mes_runtime.db.compat import is_up_to_date

__all__ = ["router"]

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok", checks={})


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "not ready: the checks say why"}},
)
async def readyz(
    request: Request, engine: EngineDep, drain: DrainDep, response: Response
) -> Health:
    if drain.draining:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Health(status="unavailable", checks={"shutdown": "draining"})
    checks: dict[str, str] = {}
    try:
        async with engine.connect() as conn:
            migrated = await conn.run_sync(is_up_to_date)
        checks["database"] = "ok"
        checks["migrations"] = "ok" if migrated else "not at heads (run: mes-runtime db upgrade)"
    except Exception as exc:  # readiness reports any failure, it never raises
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ownership = getattr(request.app.state, "batch_ownership", None)
    if ownership is not None:  # a module that executes batches: can it own them now?
        checks["batches"] = ownership.readiness()
    ok = all(value == "ok" for value in checks.values()) and "migrations" in checks
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="ok" if ok else "unavailable", checks=checks)
