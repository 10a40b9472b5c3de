"""Which passwords a user may choose: NIST SP 800-63B-4 §3.1.1.2, no composition theatre.

What the standard asks of a verifier, and nothing it advises against:

- at least :data:`MIN_LENGTH` characters (15 for a password that is the only factor), and
  long ones accepted (:data:`MAX_LENGTH`, far above the standard's 64); every printable
  character and space allowed;
- no composition rules (no "one digit, one capital"), no hints;
- refused when it is on a list of commonly used or breached passwords
  (``common-passwords.txt.gz``: 20,000 of them, shipped in the package, see
  ``common-passwords.NOTICE``), also with digits and punctuation around it
  (``password1234567``), is a repetition or a run of characters (``aaaa…``,
  ``passwordpassword``, ``123456789012345``), or contains a context word (the user's
  name, the product's name);
- compared after Unicode NFKC normalisation, so that look-alike spellings count alike.

Periodic expiry is not part of the standard; a plant whose policy demands it sets
``HOLON_PASSWORD_MAX_AGE_DAYS`` (see :func:`password_expired`). Pure: no I/O except
reading the packaged list once.
"""

from __future__ import annotations

import gzip
import itertools
import string
import unicodedata
from datetime import datetime, timedelta
from functools import cache
from importlib import resources

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "common_passwords",
    "password_expired",
    "password_problem",
]

MIN_LENGTH = 15
MAX_LENGTH = 1024
_CONTEXT_WORDS = ("holon",)
_AROUND = string.digits + string.punctuation + string.whitespace
_CORE_MIN = 4  # a shorter core left between digits and punctuation is not compared


@cache
def common_passwords() -> frozenset[str]:
    """The packaged list of common and breached passwords, lower-cased."""
    data = resources.files("mes_runtime.auth").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode("utf-8").split())


def _normal(password: str) -> str:
    return unicodedata.normalize("NFKC", password).lower()


def _is_repetition(text: str) -> bool:
    """``text`` is one unit said twice or more: ``aaaa…``, ``abab…``, ``qwertyqwerty``."""
    return any(
        len(text) % size == 0 and text == text[:size] * (len(text) // size)
        for size in range(1, len(text) // 2 + 1)
    )


def _is_run(text: str) -> bool:
    """``text`` steps by one character throughout, up or down (digits wrap 9 -> 0)."""

    def step(a: str, b: str) -> int:
        if a.isdigit() and b.isdigit():
            return (int(b) - int(a)) % 10
        return ord(b) - ord(a)

    steps = {step(a, b) for a, b in itertools.pairwise(text)}
    return steps in ({1}, {-1}, {9})


def password_problem(password: str, *, username: str | None = None) -> str | None:
    """What is wrong with ``password`` as a new password, or None if it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    normal = _normal(password)
    core = normal.strip(_AROUND)
    if normal in common_passwords() or (len(core) >= _CORE_MIN and core in common_passwords()):
        return "is on the list of commonly used or breached passwords"
    if _is_repetition(normal) or _is_run(normal):
        return "is a repetition or a run of characters"
    if username and len(username) >= 3 and _normal(username) in normal:
        return "must not contain your user name"
    for word in _CONTEXT_WORDS:
        if word in normal:
            return f"must not contain {word!r}"
    return None


def password_expired(changed_at: datetime | None, now: datetime, *, max_age_days: int) -> bool:
    """With a maximum age (``max_age_days`` > 0), whether a password set at ``changed_at``
    must be changed before it is used again. No age limit: never."""
    if max_age_days <= 0 or changed_at is None:
        return False
    return now - changed_at >= timedelta(days=max_age_days)
