"""``mes-runtime serve [--host H] [--port P]``: migrate the database, then serve the API.

Migrations run first (``upgrade heads``; disable with HOLON_MIGRATE_ON_START=false when an
orchestrator runs expand and contract as separate jobs), so a fresh install starts with one
command. If no admin exists yet, the log says how to create one.

SIGTERM or SIGINT shuts down gracefully, losing no request during a rolling update:

1. *drain*: ``/readyz`` answers 503 at once and every response says ``Connection: close``;
   the server keeps serving for HOLON_DRAIN_SECONDS, the time kube-proxy needs to take the
   Pod out of the Service's endpoints, and (meanwhile) until the batches this replica owns
   reach a safe point - none runs a phase its recipe marks as not interruptible - at most
   HOLON_SAFE_POINT_WAIT_SECONDS (:mod:`mes_runtime.assembly`); its batches keep running
   and taking commands meanwhile, and no such phase starts;
2. *shut down*: stop accepting, let in-flight requests finish within
   HOLON_SHUTDOWN_TIMEOUT_SECONDS, run the application's shutdown (equipment sessions,
   database), exit 0.

A second signal during the drain ends the wait (the safe-point wait too: the batches are
handed over as they are, journalled); the shutdown itself stays graceful.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from types import FrameType

import uvicorn

from mes_runtime.api.drain import Drain
from mes_runtime.observability import Redactor, configure_logging
from mes_runtime.settings import Settings, get_settings

__all__ = ["DrainingServer", "main"]

log = logging.getLogger("mes_runtime.server")


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose exit signals start a drain instead of an immediate shutdown.

    uvicorn installs ``handle_exit`` with ``signal.signal``, so it runs in the main thread
    between two bytecodes, possibly in the middle of the event loop's own work: it only
    sets flags. ``on_tick`` (uvicorn's 0.1 s housekeeping, on the loop) logs the
    transitions and ends the drain. Signals are not re-raised after the shutdown (uvicorn
    does that by default, which would make the exit status "killed by SIGTERM"): a drained
    shutdown is a clean exit, status 0.
    """

    def __init__(self, config: uvicorn.Config, *, drain: Drain, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.drain_seconds = drain_seconds
        self._deadline: float | None = None
        self._signals: list[int] = []
        self._logged = 0

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._signals.append(sig)
        if self.should_exit:
            return  # already shutting down: bounded by the graceful-shutdown timeout
        if self._deadline is None:
            self.drain.begin()
            self._deadline = time.monotonic() + self.drain_seconds
        else:
            self._deadline = time.monotonic()  # a second signal ends the drain now
            self.drain.hurry()

    async def on_tick(self, counter: int) -> bool:
        self._log_signals()
        self.drain.announce()  # on the loop: the safe-point wait begins
        drained = (
            self._deadline is not None
            and time.monotonic() >= self._deadline
            and self.drain.settled()
        )
        if drained and not self.should_exit:
            log.info(
                "shutting down: no new connections; in-flight requests have %d s",
                self.config.timeout_graceful_shutdown,
            )
            self.should_exit = True
        return await super().on_tick(counter)

    def _log_signals(self) -> None:
        for index in range(self._logged, len(self._signals)):
            name = signal.Signals(self._signals[index]).name
            if index == 0:
                log.info(
                    "%s: draining: readiness false, serving %g s more", name, self.drain_seconds
                )
            elif not self.should_exit:
                log.info("%s again: ending the drain early", name)
            else:
                log.info("%s again: already shutting down", name)
        self._logged = len(self._signals)


def _parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mes-runtime serve", description=__doc__)
    parser.add_argument("--host", default=settings.host, help=f"default {settings.host}")
    parser.add_argument("--port", type=int, default=settings.port, help=f"default {settings.port}")
    return parser


def main(argv: list[str]) -> int:
    from mes_runtime.api.features import served

    try:
        settings = get_settings()
        served(settings)  # a kind or flag this runtime cannot honour: before any migration
    except ValueError as exc:
        print(f"serve: invalid settings: {exc}", file=sys.stderr)
        return 2
    args = _parser(settings).parse_args(argv)
    configure_logging(
        level=settings.log_level,
        fmt=settings.log_format,
        redactor=Redactor(settings.secret_values()),
        module=settings.module or "",
    )
    from mes_runtime.api.app import create_app
    from mes_runtime.db.compat import SchemaMismatch, check_schema
    from mes_runtime.db.migrate import upgrade

    try:  # before migrating: a later version's contract must never be met with a crash
        check_schema(settings.database_url)
    except SchemaMismatch as exc:
        if not (exc.too_old and settings.migrate_on_start):
            print(f"serve: refusing to start: {exc}", file=sys.stderr)
            return 2
    except Exception as exc:  # database unreachable: /readyz says so (or migrating fails)
        log.warning("schema not checked: %s", exc)
    if settings.migrate_on_start:
        log.info("migrating the database to heads")
        upgrade(settings.database_url)
    # /readyz checks the revision on every probe (every 2 s in Kubernetes): alembic's
    # per-connection INFO lines would drown the log; migrations above have logged already
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    drain = Drain()
    config = uvicorn.Config(
        create_app(settings, drain=drain),
        host=args.host,
        port=args.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's loggers go through ours (JSON, redacted)
        proxy_headers=True,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
    )
    server = DrainingServer(config, drain=drain, drain_seconds=settings.drain_seconds)
    server.run()  # a start-up failure exits here (uvicorn logs why and calls sys.exit)
    log.info("stopped")
    return 0
