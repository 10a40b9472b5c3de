"""Users, logins, passwords, tokens and e-signatures over an ``AsyncSession``.

The callers (``mes_runtime.services.accounts``, the CLI) journal what happens; this module
only decides and stores. Passwords are the user's own: an account enrolled by an
administrator has no password (:data:`NO_PASSWORD`) until its user sets one with the
one-time set-up token; the administrator never chooses or sees it. Every failed
authentication counts towards the account's lock (:class:`LockoutPolicy`), with an atomic
``UPDATE ... RETURNING`` so that parallel guesses are all counted.

A name that matches no user is answered as a wrong password for an existing one would be,
in what and in how long: the same argon2 verification (against a dummy hash), and its
failures counted and locked under the same policy, keyed by the name's SHA-256 in
``auth_failures`` (no user is created). That table stays bounded: a row whose lock and
counting window are over is deleted, and past :data:`MAX_UNKNOWN_NAMES` rows the oldest go.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from mes_runtime.auth.lockout import LockoutPolicy
from mes_runtime.auth.password_policy import password_expired
from mes_runtime.auth.passwords import (
    NO_PASSWORD,
    dummy_verify,
    hash_password,
    needs_rehash,
    off_loop,
    validate_new_password,
    verify_password,
)
from mes_runtime.auth.permissions import Role, may_sign
from mes_runtime.auth.signatures import Signature, SignatureMeaning
from mes_runtime.auth.tokens import new_token, token_digest
from mes_runtime.db.models import ApiToken, AuthFailure, User
from mes_runtime.kernel.clock import utcnow

__all__ = [
    "MAX_UNKNOWN_NAMES",
    "RESERVED_USERNAMES",
    "USERNAME_PATTERN",
    "Attempt",
    "Check",
    "InvalidUserData",
    "Outcome",
    "SetupTokenInvalid",
    "UserExists",
    "authenticate",
    "check_password",
    "create_user",
    "enroll_user",
    "get_user",
    "hash_new_password",
    "issue_setup_token",
    "issue_token",
    "judge",
    "judge_signer",
    "judge_user",
    "revoke_token",
    "revoke_tokens",
    "set_password",
    "set_password_with_token",
    "settle",
    "sign",
    "signature_of",
    "store_password",
    "user_for_token",
    "user_with_setup_token",
]

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
#: Names the journal uses for actors that are not users.
RESERVED_USERNAMES = frozenset({"anonymous", "system", "cli", "runtime", "engine"})
#: At most this many unknown names are counted at once (``auth_failures`` rows).
MAX_UNKNOWN_NAMES = 10_000


class UserExists(Exception):
    """A user with that name already exists."""


class InvalidUserData(ValueError):
    """A new user's name, password or roles are not acceptable; ``field`` names which."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class SetupTokenInvalid(Exception):
    """The set-up token is unknown, used or expired (or the user does not exist)."""


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"  # wrong password, unknown or inactive user, no password set yet
    LOCKED = "locked"  # the account is locked: the password was not even checked
    EXPIRED = "expired"  # right password, but older than the plant's maximum age
    FORBIDDEN = "forbidden"  # a signature by someone whose roles may not sign


@dataclass(frozen=True, slots=True)
class Attempt:
    """The result of one authentication: ``user`` is None when the name is unknown."""

    outcome: Outcome
    user: User | None
    failures: int = 0
    locked_until: datetime | None = None
    newly_locked: bool = False


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


def _check_username(username: str) -> None:
    if not USERNAME_PATTERN.match(username):
        raise InvalidUserData(
            "username", "2-64 characters: lower-case letters, digits, '.', '_' or '-'"
        )
    if username in RESERVED_USERNAMES:
        raise InvalidUserData("username", f"{username!r} is reserved for the journal")


def _check_password(password: str, username: str) -> None:
    problem = validate_new_password(password, username=username)
    if problem is not None:
        raise InvalidUserData("password", problem)


async def get_user(session: AsyncSession, username: str) -> User | None:
    return (
        await session.execute(select(User).where(User.username == username))
    ).scalar_one_or_none()


async def _new_user(
    session: AsyncSession,
    *,
    username: str,
    password_hash: str,
    roles: Iterable[str],
    full_name: str | None,
    now: datetime,
) -> User:
    checked_roles = _check_roles(roles)
    if await get_user(session, username) is not None:
        raise UserExists(f"user {username!r} already exists")
    user = User(
        username=username,
        password_hash=password_hash,
        roles=checked_roles,
        active=True,
        created_at=now,
        full_name=full_name,
        failed_attempts=0,
    )
    session.add(user)
    await session.flush()
    return user


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    roles: Iterable[str],
    full_name: str | None = None,
    now: datetime | None = None,
) -> User:
    """Add a user with a password they chose (the first admin, at the command line).
    Flushed, not committed. Raises InvalidUserData or UserExists."""
    _check_username(username)
    _check_password(password, username)
    now = now or utcnow()
    user = await _new_user(
        session,
        username=username,
        password_hash=await off_loop(hash_password, password),
        roles=roles,
        full_name=full_name,
        now=now,
    )
    user.password_changed_at = now
    return user


