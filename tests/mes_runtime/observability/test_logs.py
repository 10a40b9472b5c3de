"""Structured logs: JSON lines with context, and no secret in any of them."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from mes_runtime.demo import Demo, _free_port
from mes_runtime.observability import MASK, JsonFormatter, Redactor, log_context
from mes_runtime.observability.logs import configure_logging
from mes_runtime.settings import Settings


def _record(message: str, *args: object, **extra: Any) -> logging.LogRecord:
    return logging.getLogger("holon.test").makeRecord(
        "holon.test", logging.WARNING, __file__, 1, message, args, None, extra=extra or None
    )


def test_a_line_is_json_with_timestamp_level_logger_message_and_context() -> None:
    formatter = JsonFormatter(Redactor(), static={"mes_module": "ebr"})
    with log_context(batch_id="B1"):
        line = formatter.format(_record("phase %s held", "cultivate", path="procedure/x"))
    data = json.loads(line)
    assert data["level"] == "WARNING"
    assert data["logger"] == "holon.test"
    assert data["message"] == "phase cultivate held"
    assert data["timestamp"].endswith("+00:00")
    assert data["batch_id"] == "B1"
    assert data["path"] == "procedure/x"
    assert data["mes_module"] == "ebr"
    assert "batch_id" not in json.loads(formatter.format(_record("outside the block")))


def test_an_exception_is_one_json_field() -> None:
    formatter = JsonFormatter(Redactor())
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    data = json.loads(formatter.format(record))
    assert "RuntimeError: boom" in data["exception"]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("connect postgresql+psycopg://holon:Pa55-w0rd@db:5432/holon failed", "Pa55-w0rd"),
        ("headers {'Authorization': 'Bearer abc.DEF-ghi'}", "abc.DEF-ghi"),
        ('body {"username": "qa", "password": "Tr0ub4dor&3"}', "Tr0ub4dor&3"),
        ("GET /callback?code=1&access_token=xyz987&x=2", "xyz987"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJxYSJ9.c2lnbmF0dXJl", "eyJzdWIiOiJxYSJ9"),
    ],
)
def test_credential_shapes_are_masked(text: str, secret: str) -> None:
    line = JsonFormatter(Redactor()).format(_record(text))
    assert secret not in line
    assert MASK in json.loads(line)["message"]


def test_registered_secrets_are_masked_in_messages_context_and_tracebacks() -> None:
    secret = 'q"uo\\te-s3cret'  # characters JSON escapes: masked before encoding
    formatter = JsonFormatter(Redactor([secret]))
    try:
        raise ValueError(f"could not use {secret}")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            "with %s",
            (secret,),
            sys.exc_info(),
            extra={"detail": f"x{secret}x", "client_secret": "anything"},
        )
    line = formatter.format(record)
    data = json.loads(line)
    assert secret not in json.dumps(data)
    assert secret not in str(data)
    assert data["client_secret"] == MASK
    assert data["message"] == f"with {MASK}"


@pytest.mark.parametrize(
    ("level", "publish_shown", "warning_shown"),
    [("INFO", False, True), ("WARNING", False, True), ("DEBUG", True, True)],
)
def test_asyncua_publish_chatter_is_kept_out_below_debug(
    level: str, publish_shown: bool, warning_shown: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """asyncua logs each subscription publish at INFO: a runtime at INFO shows asyncua's
    warnings, not that flood; at DEBUG everything."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("asyncua").level)
    try:
        configure_logging(level=level, fmt="json", redactor=Redactor())
        logging.getLogger("asyncua.common.subscription").info("Publish callback called")
        logging.getLogger("asyncua.client.ua_client").warning("connection lost")
        logging.getLogger("mes_runtime.test").warning("ours")
        err = capsys.readouterr().err
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("asyncua").setLevel(saved[2])
    assert ("Publish callback called" in err) is publish_shown, err
    assert ("connection lost" in err) is warning_shown, err
    assert "ours" in err


def test_the_database_password_is_a_registered_secret(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url="postgresql+psycopg://holon:p%40ss-w0rd@db/holon"
    )
    assert set(settings.secret_values()) == {"p@ss-w0rd", "p%40ss-w0rd"}
    assert Settings(data_dir=tmp_path).secret_values() == []


def test_a_full_demo_logs_json_lines_without_any_password_or_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's processes (simulator, runtime with metrics on, create-admin) at INFO:
    every runtime log line parses as JSON, and no password or token the run created (the
    admin's, each user's set-up token, password and bearer tokens) appears in any log."""
    monkeypatch.setenv("HOLON_FEATURE_METRICS", "true")
    monkeypatch.setenv("HOLON_METRICS_PORT", "0")
    workdir = tmp_path / "demo"
    workdir.mkdir()
    demo = Demo(workdir=workdir, port=_free_port(), time_factor=3600)
    demo.env["HOLON_LOG_LEVEL"] = "INFO"
    secrets: list[str] = []
    try:
        manifests = demo.start_simulator()
        demo.start_runtime()
        admin_password = demo.create_admin()
        secrets.append(admin_password)
        people = demo.prepare(admin_password, manifests)
        for person in people.values():
            secrets.append(person["password"])
            secrets.append(person["headers"]["Authorization"].removeprefix("Bearer "))
        secrets.append(demo.login("admin", admin_password)["Authorization"].split()[1])
        secrets.extend(demo.setup_tokens)  # each user's one-time set-up token
        assert len(demo.setup_tokens) == len(people)
        refused = demo.http.post(
            "/api/v1/auth/token", json={"username": "qa", "password": "wrong-" + admin_password}
        )
        assert refused.status_code == 401
        assert demo.run_batch(people) == "complete"
        assert demo.verify(people)
    finally:
        demo.stop()
    logs = {path.name: path.read_text() for path in workdir.glob("*.log")}
    assert set(logs) >= {"runtime.log", "simulator.log"}
    lines = logs["runtime.log"].splitlines()
    assert len(lines) > 10, logs["runtime.log"]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"timestamp", "level", "logger", "message"} <= set(p) for p in parsed)
    access = [p for p in parsed if p["logger"] == "uvicorn.access"]  # uvicorn's lines too
    assert access
    assert all(len(p["request_id"]) == 32 for p in access)  # each names its request
    assert any("metrics on http" in p["message"] for p in parsed)
    for name, text in logs.items():
        for secret in secrets:
            assert len(secret) >= 8
            assert secret not in text, f"a password or token of the run is in {name}"
    shutil.rmtree(workdir, ignore_errors=True)
