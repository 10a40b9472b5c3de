"""The review page in real headless Chromium: QA opens the review of a finished batch, sees
the open exception, cannot release (button disabled, the reason shown), closes it with an
electronic signature, releases with another, and the batch is locked (no form left; the
API refuses a second decision)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import uvicorn

from holon_testing.batch_record import PHASES, write_finished_batch
from holon_testing.browser import CHROMIUM_ARGS, needs_chromium
from holon_testing.features import EVERY_FEATURE
from holon_testing.net import free_port
from mes_runtime.api.app import create_app
from mes_runtime.auth.users import create_user
from mes_runtime.db.migrate import upgrade
from mes_runtime.settings import Settings

pytestmark = needs_chromium

PASSWORD = "qa-review-" + "k7" * 6


async def test_qa_closes_the_open_exception_then_releases(
    tmp_path: Path, fast_password_hashing: None
) -> None:
    from playwright.async_api import async_playwright, expect

    url = f"sqlite+aiosqlite:///{tmp_path / 'runtime.db'}"
    upgrade(url)
    settings = Settings(
        database_url=url, data_dir=tmp_path, migrate_on_start=False, **EVERY_FEATURE
    )
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    base = f"http://127.0.0.1:{port}"
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        async with app.state.session_factory() as session, session.begin():
            await create_user(
                session, username="qa1", password=PASSWORD, roles=["qa"], full_name="Quinn Auditor"
            )
        batch = await write_finished_batch(
            app.state.engine, app.state.journal, entries=40, values=400
        )
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
            )
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(f"{base}/ui/")
            await page.fill("#login-user", "qa1")
            await page.fill("#login-password", PASSWORD)
            await page.click("#login-form button[type=submit]")
            await expect(page.locator("#list-view")).to_be_visible()
            await page.goto(f"{base}/ui/#/review/{batch.batch_id}")

            opened = page.locator(f'#review-open li[data-exception="{batch.open_exception}"]')
            await expect(opened).to_contain_text("BR-101.Temperature = 38.4 degC")
            await expect(page.locator("#review-open-count")).to_have_text("(1)")
            await expect(page.locator("#decision-submit")).to_be_disabled()
            await expect(page.locator("#decision-blocked")).to_have_text(
                "Release is refused while 1 exception is open."
            )
            timeline = page.locator("#review-timeline tbody tr")
            await expect(timeline).to_have_count(len(PHASES))
            await expect(page.locator("#review-manual")).to_contain_text("foam check")
            await page.screenshot(path=str(tmp_path / "review-open.png"), full_page=True)

            await opened.locator("[name=reason]").fill("probe drift; product unaffected")
            await opened.locator("[name=password]").fill(PASSWORD)
            await opened.locator("button[type=submit]").click()
            closed = page.locator(f'#review-closed li[data-exception="{batch.open_exception}"]')
            await expect(closed).to_contain_text("closed by qa1 (approved)")
            await expect(page.locator("#review-open")).to_have_text("nothing")
            await expect(page.locator("#decision-submit")).to_be_enabled()

            await page.fill("#decision-comment", "reviewed by exception")
            await page.fill("#decision-password", PASSWORD)
            await page.click("#decision-submit")
            decision = page.locator("#review-decision")
            await expect(decision).to_contain_text("RELEASED by qa1 (approved)")
            await expect(decision).to_contain_text("The batch is locked.")
            await expect(page.locator("#decision-form")).to_be_hidden()
            await expect(page.locator("#review-signatures li")).to_have_count(2)
            await expect(page.locator("#review-signatures")).to_contain_text(
                "Quinn Auditor (qa1), approved"
            )
            await page.screenshot(path=str(tmp_path / "review-released.png"), full_page=True)
            await browser.close()

        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            token = (
                await http.post(
                    "/api/v1/auth/token", json={"username": "qa1", "password": PASSWORD}
                )
            ).json()["access_token"]
            again = await http.post(
                f"/api/v1/review/{batch.batch_id}/decision",
                json={
                    "decision": "rejected",
                    "comment": "changed my mind",
                    "signature": {"password": PASSWORD, "meaning": "rejected"},
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            assert again.status_code == 409
    finally:
        server.should_exit = True
        await task
