"""Benchmark: server-sent events fan-out (``GET /api/v1/events``).

A runtime (uvicorn on loopback, SQLite) with one batch; ``clients`` HTTP streams watch it
while process values are stored ``rate`` times a second as the runtime stores them
(``process_values``: commit, then the doorbell rings, the hub reads once and fans out).
Each stored value carries its wall-clock store time, so every client measures the latency
from commit to its event. Reported: events delivered per second over all clients, and the
latency p50/p95; baseline: the same with one client. Clients run in the server's own
process and event loop (they share its CPU: the numbers are a floor).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from bench.database import add_batch, migrate, sqlite_url
from bench.progress import Progress
from bench.results import Row, median, percentile
from holon_testing.net import free_port
from holon_testing.sse import aiter_events
from mes_runtime.api.app import create_app
from mes_runtime.auth.users import create_user
from mes_runtime.db.models import Batch
from mes_runtime.domain.control_recipe import ControlRecipe
from mes_runtime.kernel.events import ProcessSample
from mes_runtime.library import load_template
from mes_runtime.settings import Settings

__all__ = ["NAME", "FanoutSize", "run"]

NAME = "live"
BATCH = "B-LIVE"
PASSWORD = "bench-" + "r4" * 8


@dataclass(frozen=True, slots=True)
class FanoutSize:
    clients: int
    rate: float  # stores per second
    seconds: float


FULL = FanoutSize(clients=100, rate=10, seconds=20)
QUICK = FanoutSize(clients=5, rate=5, seconds=2)


@contextlib.asynccontextmanager
async def _runtime(tmp: Path) -> AsyncIterator[tuple[str, object, dict[str, str]]]:
    url = sqlite_url(tmp, "live.db")
    await migrate(url)
    settings = Settings(database_url=url, data_dir=tmp, migrate_on_start=False)
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.05)
        await _add_demo_batch(app)
        async with app.state.session_factory() as session, session.begin():
            await create_user(session, username="viewer", password=PASSWORD, roles=["operator"])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            response = await http.post(
                "/api/v1/auth/token", json={"username": "viewer", "password": PASSWORD}
            )
            response.raise_for_status()
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        yield f"http://127.0.0.1:{port}", app, headers
    finally:
        server.should_exit = True
        await task


async def _add_demo_batch(app: object) -> None:
    """A batch of the demo recipe (its view is what every ``batch`` event carries)."""
    state = app.state  # type: ignore[attr-defined]
    await add_batch(state.engine, BATCH)
    master = load_template("mab-fedbatch-demo")
    bindings = {"TK": "TK-201", "BR": "BR-101", "CH": "CH-301"}
    control = ControlRecipe.from_master(master, batch_id=BATCH, bindings=bindings)
    async with state.session_factory() as session, session.begin():
        row = await session.get(Batch, BATCH)
        row.control_recipe = control.to_dict()
        row.bindings = bindings


async def _client(
    base: str, headers: dict[str, str], latencies: list[float], ready: asyncio.Event
) -> int:
    received = 0
    async with (
        httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30, read=None)) as http,
        http.stream("GET", "/api/v1/events", params={"batch": BATCH}, headers=headers) as stream,
    ):
        async for event in aiter_events(stream):
            if event.event == "batch":
                ready.set()
                continue
            now = time.time()
            for value in event.json()["values"]:
                latencies.append((now - value["value"]) * 1000)
            received += 1
    return received


async def _measure(
    base: str, app: object, headers: dict[str, str], size: FanoutSize
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    readies = [asyncio.Event() for _ in range(size.clients)]
    clients = [asyncio.create_task(_client(base, headers, latencies, ready)) for ready in readies]
    try:
        async with asyncio.timeout(60):
            for ready in readies:
                await ready.wait()
        recorder = app.state.recorder  # type: ignore[attr-defined]
        stores = int(size.rate * size.seconds)
        started = time.monotonic()
        for i in range(stores):
            sample = ProcessSample("BR-101", "Temperature", time.time(), "s")
            await recorder.process_values(batch_id=BATCH, samples=[sample])
            pause = started + (i + 1) / size.rate - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
        elapsed = time.monotonic() - started
        await asyncio.sleep(1.0)  # the last events on their way (counted, not timed)
    finally:
        for task in clients:
            task.cancel()
        for task in clients:
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await task
    return len(latencies) / elapsed, latencies, stores


async def run(*, quick: bool = False, progress: Progress | None = None) -> list[Row]:
    size = QUICK if quick else FULL
    say = progress or Progress(NAME, enabled=False)
    with tempfile.TemporaryDirectory(prefix="holon-bench-live-") as tmp:
        async with _runtime(Path(tmp)) as (base, app, headers):
            one = FanoutSize(clients=1, rate=size.rate, seconds=size.seconds)
            _, base_latency, _ = await _measure(base, app, headers, one)
            say(f"1 client: p95 {percentile(base_latency, 95):.1f} ms")
            rate, latencies, stores = await _measure(base, app, headers, size)
            p95 = percentile(latencies, 95)
            say(f"{size.clients} clients: {rate:,.0f} values/s, p95 {p95:.1f} ms")
    counts = {"clients": size.clients, "stores": stores, "delivered": len(latencies)}
    label = "one client, same rate"
    return [
        Row(
            NAME,
            f"SSE fan-out, {size.clients} clients x {size.rate:g} stores/s: delivered",
            rate,
            "events/s",
            counts=counts,
            note=f"expected {size.clients * size.rate:,.0f}/s",
        ),
        Row(
            NAME,
            f"SSE fan-out, {size.clients} clients: commit -> event latency p95",
            percentile(latencies, 95),
            "ms",
            baseline=percentile(base_latency, 95),
            baseline_label=label,
            counts=counts,
            note=f"p50 {median(latencies):.1f} ms (one client: {median(base_latency):.1f} ms)",
        ),
    ]
