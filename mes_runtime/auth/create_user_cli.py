"""``mes-runtime create-user``: enrol a user with any roles, from the plant's infrastructure.

Through the API nobody grants a role they do not hold, and the admin role holds only
itself: the first QA approver, supervisor or operator is enrolled here, by whoever may run
commands against the runtime's database. Like the API, this never sets a password: it
prints a one-time set-up token (valid ``HOLON_SETUP_TOKEN_TTL_SECONDS``) that is handed to
the user, who sets their own password with ``POST /api/v1/auth/password/setup`` (or the
UI). Journalled with actor ``cli``.
"""

from __future__ import annotations

import argparse

from sqlalchemy.ext.asyncio import AsyncSession

from mes_runtime.auth.cli import create_in_database, settings_for
from mes_runtime.auth.permissions import Role
from mes_runtime.auth.users import enroll_user
from mes_runtime.db.models import User

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mes-runtime create-user", description=__doc__)
    parser.add_argument("--username", required=True, help="login name")
    parser.add_argument("--full-name", required=True, help="printed name shown on signatures")
    parser.add_argument(
        "--role",
        action="append",
        required=True,
        choices=[r.value for r in Role],
        help="a role to grant (repeat for several)",
    )
    parser.add_argument("--database-url", help="override HOLON_DATABASE_URL")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = settings_for(args.database_url)
    if settings is None:
        return 2
    issued: list[str] = []

    async def enrol(session: AsyncSession) -> User:
        user, token, _ = await enroll_user(
            session,
            username=args.username,
            full_name=args.full_name,
            roles=args.role,
            ttl_seconds=settings.setup_token_ttl_seconds,
        )
        issued.append(token)
        return user

    status, user = create_in_database(
        "create-user", settings, enrol, "enrolled with mes-runtime create-user"
    )
    if user is None:
        return status
    print(
        f"created user {user.username!r} ({', '.join(user.roles)}); hand them this one-time "
        "set-up token, with which they set their own password (shown only once):"
    )
    print(issued[0])
    return 0
