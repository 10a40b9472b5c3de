"""The batch view's trend in real headless Chromium: history downsampled by the server, then
live values from the event stream, with the phase timeline and limit bands; no polling.

Same live runtime as ``test_operator_ui`` (uvicorn on loopback, SQLite, the OPC UA simulator
running the demo batch). The screenshot at 1280x800 goes to ``.holon/screenshots/``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from holon_testing.browser import CHROMIUM_ARGS, needs_chromium, wait_for_attribute_number

from .test_operator_ui import PHASE, runtime

__all__ = ["runtime"]  # the fixture, shared with the operator UI's tests

pytestmark = needs_chromium

SCREENSHOTS = Path(__file__).resolve().parents[3] / ".holon" / "screenshots"


async def test_the_trend_shows_history_and_updates_live_without_polling(
    runtime: tuple[str, dict[str, str]],
) -> None:
    from playwright.async_api import async_playwright, expect

    base, passwords = runtime
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        await page.goto(f"{base}/ui/")
        await page.fill("#login-user", "operator")
        await page.fill("#login-password", passwords["operator"])
        await page.click("#login-form button[type=submit]")
        await page.locator("#batch-table tbody tr a").first.click()

        await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
        phase = page.locator(f'#element-table tr[data-path="{PHASE}"]')
        await expect(phase).to_have_attribute("data-state", "running", timeout=60_000)
        trend = page.locator("#trend")
        await expect(trend).to_have_attribute("data-tag", "BR-101.Temperature")
        before = await wait_for_attribute_number(trend, "data-points", 0)
        polled_from = len(requests)
        # live: new points arrive through the stream, the canvas is redrawn
        await wait_for_attribute_number(trend, "data-points", before + 10, patience=30)
        # the timeline has the phases and the limit band of the running cultivation
        timeline = await page.evaluate("trend.timeline.phases.map(p => [p.name, p.limits.length])")
        assert ["run-fedbatch", 3] in timeline, timeline
        await page.select_option("#trend-tag", "BR-101.pH")
        await expect(trend).to_have_attribute("data-tag", "BR-101.pH")
        await page.select_option("#trend-tag", "BR-101.Temperature")

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / "batch-trend-1280x800.png"))
        await browser.close()
    batch_reads = [u for u in requests[polled_from:] if re.search(r"/api/v1/batches/[^/?]+$", u)]
    assert not batch_reads, f"the batch view polled: {batch_reads}"
    assert any("/api/v1/events?" in u for u in requests), requests
    assert all(url.startswith(base) for url in requests)
