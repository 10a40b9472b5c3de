"""A new user sets their own password in the UI (real headless Chromium, a real runtime
process): with the one-time set-up token the administrator handed over, under the
password rules, then signs in with it and changes it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from holon_testing.browser import CHROMIUM_ARGS, needs_chromium
from holon_testing.runtime_process import serving

pytestmark = needs_chromium

PASSWORD = "violet skies over the plant"
NEW_PASSWORD = "a second phrase, just as long"


def _enrol(database_url: str) -> str:
    made = subprocess.run(
        [sys.executable, "-m", "mes_runtime", "create-user", "--username", "olga",
         "--full-name", "Olga Operator", "--role", "operator", "--database-url", database_url],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return made.stdout.strip().splitlines()[-1]


async def test_a_new_user_sets_then_changes_their_password_in_the_ui(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    url = f"sqlite+aiosqlite:///{tmp_path / 'runtime.db'}"
    token = _enrol(url)
    with serving(tmp_path, database_url=url, data_dir=str(tmp_path)) as runtime:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
            )
            page = await browser.new_page()
            await page.goto(f"{runtime.url}/ui/")
            await page.click("#password-panel summary")

            async def save(current: str, new: str, *, setup: bool) -> None:
                await page.fill("#pw-user", "olga")
                await page.fill("#pw-token" if setup else "#pw-current", current)
                await page.fill("#pw-new", new)
                await page.click("#password-form button[type=submit]")

            await save(token, "123456789012345", setup=True)
            await expect(page.locator("#pw-error")).to_contain_text("repetition or a run")
            await save(token, PASSWORD, setup=True)
            await expect(page.locator("#pw-done")).to_contain_text("Password saved")

            await page.fill("#login-password", PASSWORD)  # the user name is filled in
            await page.click("#login-form button[type=submit]")
            await expect(page.locator("#who-name")).to_contain_text("olga")
            await page.click("#logout")

            await expect(page.locator("#password-panel")).to_have_attribute("open", "")
            await save(PASSWORD, NEW_PASSWORD, setup=False)
            await expect(page.locator("#pw-done")).to_contain_text("Password saved")
            await page.fill("#login-password", NEW_PASSWORD)
            await page.click("#login-form button[type=submit]")
            await expect(page.locator("#who-name")).to_contain_text("olga")
            await browser.close()
