"""The runtime's upgrade endpoints, as the operator's machine account.

The account is a runtime user with role ``upgrade`` (permission ``upgrade.manage``): its
``username`` and ``password`` are the keys of a Secret in the module's namespace
(``spec.upgradeStrategy.accountSecret``, default ``<module>-upgrade-account``). The
operator signs in with ``POST /api/v1/auth/token`` and keeps the bearer token in memory
until the runtime refuses it (401), then signs in again. Neither the password nor the
token is ever logged or put in an error message.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from lightkube import ApiError, AsyncClient

from mes_operator.builders.context import ModuleContext
from mes_operator.kube.resources import Secret

__all__ = ["DEFAULT_URL", "Runtime", "RuntimeUnavailableError", "account_secret_name"]

DEFAULT_URL = "http://{name}.{namespace}.svc"
"""The module's Service: every replica answers the same (the grant is in the database)."""


class RuntimeUnavailableError(Exception):
    """The runtime could not be asked (unreachable, refused the account, bad answer)."""


class NotServedError(RuntimeUnavailableError):
    """The runtime answered that it does not serve the path (404): a version older than
    the question, so waiting for it changes nothing."""


def account_secret_name(ctx: ModuleContext) -> str:
    """The Secret holding the machine account's ``username`` and ``password``."""
    return ctx.spec.upgrade_strategy.account_secret or f"{ctx.name}-upgrade-account"


async def _credentials(client: AsyncClient, ctx: ModuleContext) -> dict[str, str]:
    name = account_secret_name(ctx)
    try:
        secret = await client.get(Secret, name, namespace=ctx.namespace)
    except ApiError as exc:
        raise RuntimeUnavailableError(
            f"cannot read the upgrade account's Secret {name}: {exc.status.code}"
        ) from None
    data = secret.data or {}
    try:
        return {key: base64.b64decode(data[key]).decode() for key in ("username", "password")}
    except (KeyError, ValueError):
        raise RuntimeUnavailableError(
            f"Secret {name} must hold the keys username and password"
        ) from None


@dataclass(kw_only=True)
class Runtime:
    """HTTP access to each module's runtime; one per operator process."""

    http: httpx.AsyncClient
    url: str = DEFAULT_URL
    """Base URL template with ``{name}`` and ``{namespace}``."""
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def base(self, ctx: ModuleContext) -> str:
        return self.url.format(name=ctx.name, namespace=ctx.namespace).rstrip("/")

    async def _token(self, client: AsyncClient, ctx: ModuleContext) -> str:
        key = (ctx.namespace, ctx.name)
        if key in self._tokens:
            return self._tokens[key]
        answer = await self._send(
            "POST",
            f"{self.base(ctx)}/api/v1/auth/token",
            None,
            json=await _credentials(client, ctx),
        )
        if answer.status_code != 200:
            raise RuntimeUnavailableError(
                f"the runtime refused the upgrade account's sign-in ({answer.status_code})"
            )
        token = str(answer.json()["access_token"])
        self._tokens[key] = token
        return token

    async def _send(
        self, method: str, url: str, token: str | None, json: Any = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            return await self.http.request(method, url, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise RuntimeUnavailableError(f"{method} {url}: {type(exc).__name__}") from None

    async def call(
        self,
        client: AsyncClient,
        ctx: ModuleContext,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One authenticated call; signs in again once when the token is refused."""
        url = f"{self.base(ctx)}{path}"
        for _ in range(2):
            answer = await self._send(method, url, await self._token(client, ctx), json=body)
            if answer.status_code == 401:
                self._tokens.pop((ctx.namespace, ctx.name), None)
                continue
            if answer.status_code == 404:
                raise NotServedError(f"{method} {path}: HTTP 404 (not served by this version)")
            if answer.status_code >= 400:
                raise RuntimeUnavailableError(f"{method} {path}: HTTP {answer.status_code}")
            data: dict[str, Any] = answer.json()
            return data
        raise RuntimeUnavailableError(f"{method} {path}: the runtime refused the account's token")

    async def installation(self, client: AsyncClient, ctx: ModuleContext) -> dict[str, Any]:
        """The runtime's installation facts for IQ (``GET /api/v1/upgrade/installation``):
        ``version``, ``schema`` (``dialect``, ``current``, ``heads``, ``atHeads``,
        ``compatible``), ``settings`` with ``settingsDigest``, ``capabilities`` and
        ``equipment`` (each ``name`` and manifest ``digest``)."""
        return await self.call(client, ctx, "GET", "/api/v1/upgrade/installation")

    async def handover(
        self, client: AsyncClient, ctx: ModuleContext, *, since: str
    ) -> dict[str, Any]:
        """What an upgrade did to running batches since ``since`` (RFC 3339):
        ``GET /api/v1/upgrade/handover`` - the grant's ``switches``, each batch's
        ``takeovers`` with ``gap_seconds``, ``records_before_switch``, ``head_seq`` and the
        journal's ``chain`` verified."""
        path = f"/api/v1/upgrade/handover?since={quote(since, safe='')}"
        return await self.call(client, ctx, "GET", path)

    def forget(self, namespace: str, name: str) -> None:
        """Drop a module's token (the module is gone)."""
        self._tokens.pop((namespace, name), None)
