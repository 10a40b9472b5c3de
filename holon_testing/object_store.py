"""A real S3-compatible object store for tests: SeaweedFS (`weed server -s3`, Apache-2.0).

The binary is built once from its Go module by ``hack.cluster.seaweedfs`` (``make setup`` does
it; the first use here does it otherwise, with progress on stderr). Each server runs in a
temporary directory on free loopback ports, with one identity (random access and secret
keys) and no anonymous access, telemetry off.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from holon_testing.net import free_ports
from holon_testing.processes import built_tool, stop_group
from mes_runtime.backup.s3 import S3Config, S3Error, StoreClient

__all__ = ["S3Server", "seaweedfs_server", "weed_binary"]

ROOT = Path(__file__).resolve().parent.parent


def weed_binary() -> Path:
    """The cached ``weed``; built now (minutes, cold) when missing."""
    return built_tool("hack.cluster.seaweedfs")


@dataclass
class S3Server:
    """A running ``weed server -s3``; ``stop()``/``start()`` keep its data and ports."""

    endpoint: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    directory: Path
    command: list[str] = field(repr=False)
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> S3Config:
        return S3Config(self.endpoint, self.access_key, self.secret_key)

    def client(self) -> StoreClient:
        return StoreClient(self.config, timeout=10.0)

    def env(self, bucket: str | None = None) -> dict[str, str]:
        """The ``HOLON_BACKUP_S3_*`` variables ``mes-runtime backup`` reads."""
        env = {
            "HOLON_BACKUP_S3_ENDPOINT": self.endpoint,
            "HOLON_BACKUP_S3_ACCESS_KEY": self.access_key,
            "HOLON_BACKUP_S3_SECRET_KEY": self.secret_key,
        }
        if bucket is not None:
            env["HOLON_BACKUP_S3_BUCKET"] = bucket
        return env

    def start(self, timeout: float = 90.0) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        """Ready = a signed write and read of a probe object succeed (filer and volume up)."""
        deadline = time.monotonic() + timeout
        problem = "not started"
        with self.client() as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    break
                try:
                    with contextlib.suppress(S3Error):
                        client.create_bucket("holon-probe")
                    client.put_bytes("holon-probe", "ready", b"ok")
                    if client.get_bytes("holon-probe", "ready") == b"ok":
                        return
                except S3Error as exc:
                    problem = str(exc)
                time.sleep(0.5)
        self.stop()
        tail = self.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"SeaweedFS did not become ready ({problem}); log tail:\n{tail}")

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_group(process, grace=3)


@contextlib.contextmanager
def seaweedfs_server(host: str = "127.0.0.1") -> Iterator[S3Server]:
    """Start a SeaweedFS master + volume + filer + S3 gateway, all listening on ``host``
    only (loopback, or the real node's bridge address for Pods); stop and remove it after."""
    weed = weed_binary()
    root = Path(tempfile.mkdtemp(prefix="holon-s3-"))
    access, secret = secrets.token_hex(10), secrets.token_urlsafe(30)
    identities = {
        "identities": [
            {
                "name": "holon",
                "credentials": [{"accessKey": access, "secretKey": secret}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    config = root / "s3.json"
    config.write_text(json.dumps(identities))
    config.chmod(0o600)
    (root / "data").mkdir()
    names = (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
        "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc",
    )  # fmt: skip
    ports = dict(zip(names, free_ports(len(names), host), strict=True))
    command = [
        str(weed),
        "server",
        f"-dir={root / 'data'}",
        f"-ip={host}",
        f"-ip.bind={host}",
        *(f"-{name}={port}" for name, port in ports.items()),
        "-s3",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
    ]
    server = S3Server(
        endpoint=f"http://{host}:{ports['s3.port']}",
        access_key=access,
        secret_key=secret,
        directory=root,
        command=command,
        log=root / "weed.log",
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
