"""Benchmark: the runtime's liveness while unauthenticated clients hammer the login.

A password hash costs ~50 ms of CPU by design (argon2id at RFC 9106 defaults), so a login
endpoint is a cheap way to load a server. The runtime hashes on two worker threads, off the
event loop that also serves ``/healthz``, runs the batch engine and supervises the
equipment (``mes_runtime.auth.passwords``). This measures what a probe sees:

- ``/healthz`` latency, p50 and p95, from a sequential client, while N clients (N = 4 and
  16) loop on ``POST /api/v1/auth/token`` with a wrong password for an unknown user (the
  full hash cost, as an attacker would choose; the name locks after five failures, as an
  account would, and a locked answer costs the same verification);
- baseline: the same ``/healthz`` client with no login load, in the same run, same process.

The runtime is a real ``mes-runtime serve`` subprocess on SQLite; the load and the probe run
in this process. Goal: ``/healthz`` p95 stays under ``GOAL_P95_MS`` with 16 clients.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.progress import Progress
from bench.results import Goal, Row, percentile
from holon_testing.runtime_process import serving

__all__ = ["NAME", "LoginLoadSize", "run"]

NAME = "login-load"
GOAL_P95_MS = 100.0  # a liveness probe's budget with margin (kubelet's default timeout: 1 s)


@dataclass(frozen=True, slots=True)
class LoginLoadSize:
    probes: int  # /healthz requests per phase
    clients: tuple[int, ...]


FULL = LoginLoadSize(probes=300, clients=(4, 16))
QUICK = LoginLoadSize(probes=20, clients=(4,))


async def _probe(http: httpx.AsyncClient, count: int) -> list[float]:
    """``count`` sequential ``/healthz`` latencies in seconds (each must answer 200)."""
    latencies: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        response = await http.get("/healthz")
        latencies.append(time.perf_counter() - started)
        response.raise_for_status()
        await asyncio.sleep(0.01)  # a probe, not a flood
    return latencies


async def _hammer(http: httpx.AsyncClient, stop: asyncio.Event, attempts: list[int]) -> None:
    body = {"username": "nobody-here", "password": "not-the-password"}
    while not stop.is_set():
        response = await http.post("/api/v1/auth/token", json=body)
        if response.status_code not in (401, 429):  # 429: the name is locked
            raise RuntimeError(f"a failed login answered {response.status_code}: {response.text}")
        attempts[0] += 1


async def _under_load(url: str, clients: int, probes: int) -> tuple[list[float], float]:
    """/healthz latencies while ``clients`` loop on failed logins; and logins per second."""
    stop = asyncio.Event()
    attempts = [0]
    limits = httpx.Limits(max_connections=clients + 1)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        load = [asyncio.create_task(_hammer(http, stop, attempts)) for _ in range(clients)]
        try:
            await asyncio.sleep(1.0)  # let the hashing threads fill up first
            started, before = time.perf_counter(), attempts[0]
            latencies = await _probe(http, probes)
            rate = (attempts[0] - before) / (time.perf_counter() - started)
        finally:
            stop.set()
            await asyncio.gather(*load)
    return latencies, rate


async def run(*, quick: bool = False, progress: Progress | None = None) -> list[Row]:
    size = QUICK if quick else FULL
    say = progress or Progress(NAME, enabled=False)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="holon-login-load-") as tmp:
        workdir = Path(tmp)
        say("starting mes-runtime serve (SQLite, migrations at start)")
        with serving(
            workdir,
            database_url=f"sqlite+aiosqlite:///{workdir / 'runtime.db'}",
            data_dir=str(workdir / "data"),
            drain_seconds="0",
        ) as runtime:
            async with httpx.AsyncClient(base_url=runtime.url, timeout=60) as http:
                say(f"idle: {size.probes} /healthz probes")
                await _probe(http, 5)  # warm the connection and the route
                idle = await _probe(http, size.probes)
            for clients in size.clients:
                say(f"{clients} clients hammering the login: {size.probes} /healthz probes")
                loaded, rate = await _under_load(runtime.url, clients, size.probes)
                for name, pct in (("p50", 50.0), ("p95", 95.0)):
                    goal = None
                    if pct == 95 and clients == max(size.clients):
                        goal = Goal(GOAL_P95_MS, higher_is_better=False)
                    rows.append(
                        Row(
                            NAME,
                            f"/healthz {name} while {clients} clients hammer the login",
                            percentile(loaded, pct) * 1000,
                            "ms",
                            goal=goal,
                            baseline=percentile(idle, pct) * 1000,
                            baseline_label=f"/healthz {name} with no login load",
                            counts={"probes": len(loaded), "failed_logins_per_s": round(rate)},
                        )
                    )
    return rows
