"""``mes-runtime create-admin``: create the first admin user.

Never a default password: either a random one printed once on stdout, or one read from stdin
(``--password-stdin``, for automation: Kubernetes Secret -> init container). Refuses if the
user already exists. Migrates the database first so that it works on a fresh install.

The admin role holds only itself, and nobody grants a role they do not hold, so the first
holder of each other role is enrolled at the command line too (``mes-runtime create-user``,
:mod:`mes_runtime.auth.create_user_cli`), by whoever runs the plant's infrastructure.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from mes_runtime.auth.passwords import generate_password
from mes_runtime.auth.users import InvalidUserData, UserExists, create_user
from mes_runtime.db.engine import create_engine
from mes_runtime.db.migrate import upgrade
from mes_runtime.db.models import User
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.unit_of_work import Entry, journalled
from mes_runtime.settings import Settings, get_settings

__all__ = ["create_in_database", "in_database", "main", "settings_for"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mes-runtime create-admin", description=__doc__)
    parser.add_argument("--username", default="admin", help="login name (default: admin)")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin instead of generating a random one",
    )
    parser.add_argument("--full-name", help="printed name (default: the username)")
    parser.add_argument("--database-url", help="override HOLON_DATABASE_URL")
    return parser


async def in_database(
    settings: Settings, create: Callable[[AsyncSession], Awaitable[User]], reason: str
) -> User:
    """Run ``create`` and journal the user it created (actor ``cli``) in one transaction:
    a user is never stored without its ``user.created`` entry."""
    engine = create_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        journal = Journal(engine)
        try:

            async def created(session: AsyncSession) -> tuple[User, Entry]:
                user = await create(session)
                return user, Entry(
                    actor="cli",
                    action="user.created",
                    subject=f"user:{user.username}",
                    new_value={
                        "username": user.username,
                        "full_name": user.full_name,
                        "roles": list(user.roles),
                    },
                    reason=reason,
                )

            return await journalled(journal, created)
        finally:
            await journal.close()
    finally:
        await engine.dispose()


def create_in_database(
    prog: str, settings: Settings, create: Callable[[AsyncSession], Awaitable[User]], reason: str
) -> tuple[int, User | None]:
    """Migrate, then :func:`in_database`: ``(exit status, the user)``; a refusal is
    explained on stderr (1: exists, 2: invalid) and changes nothing."""
    upgrade(settings.database_url)
    try:
        return 0, asyncio.run(in_database(settings, create, reason))
    except UserExists as exc:
        print(f"{prog}: {exc}; nothing changed", file=sys.stderr)
        return 1, None
    except InvalidUserData as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2, None


def settings_for(database_url: str | None) -> Settings | None:
    """The runtime's settings (``database_url`` overriding), or None after saying why not."""
    try:
        return Settings(database_url=database_url) if database_url else get_settings()
    except ValueError as exc:
        print(f"invalid settings: {exc}", file=sys.stderr)
        return None


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = settings_for(args.database_url)
    if settings is None:
        return 2
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        generated = False
    else:
        password = generate_password()
        generated = True
    status, _ = create_in_database(
        "create-admin",
        settings,
        lambda session: create_user(
            session,
            username=args.username,
            password=password,
            roles=["admin"],
            full_name=args.full_name,
        ),
        "first admin created with mes-runtime create-admin",
    )
    if status != 0:
        return status
    if generated:
        print(f"created admin user {args.username!r}; its password (shown only once):")
        print(password)
    else:
        print(f"created admin user {args.username!r}")
    return 0
