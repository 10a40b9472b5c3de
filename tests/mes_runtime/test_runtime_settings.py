"""Settings: defaults, environment, and refusal of placeholder secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mes_runtime.settings import Settings, get_settings, reject_placeholder


def test_default_database_is_sqlite_in_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOLON_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.delenv("HOLON_DATABASE_URL", raising=False)
    settings = Settings()
    assert settings.database_url == f"sqlite+aiosqlite:///{(tmp_path / 'd' / 'runtime.db')}"
    assert settings.is_sqlite


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOLON_DATABASE_URL", "postgresql+psycopg://holon:Xy7-q2@db:5432/holon")
    monkeypatch.setenv("HOLON_PORT", "9000")
    monkeypatch.setenv("HOLON_TOKEN_TTL_SECONDS", "60")
    settings = Settings()
    assert (settings.port, settings.token_ttl_seconds, settings.is_sqlite) == (9000, 60, False)


@pytest.mark.parametrize("secret", ["changeme", "secret", "password", "CHANGEME", " "])
def test_placeholder_database_password_is_refused(secret: str) -> None:
    with pytest.raises(ValidationError, match="database_url password"):
        Settings(database_url=f"postgresql+psycopg://holon:{secret}@db/holon")


def test_unsupported_driver_and_bad_values_are_refused() -> None:
    with pytest.raises(ValidationError, match="not supported"):
        Settings(database_url="mysql://u:Xy7-q2@h/db")
    with pytest.raises(ValidationError, match="port"):
        Settings(port=70000)


def test_reject_placeholder_names_the_setting() -> None:
    with pytest.raises(ValueError, match="signing_key"):
        reject_placeholder("signing_key", "changeme")
    reject_placeholder("signing_key", "Xk2-9vB!w")
    reject_placeholder("signing_key", None)


def test_get_settings_is_created_once() -> None:
    get_settings.cache_clear()
    try:
        assert get_settings() is get_settings()
    finally:
        get_settings.cache_clear()


def test_drain_and_shutdown_timeouts_default_and_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HOLON_DRAIN_SECONDS", raising=False)
    monkeypatch.delenv("HOLON_SHUTDOWN_TIMEOUT_SECONDS", raising=False)
    defaults = Settings()
    assert (defaults.drain_seconds, defaults.shutdown_timeout_seconds) == (5, 20)
    monkeypatch.setenv("HOLON_DRAIN_SECONDS", "0.5")
    monkeypatch.setenv("HOLON_SHUTDOWN_TIMEOUT_SECONDS", "45")
    settings = Settings()
    assert (settings.drain_seconds, settings.shutdown_timeout_seconds) == (0.5, 45)


@pytest.mark.parametrize("bad", [{"drain_seconds": -1}, {"shutdown_timeout_seconds": 0}], ids=repr)
def test_negative_drain_and_zero_shutdown_timeout_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError, match=next(iter(bad))):
        Settings.model_validate(bad)
