"""``mes-runtime backup create|verify``: verified logical backups in an S3-compatible store.

``create --to s3://bucket/prefix`` dumps the module's PostgreSQL database
(``pg_dump --format=custom``), uploads it as ``<prefix>/<id>/dump.pgc`` and then a manifest
``<prefix>/<id>/manifest.json`` (size, SHA-256, journal head, row counts per table, alembic
revisions, created_at), and prints a JSON result. ``verify s3://bucket/prefix/<id>``
downloads the dump, checks its digest, restores it into a scratch database (created and
dropped here), compares row counts, the journal head and the alembic revisions with the
manifest, verifies the restored journal's hash chain, and prints a JSON verdict.

Exit codes (the upgrade gate relies on them): see :data:`EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from mes_runtime.backup.config import ConfigError, StoreLocation, load_store, parse_location
from mes_runtime.backup.database import (
    DbFacts,
    DumpFailed,
    PgTarget,
    dump,
    read_facts,
    restore,
    scratch_database,
)
from mes_runtime.backup.s3 import (
    S3Error,
    StoreClient,
    StoreDenied,
    StoreNotFound,
    StoreUnreachable,
)

__all__ = ["EXIT_CODES", "main"]

OK, MISMATCH, CONFIG, UNREACHABLE, DENIED, NOT_FOUND, DATABASE, STORE = range(8)
EXIT_CODES = {
    OK: "backup written / backup verified",
    MISMATCH: "verification failed: the verdict's `mismatches` names what differs",
    CONFIG: "usage or configuration error (a missing HOLON_BACKUP_S3_* setting, a bad URL)",
    UNREACHABLE: "object store unreachable (nothing was written)",
    DENIED: "the object store refused the credentials",
    NOT_FOUND: "bucket, backup or manifest not found",
    DATABASE: "the database, pg_dump or pg_restore failed",
    STORE: "any other object store error",
}
FORMAT = "holon-backup/1"
DUMP_NAME = "dump.pgc"
MANIFEST_NAME = "manifest.json"


def _parser() -> argparse.ArgumentParser:
    codes = "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog="mes-runtime backup",
        description=__doc__,
        epilog=f"exit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--database-url", help="override HOLON_DATABASE_URL (PostgreSQL)")
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="dump the database into the object store")
    create.add_argument(
        "--to",
        help="s3://bucket/prefix (default: s3://$HOLON_BACKUP_S3_BUCKET/backups)",
    )
    create.add_argument(
        "--verify",
        action="store_true",
        help="verify the backup just written (the exit code is then the verification's)",
    )
    create.add_argument(
        "--result-file",
        type=Path,
        help=(
            "also write a compact JSON summary here ({ok, exit_code, location, digest, size,"
            " verified, mismatches, error}), e.g. /dev/termination-log in a Kubernetes Job"
        ),
    )
    verify = sub.add_parser("verify", help="restore a backup into a scratch database, compare")
    verify.add_argument("location", help="s3://bucket/prefix/<id>, as printed by create")
    verify.add_argument(
        "--sha256", help="the dump's digest recorded elsewhere (e.g. in the module's status)"
    )
    verify.add_argument("--result-file", type=Path, help="also write a compact JSON summary here")
    verify.add_argument(
        "--scratch-url",
        help=(
            "a database on the server where the scratch database is created (needs CREATEDB;"
            " default: HOLON_BACKUP_SCRATCH_DATABASE_URL, else the module's database URL)"
        ),
    )
    return parser


#: every JSON result printed by this run, in order (``--result-file`` summarises them)
_emitted: list[dict[str, Any]] = []


def _emit(result: dict[str, Any]) -> None:
    _emitted.append(result)
    print(json.dumps(result, indent=2, sort_keys=True), flush=True)


def _fail(code: int, message: str, **extra: Any) -> int:
    print(f"backup: {message}", file=sys.stderr, flush=True)
    _emit({"ok": False, "exit_code": code, "error": message, **extra})
    return code


def _progress(message: str) -> None:
    print(f"backup: {message}", file=sys.stderr, flush=True)


def _database_url(override: str | None) -> str:
    if override:
        return override
    from mes_runtime.settings import get_settings

    try:
        return get_settings().database_url
    except ValueError as exc:
        raise ConfigError(f"invalid settings: {exc}") from None


def _store_error(exc: S3Error) -> int:
    if isinstance(exc, StoreUnreachable):
        return _fail(UNREACHABLE, str(exc))
    if isinstance(exc, StoreDenied):
        return _fail(DENIED, str(exc))
    if isinstance(exc, StoreNotFound):
        return _fail(NOT_FOUND, str(exc))
    return _fail(STORE, f"object store error: {exc}")


def _file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _facts_json(facts: DbFacts) -> dict[str, Any]:
    data = asdict(facts)
    return {
        "tables": data["tables"],
        "journal": {"head_seq": facts.journal_head_seq, "head_hash": facts.journal_head_hash},
        "alembic_revisions": data["alembic_revisions"],
        "server_version": facts.server_version,
    }


# -- create -------------------------------------------------------------------------------


def _create(client: StoreClient, where: StoreLocation, target: PgTarget) -> int:
    try:
        client.check_bucket(where.bucket)  # reachable + credentials, before anything else
    except S3Error as exc:
        return _store_error(exc)
    now = datetime.now(UTC)
    backup_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
    dump_key, manifest_key = where.key(backup_id, DUMP_NAME), where.key(backup_id, MANIFEST_NAME)
    with tempfile.TemporaryDirectory(prefix="holon-backup-") as tmp:
        path = Path(tmp) / DUMP_NAME
        _progress(f"dumping {target!r} (pg_dump --format=custom)")
        try:
            facts = dump(target, path)
        except (DumpFailed, OSError) as exc:
            return _fail(DATABASE, str(exc))
        except Exception as exc:  # psycopg errors: connection refused, auth, ...
            return _fail(DATABASE, f"database error: {type(exc).__name__}: {exc}")
        size, digest = _file_digest(path)
        manifest = {
            "format": FORMAT,
            "id": backup_id,
            "created_at": now.isoformat(),
            "database": target.dbname,
            "dump": {"key": dump_key, "size": size, "sha256": digest, "format": "custom"},
            **_facts_json(facts),
        }
        body = json.dumps(manifest, indent=2, sort_keys=True).encode()
        _progress(f"uploading {size} bytes to {where.url(backup_id)}")
        try:
            client.put_file(where.bucket, dump_key, path, digest, size)
            client.put_bytes(where.bucket, manifest_key, body)  # last: a manifest = complete
        except S3Error as exc:
            _forget(client, where.bucket, dump_key)
            return _store_error(exc)
    _emit(
        {
            "ok": True,
            "exit_code": OK,
            "id": backup_id,
            "location": where.url(backup_id),
            "dump": manifest["dump"],
            "manifest": {"key": manifest_key, "sha256": hashlib.sha256(body).hexdigest()},
            "journal": manifest["journal"],
            "tables": manifest["tables"],
            "alembic_revisions": manifest["alembic_revisions"],
            "created_at": manifest["created_at"],
        }
    )
    return OK


def _forget(client: StoreClient, bucket: str, key: str) -> None:
    try:
        client.delete(bucket, key)
    except S3Error:
        _progress(f"could not remove the partial upload {key}")


# -- verify -------------------------------------------------------------------------------


def _check(expected: object, found: object) -> dict[str, Any]:
    return {"ok": expected == found, "expected": expected, "found": found}


def _chain(url: str) -> dict[str, Any]:
    from mes_runtime.db.engine import create_engine
    from mes_runtime.ebr.journal import verify_journal

    async def run() -> dict[str, Any]:
        engine = create_engine(url)
        try:
            result = await verify_journal(engine)
        finally:
            await engine.dispose()
        return {
            "ok": result.ok,
            "entries_checked": result.entries_checked,
            "first_bad_seq": result.first_bad_seq,
            "problem": result.problem,
        }

    return asyncio.run(run())


def _compare(manifest: dict[str, Any], facts: DbFacts) -> dict[str, Any]:
    expected_tables: dict[str, Any] = manifest.get("tables") or {}
    differing = {
        name: {"expected": expected_tables.get(name), "found": facts.tables.get(name)}
        for name in sorted(set(expected_tables) | set(facts.tables))
        if expected_tables.get(name) != facts.tables.get(name)
    }
    journal = manifest.get("journal") or {}
    return {
        "tables": {"ok": not differing, "compared": len(expected_tables), "differ": differing},
        "journal_head": _check(
            {"seq": journal.get("head_seq"), "hash": journal.get("head_hash")},
            {"seq": facts.journal_head_seq, "hash": facts.journal_head_hash},
        ),
        "alembic_revisions": _check(manifest.get("alembic_revisions"), facts.alembic_revisions),
    }


def _verify(
    client: StoreClient, where: StoreLocation, target: PgTarget, url: str, pinned: str | None
) -> int:
    location = where.url()
    backup_id = where.prefix.rsplit("/", 1)[-1]
    verdict: dict[str, Any] = {"location": location, "id": backup_id, "checks": {}}
    checks: dict[str, Any] = verdict["checks"]
    try:
        client.check_bucket(where.bucket)
        raw = client.get_bytes(where.bucket, where.key(MANIFEST_NAME))
    except S3Error as exc:
        return _store_error(exc)
    try:
        manifest: dict[str, Any] = json.loads(raw)
        dump_key = str(manifest["dump"]["key"])
        if manifest.get("format") != FORMAT:
            raise ValueError(f"unknown format {manifest.get('format')!r}")
    except (ValueError, KeyError, TypeError) as exc:
        checks["manifest"] = {"ok": False, "problem": f"unreadable manifest: {exc}"}
        return _verdict(verdict)
    checks["manifest"] = {"ok": True, "sha256": hashlib.sha256(raw).hexdigest()}
    with tempfile.TemporaryDirectory(prefix="holon-verify-") as tmp:
        path = Path(tmp) / DUMP_NAME
        _progress(f"downloading {where.url(DUMP_NAME)}")
        try:
            size, digest = client.get_file(where.bucket, dump_key, path)
        except S3Error as exc:
            return _store_error(exc)
        checks["size"] = _check(manifest["dump"].get("size"), size)
        checks["digest"] = _check(manifest["dump"].get("sha256"), digest)
        if pinned is not None:
            checks["digest_pinned"] = _check(pinned.lower(), digest)
        if not all(c["ok"] for c in checks.values()):
            checks["restore"] = {"ok": False, "problem": "skipped: the dump is not the one made"}
            return _verdict(verdict)
        scratch = f"holon_verify_{secrets.token_hex(6)}"
        _progress(f"restoring into scratch database {scratch}")
        try:
            with scratch_database(target, scratch) as restored:
                restore(restored, path)
                checks["restore"] = {"ok": True, "database": scratch}
                checks.update(_compare(manifest, read_facts(restored)))
                scratch_url = make_url(url).set(database=scratch)
                checks["journal_chain"] = _chain(scratch_url.render_as_string(False))
        except DumpFailed as exc:
            checks["restore"] = {"ok": False, "problem": str(exc)}
        except Exception as exc:  # psycopg: the server, CREATE DATABASE refused, ...
            return _fail(DATABASE, f"database error: {type(exc).__name__}: {exc}")
    return _verdict(verdict)


def _verdict(verdict: dict[str, Any]) -> int:
    mismatches = [name for name, check in verdict["checks"].items() if not check["ok"]]
    verdict["ok"] = not mismatches
    verdict["mismatches"] = mismatches
    verdict["exit_code"] = OK if not mismatches else MISMATCH
    if mismatches:
        _progress("verification FAILED: " + ", ".join(mismatches) + " differ")
    _emit(verdict)
    return int(verdict["exit_code"])


def _summary(code: int) -> dict[str, Any]:
    """What a Job's termination message carries (at most a few hundred bytes)."""
    summary: dict[str, Any] = {"ok": code == OK, "exit_code": code}
    for result in _emitted:
        if "dump" in result:
            summary["digest"] = result["dump"]["sha256"]
            summary["size"] = result["dump"]["size"]
        for key in ("location", "mismatches", "error"):
            if result.get(key):
                summary[key] = result[key]
    summary["verified"] = any("checks" in r for r in _emitted) and code == OK
    return summary


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    _emitted.clear()
    code = _main(args)
    if args.result_file is not None:
        try:
            args.result_file.write_text(json.dumps(_summary(code), sort_keys=True))
        except OSError as exc:
            print(f"backup: cannot write {args.result_file}: {exc.strerror}", file=sys.stderr)
    return code


