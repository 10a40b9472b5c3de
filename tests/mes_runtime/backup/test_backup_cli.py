"""``mes-runtime backup create|verify`` end to end: a real PostgreSQL database holding a real
batch record, a real SeaweedFS object store, the command run as a process (as its Job runs
it), its JSON output and exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from holon_testing.batch_record import write_finished_batch
from holon_testing.object_store import S3Server, seaweedfs_server
from holon_testing.postgres import PgServer

pytestmark = pytest.mark.postgres


@dataclass(frozen=True)
class Run:
    code: int
    out: dict[str, Any]
    stdout: str
    stderr: str


def run_backup(env: dict[str, str], *args: str) -> Run:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HOLON_")}
    full_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "mes_runtime", "backup", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    try:
        out = json.loads(proc.stdout)
    except ValueError:  # nothing, or several documents (create --verify)
        out = {}
    return Run(proc.returncode, out, proc.stdout, proc.stderr)


def assert_no_secret(run: Run, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in run.stdout
        assert secret not in run.stderr


@pytest.fixture
async def batch_db(pg_url: str) -> str:
    """A migrated database holding a finished batch: journal, process values, an exception."""
    from mes_runtime.db.engine import create_engine
    from mes_runtime.ebr.journal import Journal

    engine = create_engine(pg_url)
    journal = Journal(engine)
    try:
        await journal.start()
        await write_finished_batch(engine, journal, entries=120, values=2_000)
    finally:
        await journal.close()
        await engine.dispose()
    return pg_url


def _env(server: S3Server, db_url: str) -> dict[str, str]:
    return {**server.env(), "HOLON_DATABASE_URL": db_url}


def _journal_head(pg: PgServer, db_url: str) -> tuple[int, str]:
    dbname = db_url.rsplit("/", 1)[-1]
    with psycopg.connect(host=pg.host, port=pg.port, user=pg.user, dbname=dbname) as conn:
        row = conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def _scratch_databases(pg: PgServer) -> list[str]:
    with psycopg.connect(host=pg.host, port=pg.port, user=pg.user, dbname="postgres") as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'holon_verify_%'"
        ).fetchall()
    return [str(r[0]) for r in rows]


def test_create_then_verify_ok(
    s3_server: S3Server, bucket: str, batch_db: str, pg_server: PgServer
) -> None:
    env = _env(s3_server, batch_db)
    created = run_backup(env, "create", "--to", f"s3://{bucket}/mod-a")
    assert created.code == 0, created.stderr
    assert created.out["ok"] is True
    seq, head = _journal_head(pg_server, batch_db)
    assert created.out["journal"] == {"head_seq": seq, "head_hash": head}
    assert seq >= 100
    assert created.out["tables"]["journal"] == seq
    assert created.out["tables"]["batches"] == 1
    assert created.out["alembic_revisions"]
    location = created.out["location"]
    assert location == f"s3://{bucket}/mod-a/{created.out['id']}"
    with s3_server.client() as client:
        keys = sorted(client.list_keys(bucket, "mod-a/"))
        manifest = json.loads(client.get_bytes(bucket, f"mod-a/{created.out['id']}/manifest.json"))
    assert keys == [
        f"mod-a/{created.out['id']}/dump.pgc",
        f"mod-a/{created.out['id']}/manifest.json",
    ]
    assert manifest["dump"]["sha256"] == created.out["dump"]["sha256"]
    assert manifest["dump"]["size"] == created.out["dump"]["size"] > 0
    assert manifest["created_at"]

    verified = run_backup(env, "verify", location, "--sha256", created.out["dump"]["sha256"])
    assert verified.code == 0, verified.stdout + verified.stderr
    assert verified.out["ok"] is True
    assert verified.out["mismatches"] == []
    checks = verified.out["checks"]
    assert checks["digest"]["ok"]
    assert checks["digest_pinned"]["ok"]
    assert checks["tables"]["ok"]
    assert checks["tables"]["compared"] == len(created.out["tables"])
    assert checks["journal_head"]["found"] == {"seq": seq, "hash": head}
    assert checks["journal_chain"] == {
        "ok": True,
        "entries_checked": seq,
        "first_bad_seq": None,
        "problem": None,
    }
    assert _scratch_databases(pg_server) == []  # the scratch database is dropped
    for run in (created, verified):
        assert_no_secret(run, s3_server.secret_key, s3_server.access_key)


def test_tampered_dump_never_verifies(s3_server: S3Server, bucket: str, batch_db: str) -> None:
    env = _env(s3_server, batch_db)
    created = run_backup(env, "create", "--to", f"s3://{bucket}/x")
    assert created.code == 0, created.stderr
    key = created.out["dump"]["key"]
    with s3_server.client() as client:
        data = bytearray(client.get_bytes(bucket, key))
        data[len(data) // 2] ^= 0xFF
        client.put_bytes(bucket, key, bytes(data))
    verified = run_backup(env, "verify", created.out["location"])
    assert verified.code == 1
    assert verified.out["ok"] is False
    assert verified.out["mismatches"] == ["digest", "restore"]
    assert verified.out["checks"]["digest"]["expected"] == created.out["dump"]["sha256"]
    assert "verification FAILED: digest, restore differ" in verified.stderr

    # a digest pinned elsewhere (the module's status) is checked too
    wrong = run_backup(env, "verify", created.out["location"], "--sha256", "0" * 64)
    assert wrong.code == 1
    assert "digest_pinned" in wrong.out["mismatches"]


def test_tampered_manifest_never_verifies(
    s3_server: S3Server, bucket: str, batch_db: str, pg_server: PgServer
) -> None:
    env = _env(s3_server, batch_db)
    created = run_backup(env, "create", "--to", f"s3://{bucket}/y")
    assert created.code == 0, created.stderr
    key = f"y/{created.out['id']}/manifest.json"
    with s3_server.client() as client:
        manifest = json.loads(client.get_bytes(bucket, key))
        manifest["tables"]["journal"] += 1
        manifest["journal"]["head_hash"] = "f" * 64
        client.put_bytes(bucket, key, json.dumps(manifest).encode())
    verified = run_backup(env, "verify", created.out["location"])
    assert verified.code == 1
    assert verified.out["ok"] is False
    assert verified.out["mismatches"] == ["tables", "journal_head"]
    differ = verified.out["checks"]["tables"]["differ"]
    assert differ == {
        "journal": {
            "expected": manifest["tables"]["journal"],
            "found": created.out["journal"]["head_seq"],
        }
    }
    assert verified.out["checks"]["journal_head"]["expected"]["hash"] == "f" * 64
    assert _scratch_databases(pg_server) == []


def test_store_stopped_create_fails_and_writes_nothing(batch_db: str, tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with seaweedfs_server() as server:
        with server.client() as client:
            client.create_bucket("gate")
        server.stop()
        env = {**_env(server, batch_db), "TMPDIR": str(scratch)}
        failed = run_backup(env, "create", "--to", "s3://gate/mod")
    assert failed.code == 3
    assert failed.out["ok"] is False
    assert failed.out["error"].startswith(f"object store unreachable at {server.endpoint}: ")
    assert f"object store unreachable at {server.endpoint}" in failed.stderr
    assert "dumping" not in failed.stderr  # asked the store before anything else
    assert list(scratch.iterdir()) == []  # no dump spooled either
    assert_no_secret(failed, server.secret_key, server.access_key)


def test_wrong_credentials_say_so(s3_server: S3Server, bucket: str, batch_db: str) -> None:
    env = _env(s3_server, batch_db)
    wrong_secret = "not-the-secret-" + s3_server.secret_key[::-1]
    env["HOLON_BACKUP_S3_SECRET_KEY"] = wrong_secret
    failed = run_backup(env, "create", "--to", f"s3://{bucket}/z")
    assert failed.code == 4
    assert f"object store at {s3_server.endpoint} refused the credentials" in failed.stderr
    assert_no_secret(failed, wrong_secret, s3_server.secret_key)
    with s3_server.client() as client:
        assert client.list_keys(bucket) == []


def test_credentials_from_mounted_files(
    s3_server: S3Server, bucket: str, batch_db: str, tmp_path: Path
) -> None:
    env = {"HOLON_DATABASE_URL": batch_db, "HOLON_BACKUP_S3_BUCKET": bucket}
    for name, value in s3_server.env().items():
        path = tmp_path / name.lower()
        path.write_text(value + "\n")
        env[f"{name}_FILE"] = str(path)
    created = run_backup(env, "create")
    assert created.code == 0, created.stderr
    assert created.out["location"].startswith(f"s3://{bucket}/backups/")
    assert_no_secret(created, s3_server.secret_key)


def test_missing_setting_is_named() -> None:
    failed = run_backup({"HOLON_DATABASE_URL": "postgresql+psycopg://u@127.0.0.1:1/x"}, "create")
    assert failed.code == 2
    assert "HOLON_BACKUP_S3_ENDPOINT (or HOLON_BACKUP_S3_ENDPOINT_FILE) is not set" in failed.stderr


async def test_backup_while_the_journal_grows_still_verifies(
    s3_server: S3Server, bucket: str, batch_db: str
) -> None:
    """The manifest's facts come from pg_dump's own snapshot: entries appended during the
    dump are neither counted nor dumped, so the backup verifies."""
    from mes_runtime.db.engine import create_engine
    from mes_runtime.ebr.journal import Journal

    engine = create_engine(batch_db)
    journal = Journal(engine)
    await journal.start()
    stop = asyncio.Event()
    appended = 0

    async def writer() -> None:
        nonlocal appended
        while not stop.is_set():
            await journal.append(
                actor="op-1", action="note", subject="B-REPORT", new_value=appended
            )
            appended += 1

    task = asyncio.create_task(writer())
    try:
        env = _env(s3_server, batch_db)
        created = await asyncio.to_thread(run_backup, env, "create", "--to", f"s3://{bucket}/busy")
        before = appended
        await asyncio.sleep(0.2)
        assert appended > before  # still writing after the backup
    finally:
        stop.set()
        await task
        await journal.close()
        await engine.dispose()
    assert created.code == 0, created.stderr
    assert appended > 0
    verified = await asyncio.to_thread(run_backup, env, "verify", created.out["location"])
    assert verified.code == 0, verified.stdout
    assert verified.out["checks"]["journal_chain"]["ok"] is True
    assert verified.out["checks"]["journal_head"]["ok"] is True


def test_create_with_verify_writes_a_summary_for_the_job(
    s3_server: S3Server, bucket: str, batch_db: str, tmp_path: Path
) -> None:
    """One Job: create, then verify what was written; the summary is its termination message."""
    result = tmp_path / "termination-log"
    env = _env(s3_server, batch_db)
    run = run_backup(
        env, "create", "--verify", "--to", f"s3://{bucket}/job", "--result-file", str(result)
    )
    assert run.code == 0, run.stdout + run.stderr
    summary = json.loads(result.read_text())
    assert summary["ok"] is True
    assert summary["verified"] is True
    assert summary["exit_code"] == 0
    assert summary["location"].startswith(f"s3://{bucket}/job/")
    with s3_server.client() as client:
        key = summary["location"].removeprefix(f"s3://{bucket}/") + "/manifest.json"
        manifest = json.loads(client.get_bytes(bucket, key))
    assert summary["digest"] == manifest["dump"]["sha256"]
    assert summary["size"] == manifest["dump"]["size"]
    assert len(result.read_bytes()) < 1024  # a termination message holds 4 KiB at most
    assert_no_secret(run, s3_server.secret_key)

    gone = run_backup(
        {**env, "HOLON_BACKUP_S3_ENDPOINT": "http://127.0.0.1:9"},
        "create",
        "--verify",
        "--to",
        f"s3://{bucket}/job",
        "--result-file",
        str(result),
    )
    assert gone.code == 3
    summary = json.loads(result.read_text())
    assert summary["ok"] is False
    assert summary["verified"] is False
    assert summary["error"].startswith("object store unreachable at http://127.0.0.1:9: ")
