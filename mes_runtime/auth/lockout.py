"""Back-off after failed authentications: pure policy, no I/O.

Every failed authentication of an account (a login, a password change, the password of an
electronic signature) counts; a success resets the count. From ``max_failures`` on, each
failure locks the account, first for ``lock_seconds``, doubling with every further failure
up to ``max_lock_seconds``: a person who mistypes waits a minute; a guesser gets a few
guesses an hour, and every lock raises an alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

__all__ = ["LockoutPolicy"]

_MAX_DOUBLINGS = 32  # far past any cap; keeps the power small


@dataclass(frozen=True, slots=True, kw_only=True)
class LockoutPolicy:
    max_failures: int = 5
    lock_seconds: int = 60
    max_lock_seconds: int = 3600

    def lock_after(self, failures: int) -> timedelta | None:
        """How long the ``failures``-th consecutive failure locks the account (None: not)."""
        if failures < self.max_failures:
            return None
        doublings = min(failures - self.max_failures, _MAX_DOUBLINGS)
        return timedelta(seconds=min(self.lock_seconds * 2**doublings, self.max_lock_seconds))