async def enroll_user(
    session: AsyncSession,
    *,
    username: str,
    full_name: str,
    roles: Iterable[str],
    ttl_seconds: int,
    now: datetime | None = None,
) -> tuple[User, str, datetime]:
    """Add a user without a password and issue their one-time set-up token:
    ``(user, token, expires_at)``. Only the token's digest is stored."""
    _check_username(username)
    if not full_name.strip():
        raise InvalidUserData("full_name", "the printed name a signature shows is required")
    now = now or utcnow()
    user = await _new_user(
        session,
        username=username,
        password_hash=NO_PASSWORD,
        roles=roles,
        full_name=full_name.strip(),
        now=now,
    )
    token, expires_at = await issue_setup_token(session, user, ttl_seconds=ttl_seconds, now=now)
    return user, token, expires_at


async def issue_setup_token(
    session: AsyncSession, user: User, *, ttl_seconds: int, now: datetime | None = None
) -> tuple[str, datetime]:
    """A new one-time set-up token for ``user``; their password and bearer tokens stop
    working at once (a password reset)."""
    now = now or utcnow()
    token, digest = new_token()
    user.password_hash = NO_PASSWORD
    user.setup_token_sha256 = digest
    user.setup_expires_at = now + timedelta(seconds=ttl_seconds)
    await revoke_tokens(session, user)
    await session.flush()
    return token, user.setup_expires_at


async def hash_new_password(new_password: str, username: str) -> str:
    """``new_password`` checked against the policy (``InvalidUserData``) and hashed, off the
    event loop: done before the transaction that stores it (:func:`store_password`)."""
    _check_password(new_password, username)
    return await off_loop(hash_password, new_password)


async def store_password(
    session: AsyncSession, user: User, password_hash: str, *, now: datetime | None = None
) -> None:
    """Store ``user``'s new password hash (from :func:`hash_new_password`); every bearer
    token of theirs is revoked, and any set-up token and lock are cleared."""
    user.password_hash = password_hash
    user.password_changed_at = now or utcnow()
    user.setup_token_sha256 = None
    user.setup_expires_at = None
    user.failed_attempts = 0
    user.locked_until = None
    await revoke_tokens(session, user)
    await session.flush()


async def set_password(
    session: AsyncSession, user: User, new_password: str, *, now: datetime | None = None
) -> None:
    """Store ``user``'s new password (checked against the policy); every bearer token of
    theirs is revoked, and any set-up token and lock are cleared."""
    await store_password(
        session, user, await hash_new_password(new_password, user.username), now=now
    )


async def user_with_setup_token(
    session: AsyncSession, username: str, token: str, *, now: datetime
) -> User:
    """The active user whose one-time set-up token ``token`` is, unused and not expired;
    otherwise :class:`SetupTokenInvalid`."""
    user = await get_user(session, username)
    if (
        user is None
        or not user.active
        or user.setup_token_sha256 is None
        or user.setup_token_sha256 != token_digest(token)
        or user.setup_expires_at is None
        or user.setup_expires_at <= now
    ):
        raise SetupTokenInvalid("the set-up token is unknown, used or expired")
    return user


async def set_password_with_token(
    session: AsyncSession,
    username: str,
    token: str,
    new_password: str,
    *,
    now: datetime | None = None,
) -> User:
    """The user's own first password (or the one after a reset), with the one-time token."""
    now = now or utcnow()
    user = await user_with_setup_token(session, username, token, now=now)
    await set_password(session, user, new_password, now=now)
    return user


async def _count_failure(
    session: AsyncSession, user: User, policy: LockoutPolicy, now: datetime
) -> Attempt:
    failures = (
        await session.execute(
            update(User)
            .where(User.id == user.id)
            .values(failed_attempts=User.failed_attempts + 1)
            .returning(User.failed_attempts)
        )
    ).scalar_one()
    lock = policy.lock_after(failures)
    if lock is None:
        return Attempt(Outcome.FAILED, user, failures=failures)
    until = now + lock
    await session.execute(update(User).where(User.id == user.id).values(locked_until=until))
    return Attempt(Outcome.LOCKED, user, failures=failures, locked_until=until, newly_locked=True)


