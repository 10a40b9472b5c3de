"""Users who sign in through the plant's identity provider (OpenID Connect).

A verified token (:class:`~mes_runtime.auth.oidc.OidcIdentity`) names a user and the roles
their groups map to. The runtime keeps a user record for them, as for a local user: the
journal, signatures and segregation of duties all name a user of the ``users`` table. The
first sign-in creates it (``user.created``), and a sign-in whose groups map to other roles
(or whose printed name changed) updates it (``user.changed``); both journalled by
``system`` with the issuer and subject as the reason, in the change's own unit of work.
The provider is the authority on roles; the runtime stays the authority on ``active``: an
account deactivated here is refused whatever the provider says.

Such a user has no password (``!``) until they set a signing password with a set-up token
(README "Signing as a user of the identity provider").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mes_runtime.auth.oidc import OidcIdentity
from mes_runtime.auth.passwords import NO_PASSWORD
from mes_runtime.auth.users import get_user, issue_token
from mes_runtime.db.models import User
from mes_runtime.ebr.journal import Entry, Journal
from mes_runtime.ebr.unit_of_work import journalled
from mes_runtime.kernel.clock import utcnow

__all__ = ["AccountInactive", "IdentityConflict", "sign_in", "user_for_identity"]


class AccountInactive(Exception):
    """The identity's user record is deactivated in the runtime."""


class IdentityConflict(Exception):
    """The identity's user name belongs to a local account or to another provider account:
    acting as that record would put two people under one name in the journal."""


def provider_subject(identity: OidcIdentity) -> str:
    """What binds a provider account to its user record: its issuer and subject."""
    return f"{identity.issuer} {identity.subject}"


def _check_binding(user: User, identity: OidcIdentity) -> None:
    bound = provider_subject(identity)
    if user.provider_subject == bound:
        return
    holder = "a local account" if user.provider_subject is None else "another provider account"
    raise IdentityConflict(
        f"the user name {user.username!r} belongs to {holder} of this runtime; the provider's "
        f"account (subject {identity.subject}) cannot act as it - give it another user name "
        "at the provider"
    )


def _current(user: User, identity: OidcIdentity) -> bool:
    return list(user.roles) == list(identity.roles) and (
        identity.full_name is None or user.full_name == identity.full_name
    )


def _state(user: User) -> dict[str, object]:
    return {"roles": list(user.roles), "active": user.active, "full_name": user.full_name}


async def _apply(session: AsyncSession, identity: OidcIdentity) -> tuple[User, list[Entry]]:
    reason = f"signed in through {identity.issuer} (subject {identity.subject})"
    subject = f"user:{identity.username}"
    user = await get_user(session, identity.username)
    if user is None:
        user = User(
            username=identity.username,
            provider_subject=provider_subject(identity),
            password_hash=NO_PASSWORD,
            roles=list(identity.roles),
            active=True,
            created_at=utcnow(),
            full_name=identity.full_name,
            failed_attempts=0,
        )
        session.add(user)
        await session.flush()
        entry = Entry(
            actor="system",
            action="user.created",
            subject=subject,
            new_value={**_state(user), "groups": list(identity.groups)},
            reason=reason,
        )
        return user, [entry]
    _check_binding(user, identity)
    if _current(user, identity):
        return user, []
    old = _state(user)
    user.roles = list(identity.roles)
    if identity.full_name is not None:
        user.full_name = identity.full_name
    entry = Entry(
        actor="system",
        action="user.changed",
        subject=subject,
        old_value=old,
        new_value={**_state(user), "groups": list(identity.groups)},
        reason=f"roles from the identity provider's groups; {reason}",
    )
    return user, [entry]


async def user_for_identity(
    sessions: async_sessionmaker[AsyncSession], journal: Journal, identity: OidcIdentity
) -> User:
    """The user record of ``identity``, created or brought up to date (journalled); raises
    :class:`AccountInactive` when the runtime has deactivated it, :class:`IdentityConflict`
    when its name is another account's."""
    async with sessions() as session:
        user = await get_user(session, identity.username)
    if user is not None:
        _check_binding(user, identity)
    if user is None or not _current(user, identity):
        try:
            user = await journalled(journal, lambda unit: _apply(unit, identity))
        except IntegrityError:  # another replica created it at the same moment
            user = await journalled(journal, lambda unit: _apply(unit, identity))
    if not user.active:
        raise AccountInactive(identity.username)
    return user


async def sign_in(
    sessions: async_sessionmaker[AsyncSession],
    journal: Journal,
    identity: OidcIdentity,
    *,
    ttl_seconds: int,
) -> tuple[User, str, datetime]:
    """The UI's sign-in through the provider: the runtime's own bearer token for the
    identity's user, ``(user, token, expires_at)``, journalled as ``auth.login``."""
    user = await user_for_identity(sessions, journal, identity)

    async def issue(unit: AsyncSession) -> tuple[tuple[str, datetime], Entry]:
        issued = await issue_token(unit, user, ttl_seconds=ttl_seconds)
        name = user.username
        entry = Entry(
            actor=name,
            action="auth.login",
            subject=f"user:{name}",
            reason=f"through {identity.issuer}",
        )
        return issued, entry

    token, expires_at = await journalled(journal, issue)
    return user, token, expires_at
