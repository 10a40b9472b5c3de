"""Signing in, passwords and electronic signatures, with their journal entries and alerts.

What a failed authentication leaves behind is written by the runtime, never by the caller:
the journal's actor is ``anonymous`` (or, for a signature, the already authenticated user),
the subject is a user name read from the database (``user:?`` when the name typed matches
nobody, and the typed text itself is not recorded: a password typed into the user field
must not land in the journal). A name that matches nobody is counted and locked as an
account is (``auth.users``): the caller cannot tell from the answers which names exist.
When a failure locks an account, the journal gets an ``auth.locked`` entry by ``system``,
the log a ``security alert`` warning, and the alert hook (the runtime's metrics) a count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from mes_runtime.auth.lockout import LockoutPolicy
from mes_runtime.auth.signatures import Signature, SignatureMeaning
from mes_runtime.auth.users import (
    Attempt,
    Outcome,
    authenticate,
    issue_token,
    set_password,
    sign,
)
from mes_runtime.db.models import User
from mes_runtime.ebr.journal import Journal
from mes_runtime.kernel.clock import utcnow
from mes_runtime.settings import Settings

__all__ = [
    "ANONYMOUS",
    "SYSTEM",
    "AccountPolicy",
    "AlertHook",
    "AuthRefused",
    "change_password",
    "log_in",
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


async def _record_failure(
    journal: Journal,
    attempt: Attempt,
    *,
    via: str,
    actor: str,
    action: str,
    subject: str,
    alert: AlertHook,
    batch_id: str | None = None,
) -> None:
    user = attempt.user
    reasons = {
        Outcome.FAILED: "wrong password" if user is not None else "unknown user name",
        Outcome.LOCKED: "the account is locked",
        Outcome.EXPIRED: "the password has expired",
        Outcome.FORBIDDEN: "the signer's roles may not sign",
    }
    await journal.append(
        batch_id=batch_id,
        actor=actor,
        action=action,
        subject=subject,
        new_value={"failed_attempts": attempt.failures} if attempt.failures else None,
        reason=reasons.get(attempt.outcome, attempt.outcome.value),
    )
    if attempt.outcome in (Outcome.FAILED, Outcome.LOCKED):
        alert(via, attempt.newly_locked)
    if attempt.newly_locked and attempt.locked_until is not None:
        # an unknown name is locked as an account is; it is not written down (it may be a
        # password typed into the user field)
        name = user.username if user is not None else "?"
        log.warning(
            "security alert: account %s locked until %s after %d failed authentications (%s)",
            name if user is not None else "(a user name that matches no user)",
            attempt.locked_until.isoformat(),
            attempt.failures,
            via,
        )
        await journal.append(
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


async def _refuse(
    journal: Journal, attempt: Attempt, via: str, action: str, alert: AlertHook, now: datetime
) -> AuthRefused:
    """Record a refused attempt by a caller not yet authenticated; the error to raise."""
    user = attempt.user
    await _record_failure(
        journal,
        attempt,
        via=via,
        actor=ANONYMOUS,
        action=action,
        subject=f"user:{user.username}" if user is not None else "user:?",
        alert=alert,
    )
    return AuthRefused(attempt.outcome, retry_after=_retry_after(attempt, now))


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
    :class:`AuthRefused` (FAILED, LOCKED or EXPIRED), journalled."""
    now = utcnow()
    async with session.begin():
        attempt = await policy.authenticate(session, username, password, now=now)
        if attempt.outcome is Outcome.OK and attempt.user is not None:
            token, expires_at = await issue_token(
                session, attempt.user, ttl_seconds=policy.token_ttl_seconds, now=now
            )
    user = attempt.user
    if attempt.outcome is not Outcome.OK or user is None:
        raise await _refuse(journal, attempt, "login", "auth.login_failed", alert, now)
    await journal.append(actor=user.username, action="auth.login", subject=f"user:{user.username}")
    return user, token, expires_at


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
        attempt = await policy.authenticate(session, username, current_password, now=now)
        user = attempt.user
        if attempt.outcome in (Outcome.OK, Outcome.EXPIRED) and user is not None:
            await set_password(session, user, new_password, now=now)
    if attempt.outcome not in (Outcome.OK, Outcome.EXPIRED) or user is None:
        raise await _refuse(journal, attempt, "password", "auth.password_change_failed", alert, now)
    await journal.append(
        actor=user.username,
        action="user.password_changed",
        subject=f"user:{user.username}",
        reason="changed by the user"
        + (" (it had expired)" if attempt.outcome is Outcome.EXPIRED else ""),
    )
    return user


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
    ``batch_id``'s record when the record belongs to one); the caller journals the signed
    action with ``signature.manifest()``."""
    now = utcnow()
    async with session.begin():
        attempt, signature = await sign(
            session,
            user,
            password,
            meaning,
            record=record,
            record_digest=record_digest,
            policy=policy.lockout,
            max_age_days=policy.max_age_days,
            now=now,
        )
    if signature is None:
        await _record_failure(
            journal,
            attempt,
            via="signature",
            actor=user.username,
            action="signature.rejected",
            subject=record,
            alert=alert,
            batch_id=batch_id,
        )
        raise AuthRefused(attempt.outcome, retry_after=_retry_after(attempt, now))
    return signature
