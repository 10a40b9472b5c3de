"""``/api/v1/events``: a batch's live events as server-sent events (``text/event-stream``).

``GET /api/v1/events?batch=ID`` streams the batch's view (``event: batch``) and its new
process values (``event: values``), from the database, on any replica (``services.live``).
Each event has an ``id``; a client that reconnects sends the last one as ``Last-Event-ID``
(browsers do so by themselves) and misses nothing. A comment line every
:data:`HEARTBEAT_SECONDS` keeps proxies from closing an idle stream and lets the client see
a dead one. A draining replica ends its streams: the browser reconnects to a ready one.

**Authentication.** A browser's ``EventSource`` cannot send an ``Authorization`` header, so
the stream also accepts a cookie: ``POST /api/v1/events/session`` (with the bearer token)
sets ``holon_events``, ``HttpOnly`` (scripts cannot read it), ``SameSite=Strict`` and
``Path=/api/v1/events`` (sent to this read-only stream and nowhere else, so it cannot
authorise a command: no cross-site request forgery). It holds the same bearer token, checked
against the database at every (re)connect, so it works on every replica, ends with the token,
and a reconnection after a hand-over needs no new ticket: the browser's own reconnection
with ``Last-Event-ID`` just works. A short-lived ticket was the alternative; it would expire
during a long outage and need a reconnection of our own. Other clients send the bearer header.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from mes_runtime.api.deps import CurrentUser, SessionDep
from mes_runtime.api.errors import forbidden, not_found, unauthorized
from mes_runtime.auth.permissions import Permission, has_permission
from mes_runtime.auth.users import user_for_token
from mes_runtime.db.models import User
from mes_runtime.services.batch_views import batch_row
from mes_runtime.services.live import Cursor, LiveEvent, LiveEvents

__all__ = ["COOKIE", "HEARTBEAT_SECONDS", "router"]

router = APIRouter(prefix="/api/v1/events", tags=["live"])

COOKIE = "holon_events"
HEARTBEAT_SECONDS = 15.0
RETRY_MS = 1000  # how soon a browser reconnects after the stream ends


def _hub(request: Request) -> LiveEvents:
    hub: LiveEvents = request.app.state.live_events
    return hub


HubDep = Annotated[LiveEvents, Depends(_hub)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return request.cookies.get(COOKIE)


async def _reader(request: Request, session: SessionDep) -> User:
    token = _bearer(request)
    if token is None:
        raise unauthorized(
            f"a bearer token or the {COOKIE} cookie (POST /api/v1/events/session) is required"
        )
    user = await user_for_token(session, token)
    if user is None:
        raise unauthorized("the bearer token is unknown, expired or revoked")
    if not has_permission(user.roles, Permission.BATCH_READ):
        raise forbidden(Permission.BATCH_READ.value)
    return user


@router.post("/session", status_code=status.HTTP_204_NO_CONTENT)
async def open_session(request: Request, user: CurrentUser) -> Response:
    """Set the stream cookie for this browser (the caller's own bearer token)."""
    if not has_permission(user.roles, Permission.BATCH_READ):
        raise forbidden(Permission.BATCH_READ.value)
    token = _bearer(request)
    assert token is not None  # CurrentUser checked it
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.set_cookie(
        COOKIE,
        token,
        path=router.prefix,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT)
async def close_session() -> Response:
    """Forget the stream cookie (signing out)."""
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(COOKIE, path=router.prefix)
    return response


def _frame(event: LiveEvent, cursor: Cursor) -> bytes:
    data: dict[str, Any] = dict(event.data)
    if event.kind == "values":
        data["values"] = list(event.values)
    body = json.dumps(data, separators=(",", ":"), default=str)
    return f"id: {cursor}\nevent: {event.kind}\ndata: {body}\n\n".encode()


@router.get(
    "",
    response_class=StreamingResponse,
    responses={  # its reader is the cookie or the bearer token, not ``require``
        401: {"description": "neither a bearer token nor the events cookie"},
        403: {"description": "the user may not read batches"},
        404: {"description": "no such batch"},
    },
)
async def events(
    request: Request,
    hub: HubDep,
    session: SessionDep,
    _: Annotated[User, Depends(_reader)],
    batch: Annotated[str, Query(min_length=1, max_length=64, description="batch id")],
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
    after: Annotated[
        str | None,
        Query(max_length=64, description="an event id, for a client that cannot set headers"),
    ] = None,
) -> StreamingResponse:
    """The batch's live events (``text/event-stream``), from ``Last-Event-ID`` on (or
    ``after``: a new ``EventSource`` cannot send the header itself)."""
    if await batch_row(session, batch) is None:
        raise not_found(("query", "batch"), f"no batch {batch!r}")
    await session.close()  # nothing held open for the stream's lifetime
    drain = request.app.state.drain
    resume = Cursor.parse(last_event_id or after)

    async def body() -> AsyncIterator[bytes]:
        yield f"retry: {RETRY_MS}\n\n".encode()
        sent = time.monotonic()
        # woken every second of silence: a draining replica ends its streams within one
        async for event, cursor in hub.stream(batch, resume, heartbeat=1.0):
            if drain.draining:
                return
            if event is not None:
                yield _frame(event, cursor)
            elif time.monotonic() - sent >= HEARTBEAT_SECONDS:
                yield b": heartbeat\n\n"
            else:
                continue
            sent = time.monotonic()

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)
