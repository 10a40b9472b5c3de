"""Auth tests hash many passwords: use argon2's cheapest parameters (see tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fast_hashing(fast_password_hashing: None) -> None:
    return None
