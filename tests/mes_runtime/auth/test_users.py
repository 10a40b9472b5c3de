"""Users, tokens (expiry, revocation), self-set passwords, lockout and e-signatures in real
databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mes_runtime.auth.lockout import LockoutPolicy
from mes_runtime.auth.passwords import NO_PASSWORD
from mes_runtime.auth.signatures import SignatureMeaning
from mes_runtime.auth.users import (
    InvalidUserData,
    Outcome,
    SetupTokenInvalid,
    UserExists,
    authenticate,
    check_password,
    create_user,
    enroll_user,
    get_user,
    issue_setup_token,
    issue_token,
    revoke_token,
    set_password_with_token,
    sign,
    user_for_token,
)
from mes_runtime.db.models import User

PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "a-brand-new-passphrase"
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


async def _user(
    factory: async_sessionmaker[AsyncSession], name: str = "alice", roles: tuple[str, ...] = ()
) -> None:
    async with factory() as session, session.begin():
        await create_user(
            session,
            username=name,
            password=PASSWORD,
            roles=list(roles or ("qa", "operator")),
            full_name=f"{name.capitalize()} Example",
            now=T0,
        )


async def _stored(factory: async_sessionmaker[AsyncSession], name: str = "alice") -> User:
    async with factory() as session:
        user = await get_user(session, name)
    assert user is not None
    return user


async def _login(
    factory: async_sessionmaker[AsyncSession],
    name: str,
    password: str,
    *,
    now: datetime = T0,
    policy: LockoutPolicy | None = None,
    max_age_days: int = 0,
) -> Outcome:
    async with factory() as session, session.begin():
        attempt = await authenticate(
            session, name, password, policy=policy, max_age_days=max_age_days, now=now
        )
    return attempt.outcome


async def test_create_and_authenticate(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await _user(session_factory)
    async with session_factory() as session, session.begin():
        attempt = await authenticate(session, "alice", PASSWORD, now=T0)
        assert attempt.outcome is Outcome.OK
        assert attempt.user is not None
        assert attempt.user.roles == ["operator", "qa"]
    assert await _login(session_factory, "alice", "wrong-password-xx") is Outcome.FAILED
    assert await _login(session_factory, "bob", PASSWORD) is Outcome.FAILED


async def test_duplicates_and_bad_data_are_refused(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _user(session_factory)
    with pytest.raises(UserExists):
        await _user(session_factory)
    cases = [
        ("Bad Name", PASSWORD, ["qa"], "username"),
        ("anonymous", PASSWORD, ["qa"], "username"),  # the journal's actor for strangers
        ("bob", "short", ["qa"], "password"),
        ("bob", "password1234567", ["qa"], "password"),
        ("bob", "bob-and-his-passphrase", ["qa"], "password"),
        ("bob", PASSWORD, ["root"], "roles"),
        ("bob", PASSWORD, [], "roles"),
    ]
    for username, password, roles, field in cases:
        async with session_factory() as session:
            with pytest.raises(InvalidUserData) as info:
                await create_user(session, username=username, password=password, roles=roles)
        assert info.value.field == field, (username, password)


async def test_token_expires(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await _user(session_factory)
    async with session_factory() as session, session.begin():
        user = await get_user(session, "alice")
        assert user is not None
        token, expires = await issue_token(session, user, ttl_seconds=3600, now=T0)
    assert expires == T0 + timedelta(hours=1)
    async with session_factory() as session:
        valid = await user_for_token(session, token, now=T0 + timedelta(minutes=59))
        expired = await user_for_token(session, token, now=T0 + timedelta(minutes=61))
        unknown = await user_for_token(session, token + "x", now=T0)
    assert valid is not None
    assert valid.username == "alice"
    assert expired is None
    assert unknown is None


async def test_revoked_token_and_inactive_user_stop_working(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _user(session_factory)
    await _user(session_factory, "bob")
    async with session_factory() as session, session.begin():
        alice = await get_user(session, "alice")
        bob = await get_user(session, "bob")
        assert alice is not None
        assert bob is not None
        token_a, _ = await issue_token(session, alice, ttl_seconds=60)
        token_b, _ = await issue_token(session, bob, ttl_seconds=60)
    async with session_factory() as session, session.begin():
        await revoke_token(session, token_a)
        bob_row = await user_for_token(session, token_b)
        assert bob_row is not None
        bob_row.active = False
    async with session_factory() as session:
        assert await user_for_token(session, token_a) is None
        assert await user_for_token(session, token_b) is None
    assert await _login(session_factory, "bob", PASSWORD) is Outcome.FAILED


async def test_enrolled_user_sets_their_own_password_once(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The admin enrols; only the set-up token sets a password, once, before it expires."""
    async with session_factory() as session, session.begin():
        user, token, expires = await enroll_user(
            session,
            username="carol",
            full_name="Carol Example",
            roles=["qa"],
            ttl_seconds=600,
            now=T0,
        )
        assert user.password_hash == NO_PASSWORD
    assert expires == T0 + timedelta(minutes=10)
    assert await _login(session_factory, "carol", "") is Outcome.FAILED  # no password yet
    async with session_factory() as session:
        with pytest.raises(SetupTokenInvalid):  # expired
            await set_password_with_token(
                session, "carol", token, NEW_PASSWORD, now=T0 + timedelta(minutes=11)
            )
        with pytest.raises(SetupTokenInvalid):  # someone else's name
            await set_password_with_token(session, "alice", token, NEW_PASSWORD, now=T0)
        with pytest.raises(InvalidUserData):  # the policy still applies
            await set_password_with_token(session, "carol", token, "123456789012345", now=T0)
    async with session_factory() as session, session.begin():
        await set_password_with_token(session, "carol", token, NEW_PASSWORD, now=T0)
    assert await _login(session_factory, "carol", NEW_PASSWORD) is Outcome.OK
    async with session_factory() as session:
        with pytest.raises(SetupTokenInvalid):  # used
            await set_password_with_token(session, "carol", token, "another-new-passphrase")


