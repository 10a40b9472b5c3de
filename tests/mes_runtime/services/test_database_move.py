"""The facts of a database move, read from two real PostgreSQL servers with
``wal_level=logical`` (blue: the module's, green: the target), and a publication and a
subscription between them to show the servers really replicate."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from holon_testing.net import free_port
from holon_testing.postgres import PgServer
from mes_runtime.db.engine import create_engine
from mes_runtime.db.migrate import head_revisions
from mes_runtime.ebr.journal import Journal
from mes_runtime.services.database_move import NotPostgres, blue_facts, green_facts

pytestmark = pytest.mark.postgres


@pytest.fixture
async def blue(blue_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(blue_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def _database(url: str) -> str:
    name = make_url(url).database
    assert name is not None
    return name


def _sql(server: PgServer, url: str, *statements: str) -> None:
    with server.connect(_database(url), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


async def test_a_migrated_module_database_on_a_logical_server(
    blue: AsyncEngine, blue_pg: PgServer
) -> None:
    facts = await blue_facts(blue)
    server = facts.server
    assert server.wal_level == "logical"
    assert server.version.startswith(f"{server.major}.{server.version_num % 10000}")
    assert (server.max_replication_slots, server.free_replication_slots) == (10, 10)
    assert (server.max_wal_senders, server.free_wal_senders) == (10, 10)
    assert server.superuser
    assert server.replication
    assert server.create_on_database
    assert facts.tables.without_identity == facts.tables.unlogged == facts.tables.not_owned == ()
    assert {"public.journal", "public.batches", "public.alembic_version"} <= set(
        facts.tables.tables
    )
    assert "public.users_id_seq" in facts.tables.sequences
    assert facts.heads == tuple(sorted(head_revisions()))
    assert facts.revisions  # alembic stores the tips only (contract depends on expand)
    assert facts.at_heads
    assert facts.journal_head == 0
    assert facts.database_bytes > 0
    assert facts.publications == ()
    assert facts.can_publish


async def test_the_journal_head_and_the_slots_in_use(
    blue: AsyncEngine, blue_url: str, blue_pg: PgServer
) -> None:
    journal = Journal(blue)
    await journal.start()
    try:
        for n in range(3):
            await journal.append(actor="t", action="test.entry", subject=f"s{n}")
    finally:
        await journal.close()
    slot = f"s_{_database(blue_url)}"
    _sql(blue_pg, blue_url, f"SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')")
    try:
        facts = await blue_facts(blue)
    finally:
        _sql(blue_pg, blue_url, f"SELECT pg_drop_replication_slot('{slot}')")
    assert facts.journal_head == 3
    assert facts.server.replication_slots_used == 1
    assert facts.server.free_replication_slots == 9


async def test_tables_logical_replication_cannot_carry_are_named(
    blue: AsyncEngine, blue_url: str, blue_pg: PgServer
) -> None:
    _sql(
        blue_pg,
        blue_url,
        "CREATE TABLE public.no_key (a int)",
        "CREATE SCHEMA extra",
        'CREATE TABLE extra."Odd Name" (a int UNIQUE NOT NULL)',
        "CREATE UNLOGGED TABLE public.scratch (a int PRIMARY KEY)",
        "CREATE TABLE public.nothing (a int PRIMARY KEY)",
        "ALTER TABLE public.nothing REPLICA IDENTITY NOTHING",
    )
    facts = await blue_facts(blue)
    assert facts.tables.without_identity == ('extra."Odd Name"', "public.no_key", "public.nothing")
    assert facts.tables.unlogged == ("public.scratch",)

    _sql(
        blue_pg,
        blue_url,
        "ALTER TABLE public.no_key REPLICA IDENTITY FULL",
        'ALTER TABLE extra."Odd Name" REPLICA IDENTITY USING INDEX "Odd Name_a_key"',
    )
    again = await blue_facts(blue)
    assert again.tables.without_identity == ("public.nothing",)


async def test_a_role_without_the_rights_to_publish(blue_url: str, blue_pg: PgServer) -> None:
    role = f"r_{_database(blue_url)}"
    _sql(
        blue_pg,
        blue_url,
        f"CREATE ROLE {role} LOGIN",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",  # reads, owns nothing
    )
    engine = create_engine(make_url(blue_url).set(username=role).render_as_string(False))
    try:
        facts = await blue_facts(engine)
    finally:
        await engine.dispose()
        _sql(blue_pg, blue_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")
    assert not facts.server.superuser
    assert not facts.server.replication
    assert "public.journal" in facts.tables.not_owned
    assert not facts.can_publish


async def test_sqlite_is_not_moved(tmp_path: object) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/m.db")
    try:
        with pytest.raises(NotPostgres, match="only a PostgreSQL database can be moved"):
            await blue_facts(engine)
    finally:
        await engine.dispose()


async def test_green_empty(green_empty_url: str) -> None:
    facts = await green_facts(green_empty_url)
    assert facts.reachable
    assert facts.problem is None
    assert facts.server is not None
    assert facts.server.wal_level == "logical"
    assert facts.empty
    assert facts.revisions == facts.tables_with_rows == ()
    assert facts.can_subscribe  # the server's superuser


async def test_green_at_the_heads_without_and_with_rows(
    green_migrated_url: str, green_pg: PgServer, blue_url: str
) -> None:
    facts = await green_facts(green_migrated_url)
    blue = create_engine(blue_url)
    try:
        assert facts.revisions == (await blue_facts(blue)).revisions
    finally:
        await blue.dispose()
    assert not facts.empty
    assert facts.tables_with_rows == ()  # the alembic table's rows are not data
    _sql(
        green_pg,
        green_migrated_url,
        "INSERT INTO journal (seq, ts, actor, action, subject, hash, prev_hash) "
        "VALUES (1, 't', 'a', 'b', 'c', 'h', 'p')",
    )
    assert (await green_facts(green_migrated_url)).tables_with_rows == ("public.journal",)


async def test_green_unreachable_names_no_password() -> None:
    url = f"postgresql+psycopg://holon:s3cret-pw@127.0.0.1:{free_port()}/nowhere"
    facts = await green_facts(url, seconds=5)
    assert not facts.reachable
    assert facts.problem is not None
    assert "OperationalError" in facts.problem
    assert "s3cret-pw" not in facts.problem
    assert facts.server is None
    assert not facts.can_subscribe


async def test_green_refusing_the_password_names_no_password(green_pg: PgServer) -> None:
    url = f"postgresql+psycopg://holon:s3cret-pw@127.0.0.1:{green_pg.port}/no_such_db"
    facts = await green_facts(url)
    assert not facts.reachable
    assert facts.problem is not None
    assert "no_such_db" in facts.problem
    assert "s3cret-pw" not in facts.problem


async def test_green_not_a_postgres_url() -> None:
    facts = await green_facts("sqlite+aiosqlite:///x.db")
    assert (facts.reachable, facts.problem) == (
        False,
        "not a PostgreSQL URL (driver 'sqlite+aiosqlite')",
    )


async def test_green_a_role_that_may_not_subscribe(
    green_empty_url: str, green_pg: PgServer
) -> None:
    role = f"r_{_database(green_empty_url)}"
    _sql(green_pg, green_empty_url, f"CREATE ROLE {role} LOGIN")
    url = make_url(green_empty_url).set(username=role).render_as_string(False)
    try:
        facts = await green_facts(url)
    finally:
        _sql(green_pg, green_empty_url, f"DROP ROLE {role}")
    assert facts.reachable
    assert facts.server is not None
    assert not facts.server.superuser
    assert not facts.can_subscribe


def test_the_two_servers_replicate_logically(
    blue_pg: PgServer, green_pg: PgServer, blue_url: str, green_migrated_url: str
) -> None:
    """The test bed really does what a move needs: a publication on blue, a subscription on
    green (schema by the migrations), the initial copy and then streaming."""
    assert blue_pg.port != green_pg.port
    blue_db, green_db = _database(blue_url), _database(green_migrated_url)
    _sql(
        blue_pg,
        blue_url,
        "INSERT INTO journal (seq, ts, actor, action, subject, hash, prev_hash) "
        "VALUES (1, 't', 'a', 'b', 'c', 'h1', 'p')",
        "CREATE PUBLICATION holon_move FOR TABLE journal",
    )
    conninfo = f"host=127.0.0.1 port={blue_pg.port} user={blue_pg.user} dbname={blue_db}"
    sub = f"holon_move_{green_db}"
    _sql(
        green_pg,
        green_migrated_url,
        f"CREATE SUBSCRIPTION {sub} CONNECTION '{conninfo}' PUBLICATION holon_move",
    )
    try:
        _sql(
            blue_pg,
            blue_url,
            "INSERT INTO journal (seq, ts, actor, action, subject, hash, prev_hash) "
            "VALUES (2, 't', 'a', 'b', 'c', 'h2', 'h1')",
        )
        deadline = time.monotonic() + 30
        seqs: list[int] = []
        while time.monotonic() < deadline:
            with green_pg.connect(green_db) as conn:
                seqs = [r[0] for r in conn.execute("SELECT seq FROM journal ORDER BY seq")]
            if seqs == [1, 2]:
                break
            time.sleep(0.2)
        assert seqs == [1, 2]  # the initial copy (1) and a streamed change (2)
    finally:
        _sql(green_pg, green_migrated_url, f"DROP SUBSCRIPTION {sub}")
