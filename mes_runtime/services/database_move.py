"""What a database move needs to know of the two PostgreSQL servers (issue #10, DESIGN §5
"Blue-green database").

A move copies the module's database to another server by logical replication: a publication
on the current server (blue), a subscription on the target (green) whose schema the
project's own migrations made. Whether that can start is decided by the operator's preflight
(``mes_operator.dbmove.preflight``) from facts only the databases know, read here:

- :func:`blue_facts` - the module's own database: version, ``wal_level``, replication slots
  and WAL senders (configured and in use), the tables logical replication cannot carry
  (no primary key or replica identity; unlogged), the role's right to publish (superuser,
  ``REPLICATION``, ``CREATE`` on the database, ownership of the tables), the alembic
  revisions stored and the journal's head;
- :func:`green_facts` - a target given by URL: reachable, version, the right to subscribe
  (superuser, or ``pg_create_subscription`` with ``CREATE`` on the database from
  PostgreSQL 16), whether it is empty or at a schema head, and which tables hold rows.

Read-only: nothing here writes, creates or journals. No URL, password or connection string
is ever part of a fact (a connection failure's message is kept with the password cut out).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import Connection, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from mes_runtime.db.migrate import (
    applied_revisions,
    current_revisions_of,
    head_revisions,
    known_revisions,
)
from mes_runtime.db.models import JournalEntry

__all__ = [
    "BlueFacts",
    "GreenFacts",
    "NotPostgres",
    "ServerFacts",
    "TableFacts",
    "blue_facts",
    "green_facts",
]

#: The alembic table: at a schema head it holds the revisions, which is not data to copy.
ALEMBIC_TABLE = "public.alembic_version"


class NotPostgres(Exception):
    """The module's database is not PostgreSQL (SQLite cannot be moved by replication)."""


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """The server and the connecting role, as logical replication sees them."""

    database: str
    version_num: int  # server_version_num: 150018 for 15.18
    version: str  # server_version: "15.18 (Debian 15.18-0+deb12u1)"
    wal_level: str
    max_replication_slots: int
    replication_slots_used: int
    max_wal_senders: int
    wal_senders_used: int
    max_logical_replication_workers: int
    superuser: bool
    replication: bool  # the role's REPLICATION attribute
    create_on_database: bool  # CREATE on the database (publications, subscriptions)
    pg_create_subscription: bool  # member of the PostgreSQL 16 role of that name

    @property
    def major(self) -> int:
        return self.version_num // 10000

    @property
    def free_replication_slots(self) -> int:
        return self.max_replication_slots - self.replication_slots_used

    @property
    def free_wal_senders(self) -> int:
        return self.max_wal_senders - self.wal_senders_used


@dataclass(frozen=True, slots=True)
class TableFacts:
    """The user tables (schema-qualified, quoted as SQL wants them) by what replication needs."""

    tables: tuple[str, ...]
    without_identity: tuple[str, ...]  # no primary key and no replica identity
    unlogged: tuple[str, ...]  # never replicated
    not_owned: tuple[str, ...]  # a publication naming them must be made by their owner
    sequences: tuple[str, ...]  # not carried by logical replication: set at the switchover


@dataclass(frozen=True, slots=True)
class BlueFacts:
    """The module's own database: the side that publishes."""

    server: ServerFacts
    tables: TableFacts
    revisions: tuple[str, ...]  # alembic version rows, sorted
    heads: tuple[str, ...]  # the heads this runtime version ships, sorted
    at_heads: bool
    journal_head: int  # the journal's last seq (0: empty)
    database_bytes: int
    publications: tuple[str, ...]  # existing ones (a move left behind shows)

    @property
    def can_publish(self) -> bool:
        """``CREATE PUBLICATION ... FOR TABLE``: CREATE on the database and owning the tables
        (a superuser may do both)."""
        return self.server.superuser or (
            self.server.create_on_database and not self.tables.not_owned
        )


@dataclass(frozen=True, slots=True)
class GreenFacts:
    """A target server, given by URL: the side that subscribes."""

    reachable: bool
    problem: str | None  # why it is not reachable (without the password)
    server: ServerFacts | None = None
    tables: TableFacts | None = None
    revisions: tuple[str, ...] = ()
    tables_with_rows: tuple[str, ...] = ()  # besides the alembic table

    @property
    def empty(self) -> bool:
        """No user tables at all: the migrations have not run."""
        return self.tables is not None and not self.tables.tables

    @property
    def can_subscribe(self) -> bool:
        """``CREATE SUBSCRIPTION``: a superuser; from PostgreSQL 16 also a member of
        ``pg_create_subscription`` with CREATE on the database."""
        server = self.server
        if server is None:
            return False
        return server.superuser or (
            server.major >= 16 and server.pg_create_subscription and server.create_on_database
        )


