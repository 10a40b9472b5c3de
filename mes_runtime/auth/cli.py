"""``mes-runtime create-admin``: create the first admin user.

Never a default password: either a random one printed once on stdout, or one read from stdin
(``--password-stdin``, for automation: Kubernetes Secret -> init container). Refuses if the
user already exists. Migrates the database first so that it works on a fresh install.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from mes_runtime.auth.passwords import generate_password
from mes_runtime.auth.users import InvalidUserData, UserExists, create_user
from mes_runtime.db.engine import create_engine, session_factory
from mes_runtime.db.migrate import upgrade
from mes_runtime.ebr.journal import Journal
from mes_runtime.settings import Settings, get_settings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mes-runtime create-admin", description=__doc__)
    parser.add_argument("--username", default="admin", help="login name (default: admin)")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin instead of generating a random one",
    )
    parser.add_argument("--database-url", help="override HOLON_DATABASE_URL")
    return parser


async def _create(settings: Settings, username: str, password: str) -> None:
    engine = create_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        async with session_factory(engine)() as session, session.begin():
            user = await create_user(session, username=username, password=password, roles=["admin"])
            roles = list(user.roles)
        journal = Journal(engine)
        try:
            await journal.append(
                actor="cli",
                action="user.created",
                subject=f"user:{username}",
                new_value={"username": username, "roles": roles},
                reason="first admin created with mes-runtime create-admin",
            )
        finally:
            await journal.close()
    finally:
        await engine.dispose()


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings(database_url=args.database_url) if args.database_url else get_settings()
    except ValueError as exc:
        print(f"create-admin: invalid settings: {exc}", file=sys.stderr)
        return 2
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        generated = False
    else:
        password = generate_password()
        generated = True
    upgrade(settings.database_url)
    try:
        asyncio.run(_create(settings, args.username, password))
    except UserExists as exc:
        print(f"create-admin: {exc}; nothing changed", file=sys.stderr)
        return 1
    except InvalidUserData as exc:
        print(f"create-admin: {exc}", file=sys.stderr)
        return 2
    if generated:
        print(f"created admin user {args.username!r}; its password (shown only once):")
        print(password)
    else:
        print(f"created admin user {args.username!r}")
    return 0
