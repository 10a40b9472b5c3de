"""The FastAPI application factory.

``create_app(settings)`` wires the routers and a lifespan that owns the database engine, the
session factory and the single journal writer (all on ``app.state``). Migrations are not run
here: ``mes-runtime serve`` runs them before starting the server, and ``/readyz`` reports a
database that is not at heads.

What is served follows the module's kind and feature flags (``api.features``): the
:data:`ROUTERS` (and :data:`ENDPOINTS`) of the capabilities served, the UI when it is on,
the batch engine only where batches are served. The rest answers 404, naming what is off.

The drain flag (``app.state.drain``, see ``api.drain``) exists from construction, not from
the lifespan: the server sets it from a signal handler, and ``/readyz`` and the
``Connection: close`` middleware read it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

import mes_runtime
from mes_runtime.api import (
    auth,
    batches,
    closure_rules,
    database_move,
    equipment,
    exceptions,
    health,
    installation,
    journal,
    live,
    oidc,
    openapi,
    qms,
    recipes,
    report,
    review,
    trends,
    upgrade,
    users,
)
from mes_runtime.api.bodies import MAX_DOCUMENT_BYTES
from mes_runtime.api.drain import CloseWhenDraining, Drain
from mes_runtime.api.errors import not_found
from mes_runtime.api.features import Capability, served
from mes_runtime.api.headers import SecurityHeaders
from mes_runtime.api.limits import BodyLimit
from mes_runtime.api.request_ids import RequestIds
from mes_runtime.assembly import batch_runtime, qms_outbox, qms_relay
from mes_runtime.auth.oidc import oidc_verifier
from mes_runtime.db.doorbell import CHANGED, doorbell_for
from mes_runtime.db.engine import create_engine, session_factory
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.recorder import SqlBatchRecorder
from mes_runtime.observability import (
    MeteredHttp,
    MeteredJournal,
    MeteredRecorder,
    RuntimeMetrics,
    serve_metrics,
)
from mes_runtime.services.accounts import count_admins
from mes_runtime.settings import Settings, get_settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)

#: Enough for every JSON command, login, user or signature body the API takes.
DEFAULT_BODY_LIMIT = 64 * 1024
#: The routes that take documents (recipes, MTP manifests), and so larger bodies.
DOCUMENT_ROUTES = {
    ("POST", "/api/v1/recipes"): MAX_DOCUMENT_BYTES,
    ("POST", "/api/v1/recipes/validate"): MAX_DOCUMENT_BYTES,
    ("POST", "/api/v1/equipment"): MAX_DOCUMENT_BYTES,
}

#: Every router and the capability it serves (None: every runtime serves it). A router opts
#: into a feature flag by naming that flag's capability here (api.features): it is then
#: included only when the module's kind and flags serve it.
ROUTERS: tuple[tuple[APIRouter, Capability | None], ...] = (
    (health.router, None),
    (auth.router, None),
    (oidc.router, None),
    (users.router, None),
    # every kind is qualified; before upgrade.router, whose not-served answer (where
    # batches are not) covers its whole prefix
    (installation.router, None),
    (database_move.router, None),  # every kind has a database to move
    (recipes.router, Capability.RECIPES),
    (equipment.router, Capability.EQUIPMENT),
    (journal.router, Capability.JOURNAL),
    (exceptions.router, Capability.REVIEW_BY_EXCEPTION),
    (review.router, Capability.REVIEW_BY_EXCEPTION),
    (report.router, Capability.REVIEW_BY_EXCEPTION),
    (closure_rules.router, Capability.REVIEW_BY_EXCEPTION),
    (qms.router, Capability.REVIEW_BY_EXCEPTION),
    (batches.router, Capability.BATCHES),
    (trends.router, Capability.BATCHES),
    (live.router, Capability.BATCHES),
    (upgrade.router, Capability.BATCHES),
)
#: Single routes of an included router that need one more capability.
ENDPOINTS: dict[Callable[..., object], Capability] = {
    recipes.approve_recipe: Capability.ELECTRONIC_SIGNATURES,
}

#: The operator UI's assets, served by the runtime itself (air-gapped plants: no CDN).
UI_DIR = Path(__file__).resolve().parent.parent / "ui" / "static"


def create_app(settings: Settings | None = None, *, drain: Drain | None = None) -> FastAPI:
    """The runtime's HTTP application, configured by ``settings`` (default: environment).

    ``drain`` is the flag a graceful shutdown sets (``mes_runtime.server``); by default a
    fresh one that nothing sets."""
    settings = settings or get_settings()
    capabilities = served(settings)  # refuses what the runtime cannot honour, by name
    if drain is None:
        drain = Drain()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(
            settings.database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        metrics = RuntimeMetrics() if Capability.METRICS in capabilities else None
        if metrics is not None:
            metrics.watch_database(engine)
        writer = Journal(engine) if metrics is None else MeteredJournal(engine, metrics=metrics)
        outbox = qms_outbox(engine, settings)
        recorder = SqlBatchRecorder(
            engine, writer, lease_seconds=settings.lease_seconds, outbox=outbox
        )
        app.state.qms_outbox = outbox
        app.state.batch_records = recorder
        app.state.doorbell = bell = doorbell_for(engine, settings.database_url)
        writer.on_commit = lambda batch_ids: bell.ring_here(CHANGED)  # live events, here
        app.state.settings = settings
        app.state.capabilities = capabilities
        app.state.engine = engine
        app.state.session_factory = session_factory(engine)
        app.state.journal = writer
        app.state.metrics = metrics
        app.state.recorder = recorder if metrics is None else MeteredRecorder(recorder, metrics)
        try:
            await writer.start()
            await _warn_without_admin(app)
        except Exception as exc:  # not migrated yet: /readyz says so; do not crash liveness
            log.warning("database not ready at start-up: %s", exc)
        try:
            running: AbstractAsyncContextManager[None] = (
                batch_runtime(app) if Capability.BATCHES in capabilities else nullcontext()
            )
            async with (
                app.state.doorbell,
                running,
                _metrics_endpoint(app, settings),
                qms_relay(outbox, settings, owner=recorder.owner),
            ):
                yield
        finally:
            # batch_runtime has stopped the engine and equipment; the database goes last
            await writer.close()
            await engine.dispose()

    app = FastAPI(
        title="Holon MES runtime",
        version=mes_runtime.__version__,
        description="ISA-88 batch execution on MTP equipment, with a hash-chained EBR journal.",
        lifespan=lifespan,
        # Swagger UI and ReDoc load their assets from a public CDN, which an air-gapped
        # plant cannot reach (and the content security policy forbids): the API's
        # description is /openapi.json, for any local tool to render
        docs_url=None,
        redoc_url=None,
    )
    app.state.drain = drain
    app.state.oidc = oidc_verifier(settings)
    app.add_middleware(CloseWhenDraining, drain=drain)
    app.add_middleware(BodyLimit, default=DEFAULT_BODY_LIMIT, routes=DOCUMENT_ROUTES)
    app.add_middleware(SecurityHeaders)
    if Capability.METRICS in capabilities:  # times what the others add too
        app.add_middleware(MeteredHttp, metrics=lambda: getattr(app.state, "metrics", None))
    app.add_middleware(RequestIds)  # outermost: every line of the request carries its id
    routes = _include_routers(app, capabilities)
    app.state.route_table = [(route.path_regex, route.methods) for route in routes]
    openapi.install(app, (route for route in routes if route.include_in_schema))
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(DBAPIError, _database_unavailable)
    app.add_exception_handler(Exception, _server_error)
    if Capability.UI in capabilities:
        app.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")

        @app.get("/", include_in_schema=False)
        async def _root() -> RedirectResponse:
            return RedirectResponse("/ui/")

    return app


def _include_routers(app: FastAPI, capabilities: frozenset[Capability]) -> list[APIRoute]:
    """The routers (and routes) the served capabilities call for; what is not served is
    answered 404 naming the capability, as an unknown path would be (but telling why).
    Every API route of the app, served or not."""
    routes: list[APIRoute] = []
    for router, capability in ROUTERS:
        if capability is None or capability in capabilities:
            served_part = _served_routes(app, router, capabilities)
            app.include_router(served_part)
            routes.extend(r for r in served_part.routes if isinstance(r, APIRoute))
        elif router.prefix:  # a router without a prefix leaves plain 404s
            _not_served(app, router.prefix, capability)
    routes.extend(r for r in app.router.routes if isinstance(r, APIRoute))
    return routes


def _served_routes(
    app: FastAPI, router: APIRouter, capabilities: frozenset[Capability]
) -> APIRouter:
    """``router``, or a copy without the routes of :data:`ENDPOINTS` not served."""
    unserved = [
        route
        for route in router.routes
        if isinstance(route, APIRoute)
        and route.endpoint in ENDPOINTS
        and ENDPOINTS[route.endpoint] not in capabilities
    ]
    if not unserved:
        return router
    part = APIRouter()
    part.routes.extend(route for route in router.routes if route not in unserved)
    for route in unserved:
        assert isinstance(route, APIRoute)
        methods = sorted(route.methods or ())
        _not_served(app, route.path, ENDPOINTS[route.endpoint], methods=methods)
    return part


def _not_served(
    app: FastAPI, path: str, capability: Capability, *, methods: list[str] | None = None
) -> None:
    async def not_served() -> None:
        raise not_found(
            ("path",),
            f"{capability.value} is not served by this module (its kind or spec.features)",
        )

    every = methods or ["GET", "POST", "PUT", "PATCH", "DELETE"]
    app.add_api_route(path, not_served, methods=every, include_in_schema=False)
    if methods is None:
        app.add_api_route(path + "/{rest:path}", not_served, methods=every, include_in_schema=False)


@asynccontextmanager
async def _metrics_endpoint(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """``GET /metrics`` on its own port while the app runs, when the feature is on."""
    metrics: RuntimeMetrics | None = app.state.metrics
    if metrics is None:
        app.state.metrics_port = None
        yield
        return
    host = settings.metrics_host or settings.host
    with serve_metrics(metrics, host=host, port=settings.metrics_port) as port:
        app.state.metrics_port = port
        yield


async def _http_error(request: Request, exc: Exception) -> Response:
    """Every HTTP error in the shape of FastAPI's validation errors (see ``api.errors``):
    string details (404 for an unknown path, 405, or a plain ``HTTPException("...")``) become
    ``[{"loc": [...], "msg": ..., "type": ...}]``."""
    assert isinstance(exc, StarletteHTTPException)
    headers = exc.headers
    if exc.status_code == 405:  # Starlette names the methods of one route of the path
        headers = {**(headers or {}), "Allow": ", ".join(_methods_of(request))}
    detail: Any = exc.detail
    if not isinstance(detail, list):
        detail = [{"loc": ["path"], "msg": str(detail), "type": f"http_{exc.status_code}"}]
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=headers)
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)


def _methods_of(request: Request) -> list[str]:
    """Every method some route of the request's path answers (a 405's ``Allow``)."""
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for regex, route_methods in request.app.state.route_table:
        if regex.match(path):
            methods.update(route_methods)
    return sorted(methods)


async def _invalid_request(request: Request, exc: Exception) -> Response:
    """422 naming each invalid field, without echoing what was sent: the input may be a
    password (a login body), or not even representable in JSON (NaN, Infinity)."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": list(error["loc"]), "msg": str(error["msg"]), "type": str(error["type"])}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


