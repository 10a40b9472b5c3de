"""``mes-runtime serve [--host H] [--port P]``: migrate the database, then serve the API.

Migrations run first (``upgrade heads``; disable with HOLON_MIGRATE_ON_START=false when an
orchestrator runs expand and contract as separate jobs), so a fresh install starts with one
command. If no admin exists yet, the log says how to create one.
"""

from __future__ import annotations

import argparse
import logging
import sys

from mes_runtime.settings import Settings, get_settings

__all__ = ["main"]

log = logging.getLogger("mes_runtime.server")


def _parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mes-runtime serve", description=__doc__)
    parser.add_argument("--host", default=settings.host, help=f"default {settings.host}")
    parser.add_argument("--port", type=int, default=settings.port, help=f"default {settings.port}")
    return parser


def main(argv: list[str]) -> int:
    try:
        settings = get_settings()
    except ValueError as exc:
        print(f"serve: invalid settings: {exc}", file=sys.stderr)
        return 2
    args = _parser(settings).parse_args(argv)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    import uvicorn

    from mes_runtime.api.app import create_app
    from mes_runtime.db.migrate import upgrade

    if settings.migrate_on_start:
        log.info("migrating the database to heads")
        upgrade(settings.database_url)
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
    )
    return 0
