"""Users, logins, tokens and e-signatures over an ``AsyncSession``.

The callers (API routes, the CLI) journal what happens; this module only decides and stores.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from mes_runtime.auth.passwords import (
    dummy_verify,
    hash_password,
    needs_rehash,
    validate_new_password,
    verify_password,
)
from mes_runtime.auth.permissions import Role
from mes_runtime.auth.tokens import new_token, token_digest
from mes_runtime.db.models import ApiToken, User
from mes_runtime.kernel.clock import utcnow

__all__ = [
    "USERNAME_PATTERN",
    "InvalidUserData",
    "Signature",
    "SignatureRejected",
    "UserExists",
    "authenticate",
    "create_user",
    "get_user",
    "issue_token",
    "revoke_token",
    "user_for_token",
    "verify_signature",
]

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class UserExists(Exception):
    """A user with that name already exists."""


class InvalidUserData(ValueError):
    """A new user's name, password or roles are not acceptable; ``field`` names which."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class SignatureRejected(Exception):
    """Re-authentication for an electronic signature failed."""


@dataclass(frozen=True, slots=True)
class Signature:
    """An electronic signature's manifestation (Part 11 §11.50): who, what it means, when."""

    username: str
    meaning: str
    signed_at: datetime


def _check_roles(roles: Iterable[str]) -> list[str]:
    result: list[str] = []
    for role in roles:
        try:
            result.append(Role(role).value)
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise InvalidUserData("roles", f"unknown role {role!r} (one of {allowed})") from None
    if not result:
        raise InvalidUserData("roles", "at least one role is required")
    return sorted(set(result))


async def get_user(session: AsyncSession, username: str) -> User | None:
    return (
        await session.execute(select(User).where(User.username == username))
    ).scalar_one_or_none()


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    roles: Iterable[str],
    now: datetime | None = None,
) -> User:
    """Add a user (flushed, not committed). Raises InvalidUserData or UserExists."""
    if not USERNAME_PATTERN.match(username):
        raise InvalidUserData(
            "username", "2-64 characters: lower-case letters, digits, '.', '_' or '-'"
        )
    problem = validate_new_password(password)
    if problem is not None:
        raise InvalidUserData("password", problem)
    checked_roles = _check_roles(roles)
    if await get_user(session, username) is not None:
        raise UserExists(f"user {username!r} already exists")
    user = User(
        username=username,
        password_hash=hash_password(password),
        roles=checked_roles,
        active=True,
        created_at=now or utcnow(),
    )
    session.add(user)
    await session.flush()
    return user


async def authenticate(session: AsyncSession, username: str, password: str) -> User | None:
    """The active user with these credentials, or None (without saying which part was wrong)."""
    user = await get_user(session, username)
    if user is None:
        dummy_verify(password)
        return None
    if not verify_password(user.password_hash, password) or not user.active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


async def issue_token(
    session: AsyncSession, user: User, *, ttl_seconds: int, now: datetime | None = None
) -> tuple[str, datetime]:
    """A new bearer token for ``user`` and its expiry; only the token's digest is stored."""
    now = now or utcnow()
    token, digest = new_token()
    expires_at = now + timedelta(seconds=ttl_seconds)
    session.add(
        ApiToken(token_sha256=digest, user_id=user.id, created_at=now, expires_at=expires_at)
    )
    await session.flush()
    return token, expires_at


async def user_for_token(
    session: AsyncSession, token: str, *, now: datetime | None = None
) -> User | None:
    """The active user a non-expired token belongs to, or None."""
    now = now or utcnow()
    row = (
        await session.execute(
            select(User)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_sha256 == token_digest(token), ApiToken.expires_at > now)
        )
    ).scalar_one_or_none()
    if row is None or not row.active:
        return None
    return row


async def revoke_token(session: AsyncSession, token: str) -> None:
    await session.execute(delete(ApiToken).where(ApiToken.token_sha256 == token_digest(token)))


async def verify_signature(
    session: AsyncSession, user: User, password: str, meaning: str, *, now: datetime | None = None
) -> Signature:
    """Re-authenticate ``user`` for a signature meaning ``meaning`` (e.g. "approved").

    Raises :class:`SignatureRejected` if the password is wrong or the user is inactive. The
    caller journals the signed action together with the returned :class:`Signature`.
    """
    if not meaning.strip():
        raise ValueError("a signature needs a meaning")
    fresh = await session.get(User, user.id)
    if fresh is None or not fresh.active or not verify_password(fresh.password_hash, password):
        raise SignatureRejected(
            f"signature by {user.username!r} rejected: re-authentication failed"
        )
    return Signature(username=fresh.username, meaning=meaning, signed_at=now or utcnow())
