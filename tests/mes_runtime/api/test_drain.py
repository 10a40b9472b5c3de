"""The drain flag and the ``Connection: close`` middleware, on a real ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, StreamingResponse

from mes_runtime.api.drain import CloseWhenDraining, Drain


def test_drain_begins_once_and_never_ends() -> None:
    drain = Drain()
    assert not drain.draining
    assert drain.begin() is True
    assert drain.begin() is False
    assert drain.draining


def _app(drain: Drain) -> FastAPI:
    app = FastAPI()
    app.add_middleware(CloseWhenDraining, drain=drain)

    @app.get("/plain")
    async def plain() -> PlainTextResponse:
        return PlainTextResponse("ok", headers={"Connection": "keep-alive", "X-Kept": "yes"})

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for part in (b"a", b"b", b"c"):
                yield part

        return StreamingResponse(chunks())

    return app


async def test_responses_say_connection_close_only_while_draining() -> None:
    drain = Drain()
    transport = httpx.ASGITransport(app=_app(drain))
    async with httpx.AsyncClient(transport=transport, base_url="http://holon.test") as client:
        before = await client.get("/plain")
        drain.begin()
        during = await client.get("/plain")
        streamed = await client.get("/stream")
    assert before.headers["connection"] == "keep-alive"
    # the application's own Connection header is replaced, not duplicated; others are kept
    assert during.headers.get_list("connection") == ["close"]
    assert (during.text, during.headers["x-kept"]) == ("ok", "yes")
    assert (streamed.text, streamed.headers["connection"]) == ("abc", "close")