#: How long a client should wait before retrying when the database is unreachable: about
#: a PostgreSQL restart or fail-over.
RETRY_AFTER_SECONDS = 5


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    """A database that cannot be reached (restart, fail-over) is 503 with ``Retry-After``,
    never a 500: the request can be repeated and the runtime recovers by itself (the pool
    reconnects). Any other database error is a server error."""
    assert isinstance(exc, DBAPIError)
    if not (exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)):
        return await _server_error(request, exc)
    log.warning("database unavailable (%s %s): %s", request.method, request.url.path, exc.orig)
    detail = [
        {
            "loc": ["server", "database"],
            "msg": "the database is unreachable just now; retry shortly",
            "type": "unavailable",
        }
    ]
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse({"detail": detail}, status_code=503, headers=headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    """An unexpected error: logged with its traceback, answered in the API's error shape,
    and the connection closed (its state after a failure is unknown)."""
    log.error(
        "unhandled error on %s %s",
        request.method,
        request.url.path,
        exc_info=exc,
        extra={"request_id": getattr(request.state, "request_id", None)},
    )
    detail = [{"loc": ["server"], "msg": "internal error; it has been logged", "type": "internal"}]
    return JSONResponse({"detail": detail}, status_code=500, headers={"Connection": "close"})


async def _warn_without_admin(app: FastAPI) -> None:
    async with app.state.session_factory() as session:
        admins, users = await count_admins(session)
    if not admins:
        log.warning(
            "no active admin user (%d users): create one with `mes-runtime create-admin`", users
        )
