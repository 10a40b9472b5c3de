"""argon2 hashing and new-password rules."""

from __future__ import annotations

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


def test_tokens_are_stored_as_digests() -> None:
    token, digest = new_token()
    assert digest == token_digest(token)
    assert len(digest) == 64
    assert token not in digest
    assert new_token()[0] != token