async def test_password_reset_ends_the_old_password_and_tokens(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _user(session_factory)
    async with session_factory() as session, session.begin():
        user = await get_user(session, "alice")
        assert user is not None
        bearer, _ = await issue_token(session, user, ttl_seconds=600)
        setup, _ = await issue_setup_token(session, user, ttl_seconds=600)
    assert await _login(session_factory, "alice", PASSWORD) is Outcome.FAILED
    async with session_factory() as session:
        assert await user_for_token(session, bearer) is None
    async with session_factory() as session, session.begin():
        await set_password_with_token(session, "alice", setup, NEW_PASSWORD)
    assert await _login(session_factory, "alice", NEW_PASSWORD) is Outcome.OK


async def test_repeated_failures_lock_with_back_off(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _user(session_factory)
    policy = LockoutPolicy(max_failures=3, lock_seconds=60, max_lock_seconds=3600)
    for _ in range(2):
        assert await _login(session_factory, "alice", "wrong", policy=policy) is Outcome.FAILED
    assert await _login(session_factory, "alice", "wrong", policy=policy) is Outcome.LOCKED
    # locked: even the right password is refused, until the lock ends
    later = T0 + timedelta(seconds=59)
    assert await _login(session_factory, "alice", PASSWORD, now=later) is Outcome.LOCKED
    # the next failure after the lock locks for twice as long
    after = T0 + timedelta(seconds=61)
    assert (
        await _login(session_factory, "alice", "wrong", now=after, policy=policy) is Outcome.LOCKED
    )
    user = await _stored(session_factory)
    assert user.failed_attempts == 4
    assert user.locked_until == after + timedelta(seconds=120)
    end = after + timedelta(seconds=121)
    assert await _login(session_factory, "alice", PASSWORD, now=end) is Outcome.OK
    user = await _stored(session_factory)
    assert (user.failed_attempts, user.locked_until) == (0, None)


async def test_parallel_guesses_are_all_counted(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """20 wrong passwords at once: each one checked is counted (no lost update), the
    fifth locks, and then the right password is refused too."""
    await _user(session_factory)
    policy = LockoutPolicy(max_failures=5)
    now = datetime.now(UTC)
    outcomes = await asyncio.gather(
        *(_login(session_factory, "alice", f"guess-{i}", now=now, policy=policy) for i in range(20))
    )
    assert outcomes.count(Outcome.FAILED) == 4
    assert outcomes.count(Outcome.LOCKED) == 16
    user = await _stored(session_factory)
    assert user.failed_attempts >= 5
    assert user.locked_until is not None
    assert await _login(session_factory, "alice", PASSWORD, now=now) is Outcome.LOCKED


async def test_a_lock_set_while_the_password_was_checked_holds(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A right guess racing the guess that locks the account does not get in."""
    await _user(session_factory)
    async with session_factory() as session, session.begin():
        stale = await get_user(session, "alice")  # read before the lock
        assert stale is not None
        async with session_factory() as other, other.begin():
            locked = await get_user(other, "alice")
            assert locked is not None
            locked.locked_until = T0 + timedelta(minutes=5)
        attempt = await check_password(session, stale, PASSWORD, policy=LockoutPolicy(), now=T0)
    assert attempt.outcome is Outcome.LOCKED


async def test_password_expires_when_the_plant_says_so(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _user(session_factory)
    day_89 = T0 + timedelta(days=89)
    day_90 = T0 + timedelta(days=90)
    assert await _login(session_factory, "alice", PASSWORD, now=day_89, max_age_days=90) is (
        Outcome.OK
    )
    assert await _login(session_factory, "alice", PASSWORD, now=day_90, max_age_days=90) is (
        Outcome.EXPIRED
    )
    assert await _login(session_factory, "alice", PASSWORD, now=day_90) is Outcome.OK


async def test_signature_manifests_printed_name_time_meaning_and_digest(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _user(session_factory)
    async with session_factory() as session, session.begin():
        user = await get_user(session, "alice")
        assert user is not None
        attempt, signature = await sign(
            session,
            user,
            PASSWORD,
            SignatureMeaning.REJECTED,
            record="recipe:r/1",
            record_digest="sha256:abc",
            now=T0,
        )
    assert attempt.outcome is Outcome.OK
    assert signature is not None
    assert signature.manifest() == {
        "signer": "alice",
        "printed_name": "Alice Example",
        "meaning": "rejected",
        "signed_at": "2026-05-01T08:00:00+00:00",
        "record": "recipe:r/1",
        "record_digest": "sha256:abc",
    }
    async with session_factory() as session, session.begin():
        user = await get_user(session, "alice")
        assert user is not None
        attempt, signature = await sign(
            session,
            user,
            "not-the-password",
            SignatureMeaning.APPROVED,
            record="r",
            record_digest="d",
        )
    assert (attempt.outcome, signature, attempt.failures) == (Outcome.FAILED, None, 1)


async def test_an_administrator_never_signs(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Even holding QA as well, whoever administers does not sign (and their password is
    not even checked, so a refused signature is not a guess)."""
    await _user(session_factory, "root-qa", roles=("admin", "qa"))
    async with session_factory() as session, session.begin():
        user = await get_user(session, "root-qa")
        assert isinstance(user, User)
        attempt, signature = await sign(
            session, user, PASSWORD, SignatureMeaning.APPROVED, record="r", record_digest="d"
        )
    assert (attempt.outcome, signature) == (Outcome.FORBIDDEN, None)
