"""New-password rules after NIST SP 800-63B-4: length, the packaged common list, repetition
and runs, context words; no composition rules; optional expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mes_runtime.auth.password_policy import (
    MIN_LENGTH,
    common_passwords,
    password_expired,
    password_problem,
)


def test_the_common_list_ships_in_the_package() -> None:
    common = common_passwords()
    assert len(common) > 19_000
    assert {"password", "123456789", "password1234", "qwerty"} <= common


@pytest.mark.parametrize(
    ("password", "problem"),
    [  # full-width letters (U+FF50 ...) are no way round the list either
        # the findings: all accepted before
        ("123456789012", "at least"),
        ("password1234", "at least"),
        (" " * 12, "at least"),
        # and their long versions
        (" " * MIN_LENGTH, "repetition or a run"),
        ("123456789012345", "repetition or a run"),
        ("987654321098765", "repetition or a run"),
        ("abcdefghijklmnop", "repetition or a run"),
        ("aaaaaaaaaaaaaaa", "repetition or a run"),
        ("passwordpassword", "repetition or a run"),
        ("password1234567", "commonly used or breached"),
        ("!!qwerty12345678", "commonly used or breached"),
        ("PASSWORD1234567", "commonly used or breached"),  # case does not help
        ("\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44" + "1234567", "commonly used"),
        ("alice-in-the-factory", "your user name"),
        ("the-holon-runtime-pw", "'holon'"),
    ],
)
def test_weak_passwords_are_refused_naming_why(password: str, problem: str) -> None:
    assert problem in (password_problem(password, username="alice") or "")


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",  # spaces allowed
        "alllowercaseletters",  # no composition rules
        "Über-sichere Passphrase ✓",  # any Unicode
        "x" * 14 + "y",  # long enough and not a repetition
    ],
)
def test_long_unusual_passwords_are_accepted_without_composition_rules(password: str) -> None:
    assert password_problem(password, username="alice") is None


def test_expiry_only_when_the_plant_sets_a_maximum_age() -> None:
    set_at = datetime(2026, 1, 1, tzinfo=UTC)
    assert not password_expired(set_at, set_at + timedelta(days=3650), max_age_days=0)
    assert not password_expired(set_at, set_at + timedelta(days=29), max_age_days=30)
    assert password_expired(set_at, set_at + timedelta(days=30), max_age_days=30)
