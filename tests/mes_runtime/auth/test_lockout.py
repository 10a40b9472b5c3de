"""The lockout policy: a few free mistakes, then locks that double up to a cap."""

from __future__ import annotations

from datetime import timedelta

from mes_runtime.auth.lockout import LockoutPolicy


def test_locks_double_from_the_threshold_up_to_the_cap() -> None:
    policy = LockoutPolicy(max_failures=3, lock_seconds=60, max_lock_seconds=600)
    locks = [policy.lock_after(n) for n in range(1, 9)]
    seconds = [None if lock is None else lock.total_seconds() for lock in locks]
    assert seconds == [None, None, 60, 120, 240, 480, 600, 600]


def test_a_huge_failure_count_stays_at_the_cap() -> None:
    policy = LockoutPolicy(max_failures=5, lock_seconds=60, max_lock_seconds=3600)
    assert policy.lock_after(10**9) == timedelta(hours=1)
