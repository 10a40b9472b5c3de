"""``/healthz`` (liveness: the process serves requests) and ``/readyz`` (readiness: the
database is reachable and migrated to every head). Kubernetes probes and the operator's
upgrade flow use these; they need no authentication and reveal nothing sensitive."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from mes_runtime.api.deps import EngineDep
from mes_runtime.db.migrate import is_up_to_date

__all__ = ["router"]

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok", checks={})


@router.get("/readyz", response_model=Health)
async def readyz(engine: EngineDep, response: Response) -> Health:
    checks: dict[str, str] = {}
    try:
        async with engine.connect() as conn:
            migrated = await conn.run_sync(is_up_to_date)
        checks["database"] = "ok"
        checks["migrations"] = "ok" if migrated else "not at heads (run: mes-runtime db upgrade)"
    except Exception as exc:  # readiness reports any failure, it never raises
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ok = all(value == "ok" for value in checks.values()) and "migrations" in checks
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="ok" if ok else "unavailable", checks=checks)