@dataclass(frozen=True, slots=True)
class Check:
    """What checking a password found, before anything is counted (:func:`judge`): the
    slow part (argon2) done outside the transaction that counts it (:func:`settle`)."""

    user: User | None  # None: the name matches nobody
    name_key: str  # the name's SHA-256 (how an unknown name is counted)
    locked: bool  # locked when checked: the password was not considered
    right: bool  # the password is the active user's
    rehash: str | None = None  # the right password hashed afresh (parameters changed)


async def judge_user(user: User, password: str, *, now: datetime) -> Check:
    """Check ``password`` against ``user`` as loaded (no write)."""
    key = hashlib.sha256(user.username.encode()).hexdigest()
    if user.locked_until is not None and user.locked_until > now:
        await off_loop(dummy_verify, password)
        return Check(user, key, locked=True, right=False)
    if user.password_hash == NO_PASSWORD:  # not set up yet: spend the time all the same
        await off_loop(dummy_verify, password)
        return Check(user, key, locked=False, right=False)
    right = await off_loop(verify_password, user.password_hash, password) and user.active
    rehash = None
    if right and needs_rehash(user.password_hash):
        rehash = await off_loop(hash_password, password)
    return Check(user, key, locked=False, right=right, rehash=rehash)


async def judge(session: AsyncSession, username: str, password: str, *, now: datetime) -> Check:
    """Check a login's password (no write); a name that matches nobody costs the same
    verification as a wrong password does."""
    user = await get_user(session, username)
    if user is not None:
        return await judge_user(user, password, now=now)
    await off_loop(dummy_verify, password)
    key = hashlib.sha256(username.encode()).hexdigest()
    row = await session.get(AuthFailure, key)
    locked = row is not None and row.locked_until is not None and row.locked_until > now
    return Check(None, key, locked=locked, right=False)


async def settle(
    session: AsyncSession,
    check: Check,
    *,
    policy: LockoutPolicy,
    max_age_days: int = 0,
    now: datetime,
) -> Attempt:
    """Count what :func:`judge` found: a failure (perhaps locking), or a success resetting
    the count. A success refused because the account was locked meanwhile (parallel
    guesses) is LOCKED even though the password was right."""
    if check.user is None:
        return await _settle_unknown_name(session, check, policy=policy, now=now)
    user = await session.get(User, check.user.id, populate_existing=True)
    if user is None:  # pragma: no cover - users are never deleted
        return Attempt(Outcome.FAILED, None)
    if check.locked:
        return Attempt(
            Outcome.LOCKED, user, failures=user.failed_attempts, locked_until=user.locked_until
        )
    if not check.right:
        return await _count_failure(session, user, policy, now)
    cleared: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        update(User)
        .where(User.id == user.id)
        .where((User.locked_until.is_(None)) | (User.locked_until <= now))
        .values(failed_attempts=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )
    if cleared.rowcount != 1:
        await session.refresh(user)
        return Attempt(
            Outcome.LOCKED, user, failures=user.failed_attempts, locked_until=user.locked_until
        )
    if check.rehash is not None:
        user.password_hash = check.rehash
    changed_at = user.password_changed_at or user.created_at
    if password_expired(changed_at, now, max_age_days=max_age_days):
        return Attempt(Outcome.EXPIRED, user)
    return Attempt(Outcome.OK, user)


async def check_password(
    session: AsyncSession,
    user: User,
    password: str,
    *,
    policy: LockoutPolicy,
    max_age_days: int = 0,
    now: datetime | None = None,
) -> Attempt:
    """Whether ``password`` is ``user``'s, counting the failure or resetting the count
    (:func:`judge_user` then :func:`settle`, in ``session``).

    A locked account is refused without checking the password; an account locked while
    this check ran (parallel guesses) is refused even if the password was right.
    """
    now = now or utcnow()
    check = await judge_user(user, password, now=now)
    return await settle(session, check, policy=policy, max_age_days=max_age_days, now=now)


async def authenticate(
    session: AsyncSession,
    username: str,
    password: str,
    *,
    policy: LockoutPolicy | None = None,
    max_age_days: int = 0,
    now: datetime | None = None,
) -> Attempt:
    """One login attempt (see :func:`check_password`); never says which part was wrong."""
    now = now or utcnow()
    check = await judge(session, username, password, now=now)
    return await settle(
        session, check, policy=policy or LockoutPolicy(), max_age_days=max_age_days, now=now
    )


