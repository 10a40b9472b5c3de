"""A request id on every HTTP request: in each log line logged while it is handled, and in
the ``X-Request-ID`` response header.

A caller's (or an ingress's) ``X-Request-ID`` is kept when it looks like an id (up to 64
letters, digits and ``._:-``), so one id follows a request from the proxy's log into ours;
anything else (too long, spaces, line breaks: a log-forging attempt) is replaced by a new
random one. The id is bound with :func:`~mes_runtime.observability.log_context` for the
request's task, so uvicorn's access line carries it too, and kept in the scope's state
(``request.state.request_id``) for the server-error handler, which logs outside it.

Pure ASGI (not ``BaseHTTPMiddleware``): streaming responses pass through untouched.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Receive, Scope, Send

from mes_runtime.api.headers import sending_with
from mes_runtime.observability import log_context

__all__ = ["HEADER", "RequestIds"]

HEADER = "X-Request-ID"
_NAME = HEADER.lower().encode()
_WELL_FORMED = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


class RequestIds:
    """ASGI middleware: a request id per HTTP request, logged and echoed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for n, v in scope.get("headers", ()) if n.lower() == _NAME), b"")
        request_id = given.decode() if _WELL_FORMED.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        with log_context(request_id=request_id):
            await self.app(scope, receive, sending_with(send, [(_NAME, request_id.encode())]))
