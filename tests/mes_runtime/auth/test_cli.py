"""``mes-runtime create-admin``: random password printed once, or read from stdin; never twice."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from mes_runtime.auth.users import Outcome, authenticate, set_password_with_token
from mes_runtime.cli import main as cli_main
from mes_runtime.db.engine import create_engine, session_factory
from mes_runtime.db.models import JournalEntry


def _run_login(url: str, username: str, password: str) -> list[str] | None:
    return asyncio.run(_login(url, username, password))


async def _login(url: str, username: str, password: str) -> list[str] | None:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            attempt = await authenticate(session, username, password)
            actions = (await session.execute(select(JournalEntry.action))).scalars().all()
            if attempt.outcome is not Outcome.OK or attempt.user is None:
                return None
            return [*attempt.user.roles, *actions]
    finally:
        await engine.dispose()


def test_random_password_is_printed_once_and_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'runtime.db'}"  # not even migrated
    assert cli_main(["create-admin", "--username", "admin", "--database-url", url]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    password = out[-1]
    assert "shown only once" in out[0]
    assert len(password) >= 24
    assert _run_login(url, "admin", password) == ["admin", "user.created"]

    assert cli_main(["create-admin", "--username", "admin", "--database-url", url]) == 1
    assert "already exists" in capsys.readouterr().err
    assert _run_login(url, "admin", password) is not None  # unchanged


def test_password_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'runtime.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-secret-42\n"))
    args = ["create-admin", "--username", "ops", "--password-stdin", "--database-url", url]
    assert cli_main(args) == 0
    assert "a-long-enough-secret-42" not in capsys.readouterr().out
    assert _run_login(url, "ops", "a-long-enough-secret-42") is not None


def test_weak_stdin_password_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'runtime.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO("changeme\n"))
    args = ["create-admin", "--password-stdin", "--database-url", url]
    assert cli_main(args) == 2
    assert "password" in capsys.readouterr().err
    assert _run_login(url, "admin", "changeme") is None


@pytest.mark.postgres
def test_create_admin_on_postgres(empty_pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["create-admin", "--database-url", empty_pg_url]) == 0
    password = capsys.readouterr().out.strip().splitlines()[-1]
    assert _run_login(empty_pg_url, "admin", password) == ["admin", "user.created"]


def test_create_user_prints_a_set_up_token_not_a_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first holder of a role the admin does not hold (QA) is enrolled at the command
    line; they set their own password with the token, which works once."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'runtime.db'}"
    args = ["create-user", "--username", "qa1", "--full-name", "Quinn Auditor", "--role", "qa"]
    assert cli_main([*args, "--database-url", url]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "set-up token" in out[0]
    token = out[-1]
    assert _run_login(url, "qa1", token) is None  # the token is no password

    async def _set_up(password: str) -> None:
        engine = create_engine(url)
        try:
            async with session_factory(engine)() as session, session.begin():
                await set_password_with_token(session, "qa1", token, password)
        finally:
            await engine.dispose()

    asyncio.run(_set_up("quinn-chose-this-one"))
    assert _run_login(url, "qa1", "quinn-chose-this-one") == ["qa", "user.created"]
    assert cli_main([*args, "--database-url", url]) == 1
    assert "already exists" in capsys.readouterr().err
