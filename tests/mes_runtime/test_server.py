"""``mes-runtime serve``: a real server process that migrates a fresh database, then serves,
and on SIGTERM/SIGINT drains (readiness false, ``Connection: close``) before a graceful
shutdown that lets in-flight requests finish and exits 0."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from holon_testing.runtime_process import RuntimeProcess as Runtime
from holon_testing.runtime_process import serving
from mes_runtime.api.app import create_app
from mes_runtime.api.drain import Drain
from mes_runtime.server import DrainingServer
from mes_runtime.settings import Settings


def draining_runtime(
    tmp_path: Path, template: Path, *, drain_seconds: float
) -> AbstractContextManager[Runtime]:
    """The runtime on a copy of a migrated SQLite file (no migration at start: faster)."""
    database = tmp_path / "runtime.db"
    shutil.copyfile(template, database)
    return serving(
        tmp_path,
        database_url=f"sqlite+aiosqlite:///{database}",
        data_dir=str(tmp_path / "data"),
        migrate_on_start="false",
        drain_seconds=str(drain_seconds),
        shutdown_timeout_seconds="20",
    )


def test_serve_migrates_then_serves_and_says_how_to_create_an_admin(tmp_path: Path) -> None:
    # drain_seconds=0: the drain has its own tests below
    with serving(tmp_path, data_dir=str(tmp_path / "data"), drain_seconds="0") as runtime:
        ready = httpx.get(f"{runtime.url}/readyz", timeout=10)
        docs = httpx.get(f"{runtime.url}/openapi.json", timeout=10)
        runtime.process.terminate()
        code = runtime.process.wait(timeout=30)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "batches": "ok"}
    assert "/api/v1/recipes" in docs.json()["paths"]
    assert code == 0, runtime.log.read_text()
    assert (tmp_path / "data" / "runtime.db").exists()
    assert "mes-runtime create-admin" in runtime.log.read_text()


def test_serve_refuses_what_it_cannot_serve_before_touching_the_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLON_")}
    env |= {"HOLON_DATA_DIR": str(tmp_path / "data"), "HOLON_MODULE": "equipment-logbook"}
    result = subprocess.run(
        [sys.executable, "-m", "mes_runtime", "serve"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "serve: invalid settings: HOLON_MODULE=equipment-logbook: not supported yet" in (
        result.stderr
    )
    assert not (tmp_path / "data" / "runtime.db").exists()


# --------------------------------------------------------------------------- graceful drain


def test_sigterm_drains_then_exits_0_losing_no_request(
    tmp_path: Path, sqlite_template: Path
) -> None:
    with draining_runtime(tmp_path, sqlite_template, drain_seconds=2) as runtime:
        seen: list[tuple[str, int, str | None, dict[str, Any]]] = []
        with httpx.Client(base_url=runtime.url, timeout=10) as client:
            before = client.get("/readyz")
            runtime.process.send_signal(signal.SIGTERM)
            failure: httpx.TransportError | None = None
            deadline = time.monotonic() + 60  # a guard against a hang, not an assertion
            while failure is None and time.monotonic() < deadline:
                for path in ("/healthz", "/readyz"):
                    try:
                        response = client.get(path)
                    except httpx.TransportError as exc:
                        failure = exc
                        break
                    seen.append(
                        (path, response.status_code, response.headers.get("connection"),
                         response.json())
                    )  # fmt: skip
        log_when_refused = runtime.log.read_text()
        code = runtime.process.wait(timeout=30)

    assert (before.status_code, before.headers.get("connection")) == (200, None)
    assert failure is not None, "the server never stopped accepting connections"
    # Connections were refused only once the drain had ended: nothing was lost during it.
    assert "draining: readiness false, serving 2 s more" in log_when_refused
    assert "shutting down" in log_when_refused
    assert code == 0, runtime.log.read_text()
    assert all(status == 200 for path, status, _, _ in seen if path == "/healthz")
    ready = [(status, body) for path, status, _, body in seen if path == "/readyz"]
    first_503 = next(i for i, (status, _) in enumerate(ready) if status == 503)
    assert all(status == 503 for status, _ in ready[first_503:]), "readiness came back"
    assert len(ready) - first_503 >= 3, "too few requests during the drain to mean anything"
    assert ready[first_503][1] == {"status": "unavailable", "checks": {"shutdown": "draining"}}
    draining_from = next(i for i, entry in enumerate(seen) if entry[:2] == ("/readyz", 503))
    assert {connection for _, _, connection, _ in seen[draining_from:]} == {"close"}
    alive = [status for path, status, _, _ in seen[draining_from:] if path == "/healthz"]
    assert alive, "no liveness check during the drain"
    assert set(alive) == {200}  # alive while not ready
    log = runtime.log.read_text()
    assert "Application shutdown complete" in log
    assert log.index("shutting down") < log.index("Application shutdown complete")


def test_a_request_in_flight_when_the_drain_ends_completes(
    tmp_path: Path, sqlite_template: Path
) -> None:
    body = json.dumps({"username": "nobody", "password": "not-the-password"}).encode()
    head = (
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: holon.test\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with draining_runtime(tmp_path, sqlite_template, drain_seconds=0.5) as runtime:
        with socket.create_connection(("127.0.0.1", runtime.port), timeout=30) as sock:
            sock.sendall(head + body[:7])  # the request has started; its body is not complete
            runtime.process.send_signal(signal.SIGTERM)
            runtime.wait_for_log("shutting down")
            _wait_until_refused(runtime.port)  # the server no longer accepts connections
            sock.sendall(body[7:])
            response = _read_until_closed(sock)
        code = runtime.process.wait(timeout=30)

    status_line, _, rest = response.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 401 Unauthorized", response
    assert b"connection: close" in rest.lower()
    assert b"invalid username or password" in rest
    assert code == 0, runtime.log.read_text()
    # The failed login was journalled: the database was still open for the in-flight request.
    with sqlite3.connect(tmp_path / "runtime.db") as db:
        actions = [row[0] for row in db.execute("SELECT action FROM journal")]
    assert actions == ["auth.login_failed"]


@pytest.mark.parametrize(
    ("first", "second"),
    [(signal.SIGTERM, signal.SIGTERM), (signal.SIGINT, signal.SIGTERM)],
    ids=["SIGTERM-SIGTERM", "SIGINT-SIGTERM"],
)
def test_a_second_signal_ends_the_drain_and_still_shuts_down_gracefully(
    tmp_path: Path, sqlite_template: Path, first: signal.Signals, second: signal.Signals
) -> None:
    with draining_runtime(tmp_path, sqlite_template, drain_seconds=300) as runtime:
        runtime.process.send_signal(first)
        runtime.wait_for_log("draining: readiness false")
        ready = httpx.get(f"{runtime.url}/readyz", timeout=10)
        runtime.process.send_signal(second)
        code = runtime.process.wait(timeout=30)  # far less than the 300 s drain
    log = runtime.log.read_text()
    assert ready.status_code == 503
    assert code == 0, log
    assert f"{first.name}: draining: readiness false, serving 300 s more" in log
    assert f"{second.name} again: ending the drain early" in log
    assert log.index("Application shutdown complete") < log.index("mes_runtime.server: stopped")


def _wait_until_refused(port: int) -> None:
    deadline = time.monotonic() + 30  # a wait, not a timing assertion
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        except ConnectionRefusedError:
            return
        time.sleep(0.05)
    pytest.fail("the server kept accepting connections after the drain")


def _read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------------- in process


def _unused_settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")


async def test_signals_drain_first_and_a_second_one_ends_the_drain(tmp_path: Path) -> None:
    drain = Drain()
    config = uvicorn.Config(create_app(_unused_settings(tmp_path), drain=drain))
    server = DrainingServer(config, drain=drain, drain_seconds=300)
    assert await server.on_tick(1) is False
    server.handle_exit(signal.SIGTERM, None)
    assert drain.draining
    assert await server.on_tick(2) is False  # still serving: the drain runs
    assert not server.should_exit
    server.handle_exit(signal.SIGINT, None)
    assert await server.on_tick(3) is True
    assert not server.force_exit  # the shutdown stays graceful
    assert server._captured_signals == []  # not re-raised: the exit status stays 0


async def test_no_drain_time_shuts_down_at_the_next_tick(tmp_path: Path) -> None:
    drain = Drain()
    config = uvicorn.Config(create_app(_unused_settings(tmp_path), drain=drain))
    server = DrainingServer(config, drain=drain, drain_seconds=0)
    server.handle_exit(signal.SIGTERM, None)
    assert drain.draining
    assert await server.on_tick(1) is True


async def test_the_drain_lasts_until_what_holds_it_is_done_and_is_announced(
    tmp_path: Path,
) -> None:
    """The safe-point wait holds the drain: past the drain time the server serves on
    until the hold is done; the drain's start is announced on the loop, and a second
    signal hurries whoever holds it."""
    drain = Drain()
    config = uvicorn.Config(create_app(_unused_settings(tmp_path), drain=drain))
    server = DrainingServer(config, drain=drain, drain_seconds=0)
    done = [False]
    drain.hold_until(lambda: done[0])
    began = asyncio.create_task(drain.began())
    await server.on_tick(1)
    assert not began.done()  # not announced before a signal
    server.handle_exit(signal.SIGTERM, None)
    assert await server.on_tick(2) is False  # the drain time is over, the hold is not
    await asyncio.wait_for(began, 5)  # announced at the tick
    assert not server.should_exit
    assert not drain.hurried
    server.handle_exit(signal.SIGINT, None)
    assert drain.hurried  # the holder is told to end its wait
    assert await server.on_tick(3) is False  # ... and the drain ends once it has
    done[0] = True
    assert await server.on_tick(4) is True
