"""Signing in, passwords and electronic signatures, with their journal entries and alerts.

What a failed authentication leaves behind is written by the runtime, never by the caller:
the journal's actor is ``anonymous`` (or, for a signature, the already authenticated user),
the subject is a user name read from the database (``user:?`` when the name typed matches
nobody, and the typed text itself is not recorded: a password typed into the user field
must not land in the journal). A name that matches nobody is counted and locked as an
account is (``auth.users``): the caller cannot tell from the answers which names exist.
When a failure locks an account, the journal gets an ``auth.locked`` entry by ``system``,
the log a ``security alert`` warning, and the alert hook (the runtime's metrics) a count.

Every change here commits with the journal entries that record it (one unit of work,
:func:`~mes_runtime.ebr.unit_of_work.journalled`): an enrolled user with ``user.created``,
a counted failure with its refusal (and ``auth.locked``), an issued token with
``auth.login``. A password is verified and a new one hashed (argon2) before that unit of
work, never inside it: it runs under the journal writer's lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from mes_runtime.auth.lockout import LockoutPolicy
from mes_runtime.auth.permissions import grant_problem
from mes_runtime.auth.signatures import Signature, SignatureMeaning
from mes_runtime.auth.users import (
    Attempt,
    Check,
    Outcome,
    SetupTokenInvalid,
    authenticate,
    enroll_user,
    get_user,
    hash_new_password,
    issue_setup_token,
    issue_token,
    judge,
    judge_signer,
    revoke_token,
    revoke_tokens,
    settle,
    signature_of,
    store_password,
    user_with_setup_token,
)
from mes_runtime.db.models import User
from mes_runtime.ebr.journal import Journal, Work
from mes_runtime.ebr.unit_of_work import Entry, journalled
from mes_runtime.kernel.clock import utcnow
from mes_runtime.settings import Settings

__all__ = [
    "ANONYMOUS",
    "SYSTEM",
    "AccountPolicy",
    "AlertHook",
    "AuthRefused",
    "GrantRefused",
    "OwnPasswordReset",
    "SelfDeactivation",
    "UserNotFound",
    "change_password",
    "change_user",
    "count_admins",
    "enrol_user",
    "list_users",
    "log_in",
    "log_out",
    "reset_password",
    "set_up_password",
    "sign_record",
]

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
SYSTEM = "system"
#: Told of every failed authentication: ``(via, locked)``; via is login, password or
#: signature.
AlertHook = Callable[[str, bool], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountPolicy:
    lockout: LockoutPolicy
    max_age_days: int
    token_ttl_seconds: int
    setup_ttl_seconds: int

    async def authenticate(
        self, session: AsyncSession, username: str, password: str, *, now: datetime
    ) -> Attempt:
        """One attempt under this policy (lockout, maximum password age)."""
        return await authenticate(
            session,
            username,
            password,
            policy=self.lockout,
            max_age_days=self.max_age_days,
            now=now,
        )

    async def settle(self, session: AsyncSession, check: Check, *, now: datetime) -> Attempt:
        """Count a checked attempt under this policy (lockout, maximum password age)."""
        return await settle(
            session, check, policy=self.lockout, max_age_days=self.max_age_days, now=now
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> AccountPolicy:
        return cls(
            lockout=LockoutPolicy(
                max_failures=settings.login_max_failures,
                lock_seconds=settings.login_lockout_seconds,
                max_lock_seconds=settings.login_lockout_max_seconds,
            ),
            max_age_days=settings.password_max_age_days,
            token_ttl_seconds=settings.token_ttl_seconds,
            setup_ttl_seconds=settings.setup_token_ttl_seconds,
        )


class AuthRefused(Exception):
    """An authentication that did not succeed; ``outcome`` says how, ``retry_after`` (s)
    how long a locked account stays locked."""

    def __init__(self, outcome: Outcome, *, retry_after: int | None = None) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome
        self.retry_after = retry_after


def _retry_after(attempt: Attempt, now: datetime) -> int | None:
    if attempt.locked_until is None:
        return None
    return max(1, int((attempt.locked_until - now).total_seconds() + 0.999))


def _failure_entries(
    attempt: Attempt,
    *,
    via: str,
    actor: str,
    action: str,
    subject: str,
    batch_id: str | None = None,
) -> list[Entry]:
    """What a refused authentication leaves in the journal: the refusal, and ``auth.locked``
    (by ``system``) when it locked the account; written with the count that caused them."""
    user = attempt.user
    reasons = {
        Outcome.FAILED: "wrong password" if user is not None else "unknown user name",
        Outcome.LOCKED: "the account is locked",
        Outcome.EXPIRED: "the password has expired",
        Outcome.FORBIDDEN: "the signer's roles may not sign",
    }
    entries = [
        Entry(
            batch_id=batch_id,
            actor=actor,
            action=action,
            subject=subject,
            new_value={"failed_attempts": attempt.failures} if attempt.failures else None,
            reason=reasons.get(attempt.outcome, attempt.outcome.value),
        )
    ]
    if attempt.newly_locked and attempt.locked_until is not None:
        # an unknown name is locked as an account is; it is not written down (it may be a
        # password typed into the user field)
        name = user.username if user is not None else "?"
        entries.append(
            Entry(
                actor=SYSTEM,
                action="auth.locked",
                subject=f"user:{name}",
                new_value={
                    "locked_until": attempt.locked_until.isoformat(),
                    "failed_attempts": attempt.failures,
                    "via": via,
                },
                reason=f"{attempt.failures} failed authentications in a row",
            )
        )
    return entries


def _alert_failure(attempt: Attempt, *, via: str, alert: AlertHook) -> None:
    """Tell the alert hook (and, for a lock, the log) of a refusal once it is stored."""
    if attempt.outcome in (Outcome.FAILED, Outcome.LOCKED):
        alert(via, attempt.newly_locked)
    if attempt.newly_locked and attempt.locked_until is not None:
        log.warning(
            "security alert: account %s locked until %s after %d failed authentications (%s)",
            attempt.user.username
            if attempt.user is not None
            else "(a user name that matches no user)",
            attempt.locked_until.isoformat(),
            attempt.failures,
            via,
        )


def _anonymous_failure(attempt: Attempt, *, via: str, action: str) -> list[Entry]:
    """The entries of a refusal of a caller not yet authenticated."""
    user = attempt.user
    return _failure_entries(
        attempt,
        via=via,
        actor=ANONYMOUS,
        action=action,
        subject=f"user:{user.username}" if user is not None else "user:?",
    )


async def log_in(
    session: AsyncSession,
    journal: Journal,
    policy: AccountPolicy,
    alert: AlertHook,
    *,
    username: str,
    password: str,
) -> tuple[User, str, datetime]:
    """A bearer token for these credentials: ``(user, token, expires_at)``; otherwise
    :class:`AuthRefused` (FAILED, LOCKED or EXPIRED), journalled.

    The password is verified first (argon2, outside any write); then, in one unit of work,
    the attempt is counted and either the token is issued with ``auth.login`` or the
    refusal (and a lock it caused) is journalled.
    """
    now = utcnow()
    async with session.begin():
        check = await judge(session, username, password, now=now)

    async def settle_login(
        unit: AsyncSession,
    ) -> tuple[tuple[Attempt, tuple[str, datetime] | None], list[Entry]]:
        attempt = await policy.settle(unit, check, now=now)
        user = attempt.user
        if attempt.outcome is not Outcome.OK or user is None:
            return (attempt, None), _anonymous_failure(
                attempt, via="login", action="auth.login_failed"
            )
        issued = await issue_token(unit, user, ttl_seconds=policy.token_ttl_seconds, now=now)
        name = user.username
        return (attempt, issued), [Entry(actor=name, action="auth.login", subject=f"user:{name}")]

    attempt, issued = await journalled(journal, settle_login)
    if issued is None or attempt.user is None:
        _alert_failure(attempt, via="login", alert=alert)
        raise AuthRefused(attempt.outcome, retry_after=_retry_after(attempt, now))
    return attempt.user, *issued


async def change_password(
    session: AsyncSession,
    journal: Journal,
    policy: AccountPolicy,
    alert: AlertHook,
    *,
    username: str,
    current_password: str,
    new_password: str,
) -> User:
    """A user changes their own password, proving the current one (which may have
    expired: this is how an expired one is replaced). Raises :class:`AuthRefused`, or
    ``InvalidUserData`` for a new password the policy refuses (nothing is changed)."""
    now = utcnow()
    async with session.begin():
        check = await judge(session, username, current_password, now=now)
    password_hash = None
    if check.right and not check.locked and check.user is not None:  # hashed before the lock
        password_hash = await hash_new_password(new_password, check.user.username)

    async def settle_change(unit: AsyncSession) -> tuple[Attempt, list[Entry]]:
        attempt = await policy.settle(unit, check, now=now)
        user = attempt.user
        if attempt.outcome not in (Outcome.OK, Outcome.EXPIRED) or user is None:
            return attempt, _anonymous_failure(
                attempt, via="password", action="auth.password_change_failed"
            )
        assert password_hash is not None  # settled OK or EXPIRED: the password was right
        await store_password(unit, user, password_hash, now=now)
        expired = attempt.outcome is Outcome.EXPIRED
        return attempt, [
            Entry(
                actor=user.username,
                action="user.password_changed",
                subject=f"user:{user.username}",
                reason="changed by the user" + (" (it had expired)" if expired else ""),
            )
        ]

    attempt = await journalled(journal, settle_change)
    if attempt.outcome not in (Outcome.OK, Outcome.EXPIRED) or attempt.user is None:
        _alert_failure(attempt, via="password", alert=alert)
        raise AuthRefused(attempt.outcome, retry_after=_retry_after(attempt, now))
    return attempt.user


async def sign_record(
    session: AsyncSession,
    journal: Journal,
    policy: AccountPolicy,
    alert: AlertHook,
    *,
    user: User,
    password: str,
    meaning: SignatureMeaning,
    record: str,
    record_digest: str,
    batch_id: str | None = None,
) -> Signature:
    """``user``'s electronic signature meaning ``meaning`` over ``record`` (its digest
    ``record_digest``), re-authenticated by ``password``. Raises :class:`AuthRefused`
    (FAILED, LOCKED, EXPIRED or FORBIDDEN), journalled as ``signature.rejected`` (in batch
    ``batch_id``'s record when the record belongs to one) with the count it caused; the
    caller journals the signed action with ``signature.manifest()``."""
    now = utcnow()
    async with session.begin():
        judged = await judge_signer(session, user, password, now=now)

    def refusal(attempt: Attempt) -> list[Entry]:
        return _failure_entries(
            attempt,
            via="signature",
            actor=user.username,
            action="signature.rejected",
            subject=record,
            batch_id=batch_id,
        )

    if isinstance(judged, Attempt):  # refused before the password counts: nothing to count
        attempt = judged
        await journal.record(_entries(refusal(attempt)))
    else:
        check = judged

        async def settle_signature(unit: AsyncSession) -> tuple[Attempt, list[Entry]]:
            attempt = await policy.settle(unit, check, now=now)
            # a success is not journalled here: the caller journals the signed action
            return attempt, [] if attempt.outcome is Outcome.OK else refusal(attempt)

        attempt = await journalled(journal, settle_signature)
    if attempt.outcome is not Outcome.OK or attempt.user is None:
        _alert_failure(attempt, via="signature", alert=alert)
        raise AuthRefused(attempt.outcome, retry_after=_retry_after(attempt, now))
    return signature_of(attempt.user, meaning, record=record, record_digest=record_digest, now=now)


def _entries(entries: list[Entry]) -> Work:
    """A :meth:`Journal.record` work that changes nothing: these entries, in one commit."""

    async def said(_: AsyncConnection) -> list[Entry]:
        return entries

    return said


# -- enrolment and administration: each change with its journal entry, one unit of work ---


class UserNotFound(LookupError):
    def __init__(self, username: str) -> None:
        super().__init__(f"no user {username!r}")


class GrantRefused(Exception):
    """Segregation of duties: the change would hand the administrator (or someone) a role
    they may not grant; the message names it."""


class SelfDeactivation(Exception):
    """An administrator may not deactivate themselves."""


class OwnPasswordReset(Exception):
    """An administrator changes their own password as every user does, not by a reset."""


async def enrol_user(
    journal: Journal,
    *,
    admin: User,
    username: str,
    full_name: str,
    roles: list[str],
    setup_ttl_seconds: int,
) -> tuple[User, str, datetime]:
    """Enrol a user without a password: ``(user, one-time set-up token, its expiry)``, with
    the ``user.created`` entry. Raises :class:`GrantRefused`, ``InvalidUserData``,
    ``UserExists``; nothing is stored then."""
    problem = grant_problem(
        granter=admin.username,
        granter_roles=admin.roles,
        target=None,
        old_roles=[],
        new_roles=roles,
    )
    if problem is not None:
        raise GrantRefused(problem)

    async def enrol(session: AsyncSession) -> tuple[tuple[User, str, datetime], Entry]:
        enrolled = await enroll_user(
            session,
            username=username,
            full_name=full_name,
            roles=roles,
            ttl_seconds=setup_ttl_seconds,
        )
        user = enrolled[0]
        return enrolled, Entry(
            actor=admin.username,
            action="user.created",
            subject=f"user:{user.username}",
            new_value={"username": user.username, "full_name": user.full_name, "roles": roles},
            reason="enrolled; the user sets their own password with a one-time set-up token",
        )

    return await journalled(journal, enrol)


async def change_user(
    journal: Journal,
    *,
    admin: User,
    username: str,
    roles: list[str] | None,
    full_name: str | None,
    active: bool | None,
) -> User:
    """Change a user's roles, printed name or active flag (a deactivated user's tokens stop
    working at once), with the ``user.changed`` entry (old and new). Raises
    :class:`UserNotFound`, :class:`SelfDeactivation`, :class:`GrantRefused`."""

    async def change(session: AsyncSession) -> tuple[User, Entry]:
        user = await get_user(session, username)
        if user is None:
            raise UserNotFound(username)
        if user.username == admin.username and active is False:
            raise SelfDeactivation("you cannot deactivate yourself")
        if roles is not None:
            problem = grant_problem(
                granter=admin.username,
                granter_roles=admin.roles,
                target=user.username,
                old_roles=user.roles,
                new_roles=roles,
            )
            if problem is not None:
                raise GrantRefused(problem)
        old = {"roles": list(user.roles), "active": user.active, "full_name": user.full_name}
        if roles is not None:
            user.roles = sorted(set(roles))
        if full_name is not None:
            user.full_name = full_name
        if active is not None:
            user.active = active
            if not active:
                await revoke_tokens(session, user)
        new = {"roles": list(user.roles), "active": user.active, "full_name": user.full_name}
        return user, Entry(
            actor=admin.username,
            action="user.changed",
            subject=f"user:{username}",
            old_value=old,
            new_value=new,
        )

    return await journalled(journal, change)


async def reset_password(
    journal: Journal, *, admin: User, username: str, setup_ttl_seconds: int
) -> tuple[str, datetime]:
    """The user's password and tokens stop working; a one-time set-up token for them, with
    the ``user.password_reset`` entry. Only for users whose every role ``admin`` holds
    (whoever holds the token can act as the user). Raises :class:`OwnPasswordReset`,
    :class:`UserNotFound`, :class:`GrantRefused`."""
    if username == admin.username:
        raise OwnPasswordReset("change your own password with POST /api/v1/auth/password")

    async def reset(session: AsyncSession) -> tuple[tuple[str, datetime], Entry]:
        user = await get_user(session, username)
        if user is None:
            raise UserNotFound(username)
        problem = grant_problem(
            granter=admin.username,
            granter_roles=admin.roles,
            target=None,
            old_roles=[],
            new_roles=user.roles,
        )
        if problem is not None:
            raise GrantRefused(
                f"resetting this password would hand you the user's roles: {problem}"
            )
        issued = await issue_setup_token(session, user, ttl_seconds=setup_ttl_seconds)
        return issued, Entry(
            actor=admin.username,
            action="user.password_reset",
            subject=f"user:{username}",
            reason="password reset; the user sets a new one with a one-time set-up token",
        )

    return await journalled(journal, reset)


async def set_up_password(
    session: AsyncSession, journal: Journal, *, username: str, token: str, new_password: str
) -> User:
    """A user sets their own password with their one-time set-up token, which then stops
    working; ``user.password_set`` commits with the password. Raises ``InvalidUserData``
    or ``SetupTokenInvalid`` (journalled as ``auth.password_setup_failed``)."""
    now = utcnow()
    try:
        async with session.begin():  # checked before hashing: no argon2 for a bad token
            user = await user_with_setup_token(session, username, token, now=now)
        password_hash = await hash_new_password(new_password, user.username)

        async def store(unit: AsyncSession) -> tuple[User, Entry]:
            # checked again in the writing transaction: a token is used once
            current = await user_with_setup_token(unit, username, token, now=now)
            await store_password(unit, current, password_hash, now=now)
            return current, Entry(
                actor=current.username,
                action="user.password_set",
                subject=f"user:{current.username}",
                reason="set by the user with their one-time set-up token",
            )

        return await journalled(journal, store)
    except SetupTokenInvalid:
        await journal.append(
            actor=ANONYMOUS,
            action="auth.password_setup_failed",
            subject="user:?",
            reason="unknown, used or expired set-up token",
        )
        raise


async def log_out(journal: Journal, *, user: User, token: str | None) -> None:
    """The bearer token stops working, with the ``auth.logout`` entry."""

    async def revoke(session: AsyncSession) -> tuple[None, Entry]:
        if token is not None:
            await revoke_token(session, token)
        name = user.username
        return None, Entry(actor=name, action="auth.logout", subject=f"user:{name}")

    await journalled(journal, revoke)


async def list_users(session: AsyncSession) -> list[User]:
    return list((await session.execute(select(User).order_by(User.username))).scalars())


async def count_admins(session: AsyncSession) -> tuple[int, int]:
    """``(active administrators, users)``: a runtime without an administrator says so."""
    roles = (await session.execute(select(User.roles).where(User.active))).scalars()
    admins = sum(1 for held in roles if "admin" in held)
    users = (await session.execute(select(func.count()).select_from(User))).scalar_one()
    return admins, int(users)
