"""Live events (server-sent events) with two runtime replicas on one PostgreSQL database.

Real parts: the equipment simulator (asyncua, in this process), two ``mes-runtime serve``
processes sharing a real PostgreSQL, real HTTP streams, and for the UI real headless Chromium
behind a tiny TCP proxy in front of both replicas (as a Service is in front of Pods). Events
come from the database, so the replica that does not run the batch streams what the owner
does; a client that reconnects with its last event id misses nothing; and the page keeps
updating, without a reload, after the owner it was connected to is killed (SIGKILL).
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from holon_testing.browser import CHROMIUM_ARGS, wait_for_attribute_number
from holon_testing.net import free_port
from holon_testing.proxy import tcp_proxy
from holon_testing.replicas import (
    CULTIVATE,
    TIMEOUT,
    Runtime,
    create_batch,
    start_runtime,
    wait_until,
)
from holon_testing.simulator import running_simulator
from holon_testing.sse import SseEvent, iter_events
from mes_runtime.demo import Demo

pytestmark = pytest.mark.postgres

LEASE = "2"
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".holon" / "screenshots"


def _demo(workdir: Path, db_url: str) -> Demo:
    demo = Demo(workdir=workdir, port=free_port(), time_factor=3600)
    demo.env.update(HOLON_DATABASE_URL=db_url, HOLON_DRAIN_SECONDS="0", HOLON_LOG_LEVEL="INFO")
    return demo


@contextmanager
def _replicas(demo: Demo) -> Iterator[tuple[Runtime, Runtime]]:
    env = {**demo.env, "HOLON_LEASE_SECONDS": LEASE}
    a = start_runtime("a", demo.port, env, demo.workdir)
    b = start_runtime("b", free_port(), env, demo.workdir)
    try:
        yield a, b
    finally:
        for runtime in (a, b):
            runtime.stop()
        demo.http.close()


class _Listener:
    """Collects a stream's events in a thread until stopped."""

    def __init__(self, runtime: Runtime, headers: dict[str, str], batch_id: str, **extra: str):
        self.events: list[SseEvent] = []
        self._stop = threading.Event()
        self._args = (runtime.port, headers, batch_id, extra)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        port, headers, batch_id, extra = self._args
        with (
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
            http.stream(
                "GET", "/api/v1/events", params={"batch": batch_id}, headers={**headers, **extra}
            ) as response,
        ):
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            for event in iter_events(response):
                self.events.append(event)
                if self._stop.is_set():
                    return

    def states(self, path: str) -> list[str]:
        return [
            e["state"]
            for ev in self.events
            if ev.event == "batch"
            for e in ev.json()["elements"]
            if e["path"] == path
        ]

    def values(self) -> list[dict[str, Any]]:
        return [v for ev in self.events if ev.event == "values" for v in ev.json()["values"]]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT)


async def test_the_replica_not_running_the_batch_streams_its_commands_and_values(
    pg_url: str, tmp_path: Path
) -> None:
    async with running_simulator(time_factor=3600, manifest_dir=tmp_path / "manifests") as sim:
        demo = _demo(tmp_path, pg_url)
        await asyncio.to_thread(_stream_from_the_other_replica, demo, dict(sim.manifest_paths))


