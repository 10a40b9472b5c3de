"""Sign-in through the plant's identity provider in the UI (issue #13, item 2): real
headless Chromium, a real runtime process and a real provider (Dex, built from its Go
module), the authorization code flow with PKCE. Local sign-in is switched off, so the
page offers the provider only; a user whose groups map to no role sees why on the page."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from holon_testing.browser import CHROMIUM_ARGS, needs_chromium
from holon_testing.dex import DexClient, DexUser, dex_server
from holon_testing.net import free_port
from holon_testing.runtime_process import serving

pytestmark = needs_chromium

QA = DexUser("qa-quinn", "dex-password-of-quinn-8c1e")
NOBODY = DexUser("vis-victor", "dex-password-of-victor-3a7f")


async def test_sign_in_through_the_identity_provider_in_chromium(tmp_path: Path) -> None:
    from playwright.async_api import Page, async_playwright, expect

    dex_port = free_port()
    client = DexClient("holon-ui", "ui-client-secret-5e8d1b")
    with serving(
        tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'runtime.db'}",
        data_dir=str(tmp_path),
        local_login="false",
        oidc_issuer=f"http://127.0.0.1:{dex_port}/dex",
        oidc_client_id=client.client_id,
        oidc_client_secret=client.secret,
        oidc_username_claim="name",
        oidc_groups_claim="email",  # Dex's password database has no groups
        oidc_role_map=json.dumps({QA.email: ["qa"]}),
    ) as runtime:
        callback = f"{runtime.url}/api/v1/auth/oidc/callback"
        registered = DexClient(client.client_id, client.secret, (callback,))
        with dex_server(users=[QA, NOBODY], clients=[registered], port=dex_port):
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
                )

                async def sign_in(page: Page, user: DexUser) -> None:
                    await page.goto(f"{runtime.url}/ui/")
                    await expect(page.locator("#login-form")).to_be_hidden()  # local: off
                    await page.click("#login-oidc-link")
                    await page.fill("#login", user.email)  # Dex's own sign-in page
                    await page.fill("#password", user.password)
                    await page.click("#submit-login")

                page = await browser.new_page()
                await sign_in(page, QA)
                await expect(page.locator("#who-name")).to_have_text(QA.username)
                await expect(page.locator("#list-view")).to_be_visible()
                assert "signed-in" not in page.url  # the token left the address at once
                role = await page.evaluate(
                    "fetch('/api/v1/auth/me', {headers: {Authorization: 'Bearer ' + "
                    "sessionStorage.getItem('holon.token')}}).then((r) => r.json())"
                )
                assert (role["username"], role["roles"]) == (QA.username, ["qa"])

                refused = await browser.new_page()  # a new page: its own sessionStorage
                await sign_in(refused, NOBODY)
                await expect(refused.locator("#login-oidc-error")).to_contain_text("maps to a role")
                await expect(refused.locator("#who")).to_be_hidden()
                await browser.close()
