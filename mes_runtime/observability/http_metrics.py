"""HTTP request metrics: a pure ASGI middleware around the runtime's API.

Requests are labelled by the **route template** that matched (``/api/v1/batches/{batch_id}``),
never by the raw path, so the series stay bounded however many batches exist: the router
leaves the matched route in the ASGI scope (``scope["route"]``), read once the request has
been handled. A path no route matches (a 404 for an unknown URL, a trailing-slash
redirect) is counted under the one value :data:`UNMATCHED`; a method outside
:data:`METHODS` as ``other``.

A response is counted when it starts (``http.response.start``: the status is known), and
timed from the request's arrival until its last body chunk was sent. A server-sent event
stream (``text/event-stream``, the live events of ``/api/v1/events``) is counted when it
starts and *not* timed: it lasts as long as the browser stays on the page, and one endless
request would wreck the latency histogram. A request whose handler raised before answering
is counted as 500 (the server's error handler answers it outside this middleware).

Pure ASGI (not ``BaseHTTPMiddleware``): streaming responses pass through untouched.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mes_runtime.observability.metrics import RuntimeMetrics

__all__ = ["METHODS", "UNMATCHED", "MeteredHttp"]

#: The route label of a request no route matched.
UNMATCHED = "<unmatched>"
#: Methods counted by name; any other is ``other``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_EVENT_STREAM = b"text/event-stream"


class MeteredHttp:
    """Counts and times each HTTP request into the metrics ``metrics()`` returns (None
    before the app's lifespan made them: then it only passes requests through)."""

    def __init__(self, app: ASGIApp, *, metrics: Callable[[], RuntimeMetrics | None]) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = self.metrics() if scope["type"] == "http" else None
        if metrics is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"] if scope["method"] in METHODS else "other"
        status = 0
        streaming = False

        async def send_metered(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = int(message["status"])
                streaming = any(
                    name.lower() == b"content-type" and value.startswith(_EVENT_STREAM)
                    for name, value in message.get("headers", ())
                )
                if streaming:  # counted now; it may run for hours
                    metrics.http_requests.labels(method, _route(scope), str(status)).inc()
            await send(message)

        try:
            await self.app(scope, receive, send_metered)
        finally:
            if not streaming:
                route = _route(scope)
                metrics.http_requests.labels(method, route, str(status or 500)).inc()
                metrics.http_seconds.labels(method, route).observe(time.perf_counter() - started)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED
