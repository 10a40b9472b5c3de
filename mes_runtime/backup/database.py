"""The PostgreSQL side of a backup: ``pg_dump``/``pg_restore`` and the facts compared.

The facts (row count per table, the journal's head, alembic revisions) are read in the very
snapshot ``pg_dump`` dumps: a REPEATABLE READ transaction exports its snapshot and
``pg_dump --snapshot`` uses it, so a database that keeps being written during the backup
(running batches) still yields a manifest that matches the dump exactly.

The password travels to ``pg_dump``/``pg_restore`` in ``PGPASSWORD``, never on a command line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

__all__ = [
    "DbFacts",
    "DumpFailed",
    "PgTarget",
    "dump",
    "find_tool",
    "read_facts",
    "restore",
    "scratch_database",
]

JOURNAL_TABLE = "journal"


class DumpFailed(RuntimeError):
    """pg_dump/pg_restore/psql failed; the message carries its stderr (no password in it)."""


@dataclass(frozen=True, slots=True)
class PgTarget:
    """libpq connection parameters of one database (password kept out of ``repr``)."""

    host: str
    port: int
    user: str
    dbname: str
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> PgTarget:
        parsed = make_url(url)
        if not parsed.drivername.startswith("postgresql"):
            raise ValueError(f"backups need a PostgreSQL database, got {parsed.drivername!r}")
        if not parsed.database:
            raise ValueError("the database URL names no database")
        return cls(
            host=parsed.host or "localhost",
            port=parsed.port or 5432,
            user=parsed.username or "postgres",
            dbname=parsed.database,
            password=parsed.password,
        )

    def __repr__(self) -> str:
        return f"PgTarget({self.user}@{self.host}:{self.port}/{self.dbname})"

    def with_db(self, dbname: str) -> PgTarget:
        return PgTarget(self.host, self.port, self.user, dbname, self.password)

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname=self.dbname,
            password=self.password,
            autocommit=autocommit,
            connect_timeout=10,
        )

    def tool_args(self) -> list[str]:
        return ["-h", self.host, "-p", str(self.port), "-U", self.user, "-w"]

    def tool_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env


@dataclass(frozen=True, slots=True)
class DbFacts:
    """What a restore must reproduce."""

    tables: dict[str, int]
    journal_head_seq: int
    journal_head_hash: str | None
    alembic_revisions: list[str]
    server_version: str


def find_tool(name: str) -> str:
    """``pg_dump``/``pg_restore``: ``HOLON_BACKUP_PG_BINDIR``, Debian's newest versioned
    directory, then PATH (a newer client dumps an older server, never the other way)."""
    bindir = os.environ.get("HOLON_BACKUP_PG_BINDIR")
    if bindir:
        return str(Path(bindir) / name)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        reverse=True,
    )
    if candidates:
        return str(candidates[0])
    found = shutil.which(name)
    if found is None:
        raise DumpFailed(f"{name} not found (install postgresql-client)")
    return found


def _facts(conn: psycopg.Connection[Any]) -> DbFacts:
    tables = [
        str(r[0])
        for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
    ]
    counts: dict[str, int] = {}
    for name in tables:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM public.{}").format(sql.Identifier(name))
        ).fetchone()
        counts[name] = int(row[0]) if row else 0
    seq, head = 0, None
    if JOURNAL_TABLE in counts:
        row = conn.execute(
            sql.SQL("SELECT seq, hash FROM public.{} ORDER BY seq DESC LIMIT 1").format(
                sql.Identifier(JOURNAL_TABLE)
            )
        ).fetchone()
        if row is not None:
            seq, head = int(row[0]), str(row[1])
    revisions: list[str] = []
    if "alembic_version" in counts:
        revisions = sorted(
            str(r[0]) for r in conn.execute("SELECT version_num FROM public.alembic_version")
        )
    version_row = conn.execute("SHOW server_version").fetchone()
    return DbFacts(
        tables=counts,
        journal_head_seq=seq,
        journal_head_hash=head,
        alembic_revisions=revisions,
        server_version=str(version_row[0]) if version_row else "",
    )


def read_facts(target: PgTarget) -> DbFacts:
    with target.connect() as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return _facts(conn)


def dump(target: PgTarget, dest: Path) -> DbFacts:
    """``pg_dump --format=custom`` into ``dest``; the facts of the same snapshot."""
    with target.connect() as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        snapshot = str(row[0]) if row else ""
        facts = _facts(conn)
        proc = subprocess.run(
            [
                find_tool("pg_dump"),
                *target.tool_args(),
                "--format=custom",
                f"--snapshot={snapshot}",
                "--no-owner",
                "--no-privileges",
                "-f",
                str(dest),
                target.dbname,
            ],
            env=target.tool_env(),
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise DumpFailed(f"pg_dump failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return facts


def restore(target: PgTarget, source: Path) -> None:
    """``pg_restore`` ``source`` into the (empty) database ``target``; any error fails."""
    proc = subprocess.run(
        [
            find_tool("pg_restore"),
            *target.tool_args(),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "-d",
            target.dbname,
            str(source),
        ],
        env=target.tool_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise DumpFailed(f"pg_restore failed (exit {proc.returncode}): {proc.stderr.strip()}")


@contextlib.contextmanager
def scratch_database(target: PgTarget, name: str) -> Iterator[PgTarget]:
    """Create database ``name`` on ``target``'s server; drop it afterwards, whatever happens."""
    with target.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield target.with_db(name)
    finally:
        with target.connect(autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
