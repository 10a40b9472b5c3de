"""argon2 hashing and new-password rules."""

from __future__ import annotations

import pytest

from mes_runtime.auth import passwords as hashing
from mes_runtime.auth.passwords import (
    generate_password,
    hash_password,
    needs_rehash,
    validate_new_password,
    verify_password,
)
from mes_runtime.auth.tokens import new_token, token_digest


def test_hash_and_verify() -> None:
    password = generate_password()
    hashed = hash_password(password)
    assert hashed.startswith("$argon2id$")
    assert password not in hashed
    assert verify_password(hashed, password)
    assert not verify_password(hashed, password + "x")
    assert not verify_password("not-a-hash", password)
    assert not needs_rehash(hashed)


def test_generated_passwords_are_random_and_acceptable() -> None:
    passwords = {generate_password() for _ in range(20)}
    assert len(passwords) == 20
    assert all(validate_new_password(p) is None for p in passwords)


def test_weak_passwords_are_refused() -> None:
    assert "at least" in (validate_new_password("short") or "")
    assert validate_new_password("changeme") is not None
    assert "user name" in (validate_new_password("alice-loves-her-job", username="alice") or "")


def test_tokens_are_stored_as_digests() -> None:
    token, digest = new_token()
    assert digest == token_digest(token)
    assert len(digest) == 64
    assert token not in digest
    assert new_token()[0] != token


async def test_hashing_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A login's hash (production cost, tens of ms) must not stall the event loop, which also
    runs the batch engine and the OPC UA supervision: a ticker keeps running meanwhile."""
    import asyncio
    import threading

    from argon2 import PasswordHasher

    monkeypatch.setattr(hashing, "_HASHER", PasswordHasher())  # RFC 9106 cost, not tests'
    ticks = 0
    hashing_threads: list[str] = []

    def hash_and_note(password: str) -> str:
        hashing_threads.append(threading.current_thread().name)
        return hashing.hash_password(password)

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        hashed = await hashing.off_loop(hash_and_note, "correct horse battery staple")
    finally:
        task.cancel()
    assert hashing.verify_password(hashed, "correct horse battery staple")
    assert hashing_threads[0].startswith("holon-hash")
    assert ticks > 1, "the event loop did not run while the password was hashed"