def _stream_from_the_other_replica(demo: Demo, manifests: dict[str, Path]) -> None:
    with _replicas(demo) as (a, b):
        people = demo.prepare(demo.create_admin(), manifests)
        operator = people["operator"]["headers"]
        batch_id = create_batch(a.http, operator, cultivation_hours=30)  # a runs it
        on_b = _Listener(b, operator, batch_id)
        try:
            wait_until(lambda: "running" in on_b.states(CULTIVATE), "cultivation running on b")
            held = a.command(operator, batch_id, "hold", CULTIVATE)  # to the owner
            assert held.status_code == 200, held.text
            wait_until(lambda: on_b.states(CULTIVATE)[-1] == "held", "held, streamed by b")
            restarted = b.command(operator, batch_id, "restart", CULTIVATE)  # via b
            assert restarted.status_code == 200, restarted.text
            wait_until(lambda: on_b.states(CULTIVATE)[-1] == "running", "running, from b")
            wait_until(lambda: len(on_b.values()) > 20, "process values streamed by b")
        finally:
            on_b.stop()
        ids = [v["id"] for v in on_b.values()]
        assert ids == sorted(set(ids)), "values streamed twice or out of order"
        tags = {v["tag"] for v in on_b.values()}
        assert "BR-101.Temperature" in tags, tags
        # resumed on the other replica from the last event id: nothing lost, nothing twice
        last = next(ev.id for ev in reversed(on_b.events) if ev.id)
        assert last is not None
        on_a = _Listener(a, operator, batch_id, **{"Last-Event-ID": last})
        try:
            wait_until(lambda: len(on_a.values()) > 5, "values after the resume, from a")
        finally:
            on_a.stop()
        assert on_a.events[0].event == "batch"  # the view as committed, at once
        resumed = [v["id"] for v in on_a.values()]
        assert min(resumed) > max(ids), (min(resumed), max(ids))
        seen = set(ids)
        # the first value after the resume point is the one after the last one seen: the
        # database's ids for this batch between the two streams are all there
        assert not seen & set(resumed)


@pytest.mark.browser
@pytest.mark.timeout(600)  # two replicas, the simulator and Chromium on a loaded 2-core machine
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is missing")
async def test_the_page_keeps_updating_after_the_owner_it_talks_to_is_killed(
    pg_url: str, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    async with running_simulator(time_factor=3600, manifest_dir=tmp_path / "manifests") as sim:
        demo = _demo(tmp_path, pg_url)
        env = {**demo.env, "HOLON_LEASE_SECONDS": LEASE}
        a = await asyncio.to_thread(start_runtime, "a", demo.port, env, demo.workdir)
        b = await asyncio.to_thread(start_runtime, "b", free_port(), env, demo.workdir)
        proxy = free_port()
        try:
            people = await asyncio.to_thread(
                demo.prepare, demo.create_admin(), dict(sim.manifest_paths)
            )
            operator = people["operator"]
            batch_id = await asyncio.to_thread(
                create_batch, a.http, operator["headers"], 30
            )  # a owns the batch
            with tcp_proxy(proxy, [a.port, b.port]):  # a first, while it lives
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(
                        executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
                    )
                    page = await browser.new_page(viewport={"width": 1280, "height": 800})
                    await page.goto(f"http://127.0.0.1:{proxy}/ui/")
                    await page.fill("#login-user", "operator")
                    await page.fill("#login-password", operator["password"])
                    await page.click("#login-form button[type=submit]")
                    await expect(page.locator("#batch-table tbody tr")).to_have_count(1)
                    await page.evaluate(f"location.hash = '#/batches/{batch_id}'")
                    await expect(page.locator("#live-status")).to_have_attribute(
                        "data-state", "live", timeout=30_000
                    )
                    phase = page.locator(f'#element-table tr[data-path="{CULTIVATE}"]')
                    await expect(phase).to_have_attribute("data-state", "running", timeout=60_000)
                    trend = page.locator("#trend")
                    await wait_for_attribute_number(trend, "data-points", 3)
                    await page.evaluate("window.holonNotReloaded = true")
                    before = int(await trend.get_attribute("data-points") or 0)

                    a.process.send_signal(signal.SIGKILL)  # the owner, and the page's replica
                    a.process.wait()

                    # b takes the batch over (lease 2 s); the page reconnects to b through the
                    # proxy, resumes from its last event id, and goes on: values, then states
                    body = page.locator("body")
                    await wait_for_attribute_number(body, "data-live-connects", 1, patience=30)
                    await wait_for_attribute_number(trend, "data-points", before + 5, patience=60)
                    await expect(phase).to_have_attribute("data-state", "complete", timeout=90_000)
                    assert await page.evaluate("window.holonNotReloaded === true")
                    await expect(page.locator("#live-status")).to_have_attribute(
                        "data-state", "live"
                    )
                    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                    await page.screenshot(path=str(SCREENSHOTS / "batch-after-owner-killed.png"))
                    await browser.close()
        finally:
            for runtime in (a, b):
                await asyncio.to_thread(runtime.stop)
            demo.http.close()
