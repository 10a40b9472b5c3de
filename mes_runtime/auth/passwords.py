"""Password hashing with argon2id (argon2-cffi's RFC 9106 defaults).

``verify_password`` never raises on a wrong password and burns comparable time for unknown
users (``dummy_verify``) so that response times do not reveal which usernames exist.

Hashing is deliberately expensive (~50 ms of CPU and 64 MiB per hash), so the runtime never
hashes on its event loop, which also runs the batch engine and the equipment supervision:
``off_loop`` runs a hashing call on a pool of ``HASH_WORKERS`` threads (argon2 releases the
GIL). The pool also bounds the memory: however many logins arrive at once, at most
``HASH_WORKERS`` hashes run; the rest wait their turn.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mes_runtime.auth.password_policy import MIN_LENGTH, password_problem
from mes_runtime.settings import PLACEHOLDER_SECRETS

__all__ = [
    "HASH_WORKERS",
    "MIN_PASSWORD_LENGTH",
    "NO_PASSWORD",
    "dummy_verify",
    "generate_password",
    "hash_password",
    "needs_rehash",
    "off_loop",
    "validate_new_password",
    "verify_password",
]

MIN_PASSWORD_LENGTH = MIN_LENGTH
#: The hash of an account whose user has not set a password yet: it never verifies.
NO_PASSWORD = "!"  # noqa: S105 - a marker that is no argon2 hash, not a secret
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
HASH_WORKERS = 2
_POOL = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="holon-hash")
T = TypeVar("T")


async def off_loop(call: Callable[..., T], *args: str) -> T:
    """``call(*args)`` (a hashing function of this module) on the hashing threads."""
    return await asyncio.get_running_loop().run_in_executor(_POOL, call, *args)


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


def validate_new_password(password: str, *, username: str | None = None) -> str | None:
    """The problem with ``password`` as a new password, or None if acceptable
    (:mod:`mes_runtime.auth.password_policy`: NIST SP 800-63B-4)."""
    problem = password_problem(password, username=username)
    if problem is None and password.strip().lower() in PLACEHOLDER_SECRETS:
        return "is a well-known placeholder"
    return problem
