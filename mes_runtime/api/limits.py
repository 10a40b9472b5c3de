"""Bounded request bodies: a body limit enforced while the body is read, per route.

Why: a body is read into memory before any handler can look at it. Without a bound, one
unauthenticated ``POST /api/v1/auth/token`` carrying 50 MiB of JSON costs the process more
than a runtime Pod's memory limit. ``BodyLimit`` answers 413 in the API's error shape
(``api.errors``), with ``Connection: close`` so that the unread rest of the body is never
parsed as a next request:

- at once when ``Content-Length`` announces more than the route allows;
- as soon as the bytes received pass it (chunked bodies), by raising from the ``receive``
  callable the handler reads through.

(FastAPI's own ``max_body_size`` answers a plain-text "Content Too Large" that names
neither the limit nor the field, hence this middleware.)
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mes_runtime.api.errors import api_error

__all__ = ["BodyLimit", "too_large"]


def too_large(limit: int, size: int | None = None) -> HTTPException:
    said = "the request body" if size is None else f"the request body ({size} bytes)"
    return api_error(
        413,
        ("body",),
        f"{said} is larger than this route's limit of {limit} bytes",
        "too_large",
        headers={"Connection": "close"},
    )


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimit:
    """ASGI middleware: ``default`` bytes at most per request body, or the limit ``routes``
    gives the request's ``(method, path)``."""

    def __init__(
        self, app: ASGIApp, *, default: int, routes: Mapping[tuple[str, str], int]
    ) -> None:
        self.app = app
        self.default = default
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.routes.get((scope["method"], scope["path"]), self.default)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            error = too_large(limit, declared)
            response = JSONResponse(
                {"detail": error.detail}, status_code=error.status_code, headers=error.headers
            )
            await response(scope, receive, send)
            return
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # an HTTPException: FastAPI re-raises it from body parsing unchanged, and
                    # the application's handler renders it like every other 4xx
                    raise too_large(limit)
            return message

        await self.app(scope, bounded_receive, send)
