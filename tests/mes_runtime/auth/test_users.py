"""Users, tokens (expiry, revocation) and e-signatures in real databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mes_runtime.auth.users import (
    InvalidUserData,
    SignatureRejected,
    UserExists,
    authenticate,
    create_user,
    issue_token,
    revoke_token,
    user_for_token,
    verify_signature,
)

PASSWORD = "correct-horse-battery"


async def _user(factory: async_sessionmaker[AsyncSession], name: str = "alice") -> None:
    async with factory() as session, session.begin():
        await create_user(session, username=name, password=PASSWORD, roles=["qa", "operator"])


async def test_create_and_authenticate(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await _user(session_factory)
    async with session_factory() as session:
        user = await authenticate(session, "alice", PASSWORD)
        assert user is not None
        assert user.roles == ["operator", "qa"]
        assert await authenticate(session, "alice", "wrong-password-xx") is None
        assert await authenticate(session, "bob", PASSWORD) is None


async def test_duplicates_and_bad_data_are_refused(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _user(session_factory)
    with pytest.raises(UserExists):
        await _user(session_factory)
    cases = [
        ("Bad Name", PASSWORD, ["qa"], "username"),
        ("bob", "short", ["qa"], "password"),
        ("bob", PASSWORD, ["root"], "roles"),
        ("bob", PASSWORD, [], "roles"),
    ]
    for username, password, roles, field in cases:
        async with session_factory() as session:
            with pytest.raises(InvalidUserData) as info:
                await create_user(session, username=username, password=password, roles=roles)
        assert info.value.field == field


async def test_token_expires(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await _user(session_factory)
    issued_at = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    async with session_factory() as session, session.begin():
        user = await authenticate(session, "alice", PASSWORD)
        assert user is not None
        token, expires = await issue_token(session, user, ttl_seconds=3600, now=issued_at)
    assert expires == issued_at + timedelta(hours=1)
    async with session_factory() as session:
        valid = await user_for_token(session, token, now=issued_at + timedelta(minutes=59))
        expired = await user_for_token(session, token, now=issued_at + timedelta(minutes=61))
        unknown = await user_for_token(session, token + "x", now=issued_at)
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
        alice = await authenticate(session, "alice", PASSWORD)
        bob = await authenticate(session, "bob", PASSWORD)
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
        assert await authenticate(session, "bob", PASSWORD) is None


async def test_signature_reauthenticates(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _user(session_factory)
    async with session_factory() as session:
        user = await authenticate(session, "alice", PASSWORD)
        assert user is not None
        signature = await verify_signature(session, user, PASSWORD, "approved")
        assert (signature.username, signature.meaning) == ("alice", "approved")
        assert signature.signed_at.tzinfo is not None
        with pytest.raises(SignatureRejected):
            await verify_signature(session, user, "not-the-password", "approved")
        with pytest.raises(ValueError, match="meaning"):
            await verify_signature(session, user, PASSWORD, " ")
