"""The equipment view in real headless Chromium: a module with a missing node is shown
not connected with the node named, and what the manifest reader left out is listed."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest
import uvicorn

from holon_testing.features import EVERY_FEATURE
from holon_testing.net import free_port
from holon_testing.simulator import running_simulator
from mes_runtime.api.app import create_app
from mes_runtime.auth.users import create_user
from mes_runtime.db.migrate import upgrade
from mes_runtime.mtp.manifest import NodeRef, write_manifest
from mes_runtime.settings import Settings
from tests.mes_runtime.mtp.test_presence import with_state_node
from tests.mes_runtime.ui.test_operator_ui import CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is missing"),
]


async def test_equipment_view_names_missing_nodes_and_manifest_warnings(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    url = f"sqlite+aiosqlite:///{tmp_path / 'runtime.db'}"
    upgrade(url)
    settings = Settings(
        database_url=url, data_dir=tmp_path, migrate_on_start=False, **EVERY_FEATURE
    )
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    passwords = {"admin": "adm-" + "x9" * 8, "operator": "op-" + "o5" * 8}
    async with running_simulator(modules=("TK-201",), time_factor=60) as sim:
        task = asyncio.create_task(server.serve())
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                while not server.started:
                    await asyncio.sleep(0.05)
                async with app.state.session_factory() as session, session.begin():
                    for name, password in passwords.items():
                        await create_user(session, username=name, password=password, roles=[name])
                response = await http.post(
                    "/api/v1/auth/token",
                    json={"username": "admin", "password": passwords["admin"]},
                )
                admin = {"Authorization": f"Bearer {response.json()['access_token']}"}
                good = sim.manifests["TK-201"]
                namespace = good.services["Charge"].control["StateCur"].namespace
                missing = NodeRef(namespace, "s=TK-201.Gone.StateCur")
                broken = with_state_node(good, missing, service="Charge")
                text = write_manifest(broken, structure="vendor").decode()
                # One procedure without IsSelfCompleting: imported, with a warning.
                start = text.index('<Attribute Name="IsSelfCompleting"')
                end = text.index("</Attribute>", start) + len("</Attribute>")
                response = await http.post(
                    "/api/v1/equipment",
                    content=(text[:start] + text[end:]).encode(),
                    headers={**admin, "Content-Type": "application/xml"},
                )
                assert response.status_code == 201, response.text

            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
                )
                page = await browser.new_page()
                await page.goto(f"{base}/ui/")
                await page.fill("#login-user", "operator")
                await page.fill("#login-password", passwords["operator"])
                await page.click("#login-form button[type=submit]")
                await page.click("#nav-equipment")

                row = page.locator('#equipment-table tr[data-module="TK-201"]')
                await expect(row).to_have_attribute("data-connected", "false")
                problem = row.locator(".problem")
                await expect(problem).to_contain_text("Charge.StateCur", timeout=30_000)
                await expect(problem).to_contain_text("BadNodeIdUnknown")
                await expect(row.locator(".manifest")).to_contain_text("1.1.0")
                await expect(row.locator("ul.warnings li")).to_contain_text(
                    ["IsSelfCompleting is not declared"]
                )
                await page.screenshot(path=str(tmp_path / "equipment-view.png"), full_page=True)
                await browser.close()
        finally:
            server.should_exit = True
            await task
