"""The operator UI in real headless Chromium (Debian's package) against a live runtime.

A real uvicorn server on loopback serves the API and the UI's local assets; the equipment is
the OPC UA simulator; the database a SQLite file. The browser signs in, opens the batch,
and drives it only through the buttons the UI offers.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from holon_testing.browser import CHROMIUM_ARGS, needs_chromium
from holon_testing.features import EVERY_FEATURE
from holon_testing.net import free_port
from holon_testing.simulator import running_simulator
from mes_runtime.api.app import create_app
from mes_runtime.auth.users import create_user
from mes_runtime.db.migrate import upgrade
from mes_runtime.library import load_template
from mes_runtime.settings import Settings

pytestmark = needs_chromium

PHASE = "procedure/BR-UP/cultivation/run-fedbatch"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A live runtime with equipment, an approved demo recipe and users; yields (url, passwords)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'runtime.db'}"
    upgrade(url)
    settings = Settings(
        database_url=url, data_dir=tmp_path, migrate_on_start=False, **EVERY_FEATURE
    )
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    passwords = {"admin": "adm-" + "x9" * 8, "qa": "qa-" + "q7" * 8, "operator": "op-" + "o5" * 8}
    async with running_simulator(time_factor=3600) as sim:
        task = asyncio.create_task(server.serve())
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            while not server.started:
                await asyncio.sleep(0.05)
            async with app.state.session_factory() as session, session.begin():
                for name, password in passwords.items():
                    await create_user(session, username=name, password=password, roles=[name])
            tokens = {}
            for name, password in passwords.items():
                response = await http.post(
                    "/api/v1/auth/token", json={"username": name, "password": password}
                )
                tokens[name] = {"Authorization": f"Bearer {response.json()['access_token']}"}
            for name in sim.endpoints:
                response = await http.post(
                    "/api/v1/equipment",
                    content=sim.server.manifest_bytes(name),
                    headers={**tokens["admin"], "Content-Type": "application/xml"},
                )
                assert response.status_code == 201, response.text
            recipe = load_template("mab-fedbatch-demo")
            response = await http.post(
                "/api/v1/recipes", json=recipe.to_canonical_data(), headers=tokens["admin"]
            )
            assert response.status_code == 201, response.text
            response = await http.post(
                f"/api/v1/recipes/{recipe.header.name}/{recipe.header.version}/approve",
                json={"password": passwords["qa"], "meaning": "approved"},
                headers=tokens["qa"],
            )
            assert response.status_code == 200, response.text
            async with asyncio.timeout(30):
                while True:  # equipment connects asynchronously after import
                    response = await http.post(
                        "/api/v1/batches",
                        json={"recipe": recipe.header.name, "overrides": {"CultDuration": 30}},
                        headers=tokens["operator"],
                    )
                    if response.status_code == 201:
                        break
                    await asyncio.sleep(0.3)
        try:
            yield base, passwords
        finally:
            server.should_exit = True
            await task


async def test_operator_signs_in_and_drives_a_phase_with_the_offered_buttons(
    runtime: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    base, passwords = runtime
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        page = await browser.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        await page.goto(f"{base}/ui/")

        await page.fill("#login-user", "operator")
        await page.fill("#login-password", passwords["operator"])
        await page.click("#login-form button[type=submit]")

        rows = page.locator("#batch-table tbody tr")
        await expect(rows).to_have_count(1)
        await rows.first.locator("a").click()

        phase = page.locator(f'#element-table tr[data-path="{PHASE}"]')
        await expect(phase).to_have_attribute("data-state", "running", timeout=60_000)
        # Only the commands the state allows are offered: a running phase can be held,
        # paused, stopped or aborted, never started, restarted or resumed.
        offered = await phase.locator("button").evaluate_all(
            "buttons => buttons.map(b => b.dataset.command)"
        )
        assert sorted(offered) == ["abort", "hold", "pause", "stop"]
        temperature = page.locator('#value-table tr[data-tag="BR-101.Temperature"]')
        await expect(temperature).to_have_count(1)

        await phase.locator('button[data-command="hold"]').click()
        await expect(phase).to_have_attribute("data-state", "held", timeout=15_000)
        offered = await phase.locator("button").evaluate_all(
            "buttons => buttons.map(b => b.dataset.command)"
        )
        assert sorted(offered) == ["abort", "restart", "stop"]

        await phase.locator('button[data-command="restart"]').click()
        await expect(phase).to_have_attribute("data-state", "running", timeout=15_000)

        # The operator may not abort (segregation of duties): the server refuses and the UI
        # says why, and nothing changes.
        await phase.locator('button[data-command="abort"]').click()
        await expect(page.locator("#command-error")).to_contain_text("batch.command.abort")
        await expect(phase).to_have_attribute("data-state", "running")

        await page.screenshot(path=str(tmp_path / "batch-view.png"), full_page=True)
        await browser.close()
    # Air-gapped plants: every request the page made stayed on the runtime itself.
    assert requests
    assert all(url.startswith(base) for url in requests), [u for u in requests if base not in u]
