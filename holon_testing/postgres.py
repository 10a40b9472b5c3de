"""A throw-away PostgreSQL server, shared by the benchmarks and the test suite.

``initdb`` into a temporary directory, started with ``pg_ctl`` on a free loopback port
(as the ``postgres`` OS user when running as root), trust authentication on loopback only,
durability off (``fsync``/``synchronous_commit``): the benchmark measures the runtime's
overhead, not the disk. Yields None, with the reason, when PostgreSQL is not installed, so
the caller can print "skipped: no PostgreSQL" for its rows.

``settings`` adds server settings (``-c name=value``); :data:`LOGICAL_REPLICATION` is what a
server needs to publish or subscribe by logical replication (a database move, issue #10).
Each call is an independent server (own data directory and port): start two for a move.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from holon_testing.net import free_port

if TYPE_CHECKING:
    from psycopg import Connection

__all__ = [
    "LOGICAL_REPLICATION",
    "PgServer",
    "PostgresUnavailable",
    "find_bindir",
    "postgres_for_clients",
    "throwaway_postgres",
]


#: Settings of a server that takes part in logical replication: ``wal_level=logical`` (a
#: restart to change), slots for a subscription and its table-sync workers, and senders.
LOGICAL_REPLICATION: Mapping[str, str | int] = {
    "wal_level": "logical",
    "max_replication_slots": 10,
    "max_wal_senders": 10,
}


@dataclass(frozen=True, slots=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str | None = None
    control: tuple[str, ...] = ()  # pg_ctl -D <data> -o <options> -l <log>: restartable

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect clients, as a restart or fail-over does)."""
        subprocess.run(
            _as_pg_user([*self.control, "-m", mode, "-w", "stop"]), check=True, capture_output=True
        )

    def start(self) -> None:
        """Start it again on the same port and data."""
        subprocess.run(
            _as_pg_user([*self.control, "-w", "-t", "60", "start"]), check=True, capture_output=True
        )

    def url(self, database: str, host: str | None = None) -> str:
        """SQLAlchemy URL of ``database``; ``host`` overrides the address (e.g. a Service
        name for clients inside the cluster)."""
        auth = f"{self.user}:{self.password}" if self.password else self.user
        return f"postgresql+psycopg://{auth}@{host or self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres", *, autocommit: bool = False) -> Connection:
        """A psycopg connection to ``database`` as the server's superuser."""
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database,
            autocommit=autocommit,
        )

    def admin(self, sql: str) -> None:
        """Run one statement (e.g. CREATE DATABASE, chosen by the caller) with autocommit."""
        with self.connect(autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str) -> str:
        """Create ``name`` (an identifier chosen by the caller) and return its URL."""
        self.admin(f"CREATE DATABASE {name}")
        return self.url(name)


def find_bindir() -> Path | None:
    """Directory of ``initdb``/``pg_ctl`` (Debian's versioned directory first)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if candidates:
        return candidates[0].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _unavailable() -> str | None:
    if find_bindir() is None:
        return "no PostgreSQL"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "no PostgreSQL (running as root without a 'postgres' OS user)"
    return None


def _as_pg_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextlib.contextmanager
def throwaway_postgres(
    *,
    max_connections: int = 100,
    listen: tuple[str, ...] = ("127.0.0.1",),
    clients: str | None = None,
    password: str | None = None,
    settings: Mapping[str, str | int] | None = None,
) -> Iterator[PgServer | str]:
    """Yield a running server, or the reason (a ``str``) why there is none.

    Trust authentication on loopback by default. With ``password`` every TCP client
    authenticates with SCRAM; ``clients`` (a CIDR) is let in besides loopback, and
    ``listen`` adds addresses to bind (e.g. the local cluster's Pod gateway). ``settings``
    are passed to the server as ``-c name=value`` (e.g. :data:`LOGICAL_REPLICATION`)."""
    reason = _unavailable()
    bindir = find_bindir()
    if reason is not None or bindir is None:
        yield reason or "no PostgreSQL"
        return
    root = Path(tempfile.mkdtemp(prefix="holon-pg-"))
    datadir, sockdir = root / "data", root / "sock"
    sockdir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockdir, "postgres")
    user = "holon"
    initdb = [str(bindir / "initdb"), "-D", str(datadir), "-U", user]
    if password is None:
        initdb.append("--auth=trust")
    else:
        pwfile = root / "pw"
        pwfile.write_text(password + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres")
        initdb += ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
    initdb += ["--no-sync", "-E", "UTF8", "--locale=C"]
    subprocess.run(_as_pg_user(initdb), check=True, capture_output=True)
    if password is not None:
        (root / "pw").unlink()
    if clients is not None:
        method = "trust" if password is None else "scram-sha-256"
        with (datadir / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {clients} {method}\n")
    port = free_port()
    options = (
        f"-h {','.join(listen)} -p {port} -k {sockdir} -c fsync=off -c synchronous_commit=off "
        f"-c full_page_writes=off -c max_connections={max_connections}"
    )
    for name, value in (settings or {}).items():
        if not name.replace("_", "").replace(".", "").isalnum() or " " in str(value):
            raise ValueError(f"server setting {name}={value!r}: a name and a value without spaces")
        options += f" -c {name}={value}"
    pg_ctl = str(bindir / "pg_ctl")
    start = [pg_ctl, "-D", str(datadir), "-o", options, "-l", str(root / "server.log")]
    try:
        subprocess.run(
            _as_pg_user([*start, "-w", "-t", "60", "start"]), check=True, capture_output=True
        )
        yield PgServer(
            host="127.0.0.1", port=port, user=user, password=password, control=tuple(start)
        )
    finally:
        subprocess.run(
            _as_pg_user([pg_ctl, "-D", str(datadir), "-m", "immediate", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed here (the message says what is missing)."""


@contextlib.contextmanager
def postgres_for_clients(address: str, clients: str) -> Iterator[PgServer]:
    """A throw-away server that hosts in the CIDR ``clients`` reach on ``address`` (and this
    host on loopback), SCRAM with a random password. Raises PostgresUnavailable on entry
    when there is no PostgreSQL."""
    import secrets

    with throwaway_postgres(
        listen=("127.0.0.1", address), clients=clients, password=secrets.token_urlsafe(18)
    ) as server:
        if isinstance(server, str):
            raise PostgresUnavailable(server)
        yield server