def _main(args: argparse.Namespace) -> int:
    try:
        config, default_bucket = load_store()
        url = _database_url(args.database_url)
        target = PgTarget.from_url(url)
        if args.action == "create":
            to = args.to or (f"s3://{default_bucket}/backups" if default_bucket else None)
            if to is None:
                raise ConfigError("give --to s3://bucket/prefix or set HOLON_BACKUP_S3_BUCKET")
            where = parse_location(to)
        else:
            url = args.scratch_url or os.environ.get("HOLON_BACKUP_SCRATCH_DATABASE_URL") or url
            target = PgTarget.from_url(url)
            where = parse_location(args.location)
            if not where.prefix:
                raise ConfigError(f"{args.location!r} names no backup (s3://bucket/prefix/<id>)")
    except (ConfigError, ValueError) as exc:
        return _fail(CONFIG, str(exc))
    with StoreClient(config) as client:
        if args.action == "create":
            code = _create(client, where, target)
            if code != OK or not args.verify:
                return code
            created = _emitted[-1]
            verify_at = parse_location(str(created["location"]))
            pinned = str(created["dump"]["sha256"])
            scratch_url = os.environ.get("HOLON_BACKUP_SCRATCH_DATABASE_URL") or url
            scratch = PgTarget.from_url(scratch_url)
            return _verify(client, verify_at, scratch, scratch_url, pinned)
        return _verify(client, where, target, url, args.sha256)