_SERVER = text(
    """
    SELECT current_database() AS database,
           current_setting('server_version_num')::int AS version_num,
           current_setting('server_version') AS version,
           current_setting('wal_level') AS wal_level,
           current_setting('max_replication_slots')::int AS max_replication_slots,
           (SELECT count(*) FROM pg_replication_slots)::int AS replication_slots_used,
           current_setting('max_wal_senders')::int AS max_wal_senders,
           (SELECT count(*) FROM pg_stat_replication)::int AS wal_senders_used,
           current_setting('max_logical_replication_workers')::int
               AS max_logical_replication_workers,
           r.rolsuper AS superuser,
           r.rolreplication AS replication,
           has_database_privilege(current_database(), 'CREATE') AS create_on_database,
           CASE WHEN to_regrole('pg_create_subscription') IS NULL THEN false
                ELSE pg_has_role(current_user, to_regrole('pg_create_subscription'), 'USAGE')
           END AS pg_create_subscription
    FROM pg_roles r WHERE r.rolname = current_user
    """
)

_USER_SCHEMAS = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'pg_toast'"
)

_TABLES = text(
    f"""
    SELECT format('%I.%I', n.nspname, c.relname) AS name,
           c.relkind AS kind,
           (c.relreplident IN ('f', 'i') OR (c.relreplident = 'd' AND EXISTS (
               SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary
           ))) AS identity,
           c.relpersistence = 'u' AS unlogged,
           pg_has_role(current_user, c.relowner, 'USAGE') AS owned
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'S') AND {_USER_SCHEMAS}
    ORDER BY 1
    """  # noqa: S608 - constant SQL, no input
)


def _server(connection: Connection) -> ServerFacts:
    row = connection.execute(_SERVER).mappings().one()
    return ServerFacts(**row)


def _tables(connection: Connection) -> TableFacts:
    rows = connection.execute(_TABLES).mappings().all()
    tables = [r for r in rows if r["kind"] == "r"]
    return TableFacts(
        tables=tuple(r["name"] for r in tables),
        without_identity=tuple(r["name"] for r in tables if not r["identity"]),
        unlogged=tuple(r["name"] for r in tables if r["unlogged"]),
        not_owned=tuple(r["name"] for r in tables if not r["owned"]),
        sequences=tuple(r["name"] for r in rows if r["kind"] == "S"),
    )


def _postgres(connection: Connection) -> None:
    if connection.dialect.name != "postgresql":
        raise NotPostgres(
            f"the module's database is {connection.dialect.name}: only a PostgreSQL database "
            "can be moved to another server"
        )


def _blue(connection: Connection) -> BlueFacts:
    _postgres(connection)
    stored = current_revisions_of(connection)
    heads = head_revisions()
    applied = applied_revisions(stored & known_revisions())
    journal_head = connection.execute(select(func.coalesce(func.max(JournalEntry.seq), 0)))
    size = connection.execute(text("SELECT pg_database_size(current_database())"))
    publications = connection.execute(text("SELECT pubname FROM pg_publication ORDER BY 1"))
    return BlueFacts(
        server=_server(connection),
        tables=_tables(connection),
        revisions=tuple(sorted(stored)),
        heads=tuple(sorted(heads)),
        at_heads=heads <= applied and stored <= known_revisions(),
        journal_head=int(journal_head.scalar_one()),
        database_bytes=int(size.scalar_one()),
        publications=tuple(publications.scalars()),
    )


async def blue_facts(engine: AsyncEngine) -> BlueFacts:
    """The facts of the module's own database (``engine``'s). Raises :class:`NotPostgres`
    on SQLite."""
    async with engine.connect() as connection:
        return await connection.run_sync(_blue)


def _green(connection: Connection) -> GreenFacts:
    _postgres(connection)
    tables = _tables(connection)
    with_rows = tuple(
        name
        for name in tables.tables
        if name != ALEMBIC_TABLE
        # a name from format('%I.%I'): quoted as an identifier by the server
        and connection.execute(text(f"SELECT EXISTS (SELECT 1 FROM {name})")).scalar_one()  # noqa: S608
    )
    return GreenFacts(
        reachable=True,
        problem=None,
        server=_server(connection),
        tables=tables,
        revisions=tuple(sorted(current_revisions_of(connection))),
        tables_with_rows=with_rows,
    )


def _without_password(message: str, password: str | None) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "no answer"
    return first.replace(password, "***") if password else first


async def green_facts(url: str, *, seconds: float = 10.0) -> GreenFacts:
    """The facts of the target database at ``url`` (``postgresql+psycopg://``), or why it
    cannot be reached within ``seconds``."""
    parsed = make_url(url)
    if parsed.drivername != "postgresql+psycopg":
        return GreenFacts(
            reachable=False, problem=f"not a PostgreSQL URL (driver {parsed.drivername!r})"
        )
    engine = create_async_engine(
        url, poolclass=NullPool, connect_args={"connect_timeout": max(1, int(seconds))}
    )
    try:
        async with asyncio.timeout(seconds):
            async with engine.connect() as connection:
                return await connection.run_sync(_green)
    except TimeoutError:
        return GreenFacts(reachable=False, problem=f"no answer within {seconds:g} s")
    except Exception as exc:  # unreachable, refused, authentication: a fact, not a crash
        orig = getattr(exc, "orig", None) or exc
        message = _without_password(str(orig), parsed.password)
        return GreenFacts(reachable=False, problem=f"{type(orig).__name__}: {message}")
    finally:
        await engine.dispose()