async def _settle_unknown_name(
    session: AsyncSession, check: Check, *, policy: LockoutPolicy, now: datetime
) -> Attempt:
    """An attempt with a name that matches no user: refused as an account's wrong password
    or lock would be (the same verification cost, the same counting and locking)."""
    key = check.name_key
    row = await session.get(AuthFailure, key, populate_existing=True)
    if row is not None and row.locked_until is not None and row.locked_until > now:
        return Attempt(
            Outcome.LOCKED, None, failures=row.failed_attempts, locked_until=row.locked_until
        )
    if row is None:
        await _prune_unknown_names(session, policy, now)
    failures = await _count_unknown_failure(session, key, now)
    lock = policy.lock_after(failures)
    if lock is None:
        return Attempt(Outcome.FAILED, None, failures=failures)
    until = now + lock
    await session.execute(
        update(AuthFailure).where(AuthFailure.name_sha256 == key).values(locked_until=until)
    )
    return Attempt(Outcome.LOCKED, None, failures=failures, locked_until=until, newly_locked=True)


async def _count_unknown_failure(session: AsyncSession, key: str, now: datetime) -> int:
    """One more failure for the unknown name ``key`` (atomic: parallel guesses all count)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = insert(AuthFailure).values(name_sha256=key, failed_attempts=1, last_failed_at=now)
    statement = values.on_conflict_do_update(
        index_elements=[AuthFailure.name_sha256],
        set_={
            "failed_attempts": AuthFailure.failed_attempts + 1,
            "last_failed_at": now,
        },
    ).returning(AuthFailure.failed_attempts)
    failures: int = (await session.execute(statement)).scalar_one()
    return failures


async def _prune_unknown_names(session: AsyncSession, policy: LockoutPolicy, now: datetime) -> None:
    """Forget unknown names whose lock is over and whose last failure is older than the
    longest lock; then the oldest beyond :data:`MAX_UNKNOWN_NAMES - 1` (room for one)."""
    stale = now - timedelta(seconds=policy.max_lock_seconds)
    await session.execute(
        delete(AuthFailure).where(
            AuthFailure.last_failed_at < stale,
            (AuthFailure.locked_until.is_(None)) | (AuthFailure.locked_until <= now),
        )
    )
    count = (await session.execute(select(func.count()).select_from(AuthFailure))).scalar_one()
    excess = count - (MAX_UNKNOWN_NAMES - 1)
    if excess > 0:
        oldest = select(AuthFailure.name_sha256).order_by(AuthFailure.last_failed_at).limit(excess)
        await session.execute(delete(AuthFailure).where(AuthFailure.name_sha256.in_(oldest)))


async def judge_signer(
    session: AsyncSession, user: User, password: str, *, now: datetime
) -> Check | Attempt:
    """The signer's password checked (no write): a :class:`Check` to :func:`settle`, or
    the refusal that needs no password check (an :class:`Attempt`: FAILED for a user gone,
    FORBIDDEN for someone whose roles may not sign)."""
    fresh = await session.get(User, user.id, populate_existing=True)
    if fresh is None:
        return Attempt(Outcome.FAILED, None)
    if not may_sign(fresh.roles):
        return Attempt(Outcome.FORBIDDEN, fresh)
    return await judge_user(fresh, password, now=now)


def signature_of(
    user: User, meaning: SignatureMeaning, *, record: str, record_digest: str, now: datetime
) -> Signature:
    """The manifestation of ``user``'s signature (after a successful :func:`settle`)."""
    return Signature(
        username=user.username,
        printed_name=user.full_name or user.username,
        meaning=meaning,
        signed_at=now,
        record=record,
        record_digest=record_digest,
    )


async def sign(
    session: AsyncSession,
    user: User,
    password: str,
    meaning: SignatureMeaning,
    *,
    record: str,
    record_digest: str,
    policy: LockoutPolicy | None = None,
    max_age_days: int = 0,
    now: datetime | None = None,
) -> tuple[Attempt, Signature | None]:
    """Re-authenticate ``user`` for an electronic signature meaning ``meaning`` over the
    record ``record`` whose digest is ``record_digest``.

    The signature (its manifestation) comes back only when the outcome is OK; someone who
    holds a role that may not sign is refused before their password is checked.
    """
    now = now or utcnow()
    judged = await judge_signer(session, user, password, now=now)
    if isinstance(judged, Attempt):
        return judged, None
    attempt = await settle(
        session, judged, policy=policy or LockoutPolicy(), max_age_days=max_age_days, now=now
    )
    if attempt.outcome is not Outcome.OK or attempt.user is None:
        return attempt, None
    return attempt, signature_of(
        attempt.user, meaning, record=record, record_digest=record_digest, now=now
    )


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


async def revoke_tokens(session: AsyncSession, user: User) -> None:
    """Every bearer token of ``user`` stops working."""
    await session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
