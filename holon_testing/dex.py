"""A real OpenID Connect provider for tests: Dex (Apache-2.0), built from its Go module.

The binary is built once by ``hack.cluster.dex`` (``make setup`` does it; the first use here
does it otherwise, with progress on stderr). Each server runs on a free loopback port with a
generated configuration: issuer ``http://127.0.0.1:PORT/dex``, in-memory storage, its own
password database with the given users (bcrypt, as Dex requires), the given clients, and
the password grant switched on so that a test can get tokens without a browser (the UI
test goes through Dex's login page in Chromium).

Dex's password database carries no groups (a user has an email, a user name and an id); a
test that needs the provider's groups maps roles from a claim it does carry (README
"Sign-in with the plant's identity provider").
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import httpx

from holon_testing.net import free_port
from holon_testing.processes import built_tool, stop_group

__all__ = ["Dex", "DexClient", "DexUser", "dex_binary", "dex_server"]

ROOT = Path(__file__).resolve().parent.parent


def dex_binary() -> Path:
    """The cached ``dex``; built now (about a minute, cold) when missing."""
    return built_tool("hack.cluster.dex")


@dataclass(frozen=True)
class DexUser:
    """A user of Dex's password database; they sign in with their email."""

    username: str
    password: str = field(repr=False)
    full_name: str = ""

    @property
    def email(self) -> str:
        return f"{self.username}@plant.test"


@dataclass(frozen=True)
class DexClient:
    client_id: str
    secret: str = field(repr=False)
    redirect_uris: tuple[str, ...] = ()


@dataclass
class Dex:
    """A running Dex; ``issuer`` is what its tokens name in ``iss``."""

    issuer: str
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def metadata(self) -> dict[str, Any]:
        response = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def password_grant(
        self, client: DexClient, user: DexUser, *, scope: str = "openid profile email"
    ) -> dict[str, Any]:
        """Tokens for ``user`` through the resource owner password grant (Dex checks the
        password in its database, as its login page would)."""
        response = httpx.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "password",
                "username": user.email,
                "password": user.password,
                "scope": scope,
            },
            auth=(client.client_id, client.secret),
            timeout=10,
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def id_token(self, client: DexClient, user: DexUser) -> str:
        return str(self.password_grant(client, user)["id_token"])

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        problem = "not started"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                problem = f"exited with {self.process.returncode}"
                break
            try:
                self.metadata()
                return
            except httpx.HTTPError as exc:
                problem = str(exc)
            time.sleep(0.2)
        self.stop()
        tail = self.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"Dex did not become ready ({problem}); log tail:\n{tail}")

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_group(process, grace=5)


def _config(
    port: int,
    users: Sequence[DexUser],
    clients: Sequence[DexClient],
    id_token_ttl: str,
) -> dict[str, Any]:
    return {
        "issuer": f"http://127.0.0.1:{port}/dex",
        "storage": {"type": "memory"},
        "web": {"http": f"127.0.0.1:{port}"},
        "logger": {"level": "info", "format": "text"},
        "expiry": {"idTokens": id_token_ttl, "signingKeys": "6h"},
        "oauth2": {"skipApprovalScreen": True, "passwordConnector": "local"},
        "enablePasswordDB": True,
        "staticPasswords": [
            {
                "email": user.email,
                # cost 10: the least Dex accepts; tests need no more
                "hash": bcrypt.hashpw(user.password.encode(), bcrypt.gensalt(10)).decode(),
                "username": user.username,
                "userID": str(uuid.uuid5(uuid.NAMESPACE_URL, user.email)),
            }
            for user in users
        ],
        "staticClients": [
            {
                "id": client.client_id,
                "secret": client.secret,
                "name": client.client_id,
                "redirectURIs": list(client.redirect_uris),
            }
            for client in clients
        ],
    }


@contextlib.contextmanager
def dex_server(
    *,
    users: Sequence[DexUser],
    clients: Sequence[DexClient],
    id_token_ttl: str = "1h",  # noqa: S107 - a lifetime, not a password
    port: int | None = None,
) -> Iterator[Dex]:
    """Start Dex on a free loopback port (or ``port``, chosen earlier so that a runtime
    could be configured with the issuer first) with these users and clients; stop it
    after."""
    binary = dex_binary()
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="holon-dex-") as tmp:
        directory = Path(tmp)
        config = directory / "config.json"  # JSON is YAML: Dex reads it as its config
        config.write_text(json.dumps(_config(port, users, clients, id_token_ttl)))
        config.chmod(0o600)
        dex = Dex(issuer=f"http://127.0.0.1:{port}/dex", log=directory / "dex.log")
        with dex.log.open("ab") as log:
            dex.process = subprocess.Popen(
                [str(binary), "serve", str(config)],
                cwd=directory,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            dex.wait_ready()
            yield dex
        finally:
            dex.stop()
