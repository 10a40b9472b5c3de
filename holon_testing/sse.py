"""Reading server-sent events (``text/event-stream``) as a browser would, for the tests and
the fan-out benchmark: ``id``, ``event`` and ``data`` fields, comments ignored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["SseEvent", "aiter_events", "iter_events", "parse_lines"]


@dataclass(frozen=True, slots=True)
class SseEvent:
    id: str | None
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class _Parser:
    def __init__(self) -> None:
        self.id: str | None = None
        self.event = "message"
        self.data: list[str] = []

    def feed(self, line: str) -> SseEvent | None:
        if not line:
            if not self.data:
                self.event = "message"
                return None
            found = SseEvent(self.id, self.event, "\n".join(self.data))
            self.event, self.data = "message", []
            return found
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            self.id = value
        elif name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        return None


def parse_lines(lines: Iterable[str]) -> Iterator[SseEvent]:
    parser = _Parser()
    for line in lines:
        if (event := parser.feed(line)) is not None:
            yield event


def iter_events(response: httpx.Response) -> Iterator[SseEvent]:
    """The events of a streaming response (``client.stream("GET", ...)``)."""
    yield from parse_lines(response.iter_lines())


async def aiter_events(response: httpx.Response) -> AsyncIterator[SseEvent]:
    parser = _Parser()
    async for line in response.aiter_lines():
        if (event := parser.feed(line)) is not None:
            yield event
