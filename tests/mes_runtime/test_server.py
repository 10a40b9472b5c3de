"""``mes-runtime serve``: a real server process that migrates a fresh database, then serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_migrates_then_serves_and_says_how_to_create_an_admin(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "HOLON_DATA_DIR": str(tmp_path / "data"),
        "HOLON_LOG_LEVEL": "INFO",
    }
    env.pop("HOLON_DATABASE_URL", None)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mes_runtime",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        try:
            ready = None
            deadline = time.monotonic() + 60  # generous: a wait, not a timing assertion
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            assert ready is not None, log.read_text()
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": "ok", "migrations": "ok"}
            docs = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5)
            assert "/api/v1/recipes" in docs.json()["paths"]
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert (tmp_path / "data" / "runtime.db").exists()
    assert "mes-runtime create-admin" in log.read_text()
