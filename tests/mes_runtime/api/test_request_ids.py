"""Every HTTP request has an id: in each line logged while it is handled, and in the
``X-Request-ID`` answer; a caller's well-formed id is kept, anything else replaced."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mes_runtime.api.request_ids import HEADER, RequestIds
from mes_runtime.observability import JsonFormatter, Redactor

log = logging.getLogger("holon.test.requests")


class _Lines(logging.Handler):
    """The JSON lines logged while installed."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter(Redactor()))
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def lines() -> Iterator[_Lines]:
    handler = _Lines()
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield handler
    log.removeHandler(handler)


async def _handle(request: Request) -> PlainTextResponse:
    name = request.path_params["name"]
    log.info("before %s", name)
    await asyncio.sleep(0.01)  # the other request's lines come in between
    log.info("after %s", name)
    return PlainTextResponse(name)


def _client() -> httpx.AsyncClient:
    app = RequestIds(Starlette(routes=[Route("/{name}", _handle)]))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://holon.test")


async def test_each_line_of_a_request_carries_its_id_and_the_answer_names_it(
    lines: _Lines,
) -> None:
    async with _client() as http:
        one, two = await asyncio.gather(
            http.get("/one", headers={HEADER: "ingress-7f3a:1"}), http.get("/two")
        )
    assert one.headers[HEADER] == "ingress-7f3a:1"  # the caller's id, kept
    made = two.headers[HEADER]
    assert len(made) == 32
    assert int(made, 16) >= 0  # a new random id
    by_message = {line["message"]: line.get("request_id") for line in lines.lines}
    assert by_message == {
        "before one": "ingress-7f3a:1",
        "after one": "ingress-7f3a:1",
        "before two": made,
        "after two": made,
    }
    log.info("outside any request")
    assert "request_id" not in lines.lines[-1]


@pytest.mark.parametrize("given", ["x" * 65, "two words", "forged\nlevel=ERROR", "", "é"], ids=repr)
async def test_an_id_that_is_not_one_is_replaced(given: str, lines: _Lines) -> None:
    async with _client() as http:
        answer = await http.get("/any", headers={HEADER: given.encode()})
    assert answer.headers[HEADER] != given
    assert len(answer.headers[HEADER]) == 32
    assert lines.lines[0]["request_id"] == answer.headers[HEADER]


async def test_the_app_answers_every_request_with_an_id(client: httpx.AsyncClient) -> None:
    ready = await client.get("/readyz", headers={HEADER: "probe-1"})
    unknown = await client.get("/no/such/path")
    assert ready.headers[HEADER] == "probe-1"
    assert len(unknown.headers[HEADER]) == 32
