"""The operator's HTTP access to the runtime (``upgrade.runtime``) against the real runtime
application (ASGI, no socket): ``installation`` reads the runtime's installation facts as
the upgrade account, signing in again when its token is refused.

The account's Secret is read from a stand-in for the Kubernetes client (one ``get``): the
real API server's part is tested in tests/e2e/test_operator_upgrade_io.py.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from mes_operator.builders import ModuleContext
from mes_operator.kube.resources import Secret
from mes_operator.upgrade.runtime import Runtime, RuntimeUnavailableError

import mes_runtime
from tests.conftest import ApiUser, MakeUser

MODULE = ModuleContext.from_body(
    {
        "metadata": {"name": "batch", "namespace": "plant", "uid": "u-1", "generation": 1},
        "spec": {"module": "batch-execution", "version": "1.0.0", "database": {}},
    }
)


@dataclass
class SecretStandIn:
    """Answers ``get(Secret, name, namespace=...)`` with the account's username and password."""

    account: ApiUser
    asked: list[tuple[str, str]]

    async def get(self, kind: type[Secret], name: str, *, namespace: str) -> Secret:
        self.asked.append((namespace, name))
        data = {"username": self.account.username, "password": self.account.password}
        return Secret(
            metadata=ObjectMeta(name=name, namespace=namespace),
            data={key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
        )


@pytest.fixture
async def runtime(app: FastAPI) -> AsyncIterator[Runtime]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport) as http:
        yield Runtime(http=http)


def _kube(account: ApiUser) -> tuple[AsyncClient, SecretStandIn]:
    stand_in = SecretStandIn(account=account, asked=[])
    return cast(AsyncClient, stand_in), stand_in


async def test_installation_is_read_as_the_upgrade_account(
    runtime: Runtime, make_user: MakeUser
) -> None:
    kube, secret = _kube(await make_user("upgrade"))
    facts: dict[str, Any] = await runtime.installation(kube, MODULE)
    assert facts["version"] == mes_runtime.__version__
    assert facts["schema"]["atHeads"] is True
    assert facts["settingsDigest"].startswith("sha256:")
    assert secret.asked == [("plant", "batch-upgrade-account")]
    await runtime.installation(kube, MODULE)  # the token is kept: no second sign-in
    assert len(secret.asked) == 1


async def test_a_refused_token_signs_in_again(runtime: Runtime, make_user: MakeUser) -> None:
    kube, secret = _kube(await make_user("upgrade"))
    runtime._tokens[("plant", "batch")] = "revoked-or-expired"
    facts = await runtime.installation(kube, MODULE)
    assert facts["schema"]["compatible"] is True
    assert len(secret.asked) == 1
    assert runtime._tokens[("plant", "batch")] != "revoked-or-expired"


async def test_an_account_without_the_permission_is_an_error(
    runtime: Runtime, make_user: MakeUser
) -> None:
    kube, _ = _kube(await make_user("admin"))
    with pytest.raises(RuntimeUnavailableError, match="/api/v1/upgrade/installation: HTTP 403"):
        await runtime.installation(kube, MODULE)
