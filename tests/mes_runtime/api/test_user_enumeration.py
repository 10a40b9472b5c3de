"""User-name enumeration: the answers to a name that matches no user are those to an
existing user's wrong password, through lockout, on login and password change; the same
argon2 work is done; no user is created and the table of unknown names stays bounded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import func, select, update

from mes_runtime.auth import passwords, users
from mes_runtime.auth.users import create_user
from mes_runtime.db.models import AuthFailure, User
from mes_runtime.kernel.clock import utcnow

PASSWORD = "correct-horse-battery"
KNOWN = "victim"
UNKNOWN = "nobody-by-that-name"
ATTEMPTS = 8  # past the lock at the fifth failure, into the doubling


class CountingHasher(PasswordHasher):
    """Real argon2id (cheapest parameters), counting the verifications it runs."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(passwords, "_HASHER", counting)
    # the dummy hash with the same parameters as the users' hashes: the same work
    monkeypatch.setattr(passwords, "_DUMMY_HASH", counting.hash("not anyone's password"))
    return counting


async def _known_user(app: FastAPI) -> None:
    async with app.state.session_factory() as session, session.begin():
        await create_user(session, username=KNOWN, password=PASSWORD, roles=["qa"])


def _answer(response: httpx.Response) -> tuple[int, Any, int | None]:
    """Status, body and Retry-After, the latter in whole seconds of a lock that started a
    moment earlier or later: rounded to tens (60 s, 120 s... as the policy locks)."""
    retry_after = response.headers.get("retry-after")
    rounded = None if retry_after is None else round(int(retry_after), -1)
    return response.status_code, response.json(), rounded


async def _login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    body = {"username": username, "password": password}
    return await client.post("/api/v1/auth/token", json=body)


async def test_login_answers_do_not_tell_an_unknown_name_from_a_known_one(
    app: FastAPI, client: httpx.AsyncClient, hasher: CountingHasher
) -> None:
    """The finding: an unknown name was never locked, so the fifth failure told the names
    apart (429 for a user, 401 for nobody). Now both lock, with the same answers."""
    await _known_user(app)
    known, unknown = [], []
    for attempt in range(ATTEMPTS):
        before = hasher.verified
        known.append(_answer(await _login(client, KNOWN, f"guess-{attempt}")))
        assert hasher.verified == before + 1  # one argon2 verification, locked or not
        unknown.append(_answer(await _login(client, UNKNOWN, f"guess-{attempt}")))
        assert hasher.verified == before + 2
    assert known == unknown
    assert [status for status, _, _ in known] == [401] * 4 + [429] * (ATTEMPTS - 4)
    # while locked, the right password is refused as any password for nobody is
    right = _answer(await _login(client, KNOWN, PASSWORD))
    assert right == _answer(await _login(client, UNKNOWN, PASSWORD))
    assert right[0] == 429


async def test_password_change_answers_are_the_same_for_unknown_names(
    app: FastAPI, client: httpx.AsyncClient, hasher: CountingHasher
) -> None:
    await _known_user(app)

    async def change(username: str, attempt: int) -> tuple[int, Any, int | None]:
        body = {
            "username": username,
            "current_password": f"guess-{attempt}",
            "new_password": "a-new-long-passphrase-77",
        }
        return _answer(await client.post("/api/v1/auth/password", json=body))

    known = [await change(KNOWN, attempt) for attempt in range(6)]
    unknown = [await change(UNKNOWN, attempt) for attempt in range(6)]
    assert known == unknown
    assert [status for status, _, _ in known] == [401] * 4 + [429] * 2


async def test_unknown_names_create_no_user_and_are_not_stored_as_typed(
    app: FastAPI, client: httpx.AsyncClient, hasher: CountingHasher
) -> None:
    typed = "My-Secret-Passphrase-9"  # a password typed into the user field
    for attempt in range(3):
        assert (await _login(client, typed, f"x-{attempt}")).status_code == 401
    async with app.state.session_factory() as session:
        assert (await session.execute(select(func.count()).select_from(User))).scalar_one() == 0
        rows = list((await session.execute(select(AuthFailure))).scalars())
    assert [row.failed_attempts for row in rows] == [3]
    assert typed not in rows[0].name_sha256


async def test_the_table_of_unknown_names_stays_bounded(
    app: FastAPI,
    client: httpx.AsyncClient,
    hasher: CountingHasher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A flood of distinct names keeps at most MAX_UNKNOWN_NAMES rows (the oldest go), and
    names whose lock and counting window are over are forgotten."""
    monkeypatch.setattr(users, "MAX_UNKNOWN_NAMES", 5)

    async def rows() -> int:
        async with app.state.session_factory() as session:
            count = select(func.count()).select_from(AuthFailure)
            return int((await session.execute(count)).scalar_one())

    for n in range(12):
        assert (await _login(client, f"flood-{n}", "x")).status_code == 401
        assert await rows() <= 5
    assert await rows() == 5
    long_ago = utcnow() - timedelta(days=2)
    async with app.state.session_factory() as session, session.begin():
        await session.execute(update(AuthFailure).values(last_failed_at=long_ago))
    assert (await _login(client, "one-more", "x")).status_code == 401
    assert await rows() == 1
