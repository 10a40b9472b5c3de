"""Graceful drain: the state a terminating runtime shares with its HTTP layer.

Why: a Kubernetes rolling update must lose no request. When the kubelet sends SIGTERM,
kube-proxy and the load balancers still route to the Pod for a few seconds. So the runtime
first *drains* (``mes_runtime.server``): it keeps serving, but ``/readyz`` fails at once and
every response carries ``Connection: close``, so keep-alive clients reconnect and land on a
ready Pod. Only then does the server stop accepting connections.

``Drain`` is the one flag both sides see: the server's signal handler sets it (a plain
attribute write, safe inside a signal handler); the readiness probe and
``CloseWhenDraining`` read it per request. The application can also make the drain last
until a condition holds (:meth:`Drain.hold_until`: the batch runtime's wait for a safe
point before it hands its batches over); a second signal hurries it (:attr:`Drain.hurried`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CloseWhenDraining", "Drain", "DrainDep"]


class Drain:
    """Whether the process is draining; starts ``False``, only ever becomes ``True``."""

    __slots__ = ("_began", "_draining", "_holds", "_hurried")

    def __init__(self) -> None:
        self._draining = False
        self._began = asyncio.Event()  # set on the event loop (announce), never in a handler
        self._hurried = False
        self._holds: list[Callable[[], bool]] = []

    @property
    def draining(self) -> bool:
        return self._draining

    def begin(self) -> bool:
        """Enter draining; ``True`` if this call changed the state (idempotent)."""
        if self._draining:
            return False
        self._draining = True
        return True

    def announce(self) -> None:
        """On the event loop, once draining: wake whoever awaits :meth:`began`."""
        if self._draining:
            self._began.set()

    async def began(self) -> None:
        """Return once the drain has begun (and been announced on the loop)."""
        await self._began.wait()

    def hold_until(self, done: Callable[[], bool]) -> None:
        """Make the drain last until ``done()`` holds too (read on the event loop)."""
        self._holds.append(done)

    def settled(self) -> bool:
        """Whether every condition the drain was held for holds now."""
        return all(done() for done in self._holds)

    def hurry(self) -> None:
        """A second signal: whoever holds the drain should end its wait now."""
        self._hurried = True

    @property
    def hurried(self) -> bool:
        return self._hurried


class CloseWhenDraining:
    """ASGI middleware: once draining, every HTTP response says ``Connection: close``.

    Pure ASGI (not ``BaseHTTPMiddleware``) so streaming responses and the request body are
    untouched; only the ``http.response.start`` message's headers change. The HTTP server
    (uvicorn's h11 protocol) honours the header and closes the connection after the body.
    """

    def __init__(self, app: ASGIApp, *, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self.drain.draining:
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"connection"
                ]
                headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_closing)


def _drain(request: Request) -> Drain:
    drain: Drain = request.app.state.drain
    return drain


DrainDep = Annotated[Drain, Depends(_drain)]
