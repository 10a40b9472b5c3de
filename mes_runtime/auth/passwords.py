"""Password hashing with argon2id (argon2-cffi's RFC 9106 defaults).

``verify_password`` never raises on a wrong password and burns comparable time for unknown
users (``dummy_verify``) so that response times do not reveal which usernames exist.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "dummy_verify",
    "generate_password",
    "hash_password",
    "needs_rehash",
    "validate_new_password",
    "verify_password",
]

MIN_PASSWORD_LENGTH = 12
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return str(_HASHER.hash(password))


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def dummy_verify(password: str) -> None:
    """Spend the time of one verification (used when the user does not exist)."""
    verify_password(_DUMMY_HASH, password)


def needs_rehash(password_hash: str) -> bool:
    return bool(_HASHER.check_needs_rehash(password_hash))


def generate_password() -> str:
    """A random password (~190 bits), shown once to whoever creates the account."""
    return secrets.token_urlsafe(24)


def validate_new_password(password: str) -> str | None:
    """The problem with ``password`` as a new password, or None if acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    from mes_runtime.settings import PLACEHOLDER_SECRETS

    if password.strip().lower() in PLACEHOLDER_SECRETS:
        return "is a well-known placeholder"
    return None
