"""``GET /api/v1/upgrade/database-move``: the module's database as a move to another
PostgreSQL server needs it (issue #10, DESIGN §5 "Blue-green database").

The operator's preflight (``mes_operator.dbmove.preflight``) decides from these facts
whether the move may start and, if not, names what to fix: ``wal_level``, free replication
slots and WAL senders, tables without a primary key or replica identity, the role's right to
publish, the schema revisions, the journal's head. Read from the database now (every replica
gives the same answer); read-only.

Never a secret: no URL, no user name, no password, no connection string; the database's
name is the only name of the server given. SQLite answers 409 (it cannot be moved by
replication). Who may read it: the operator's account (``upgrade.manage``), as for
``/installation``. Served by every module kind (each has a database), hence its own router
placed before ``upgrade.router`` in ``api.app.ROUTERS``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from mes_runtime.api.deps import EngineDep, require
from mes_runtime.api.errors import conflict
from mes_runtime.auth.permissions import Permission
from mes_runtime.db.models import User
from mes_runtime.services.database_move import BlueFacts, NotPostgres, blue_facts

__all__ = ["DatabaseMoveOut", "ServerOut", "TablesOut", "router"]

router = APIRouter(prefix="/api/v1/upgrade", tags=["upgrade"])

Upgrader = Annotated[User, require(Permission.UPGRADE_MANAGE)]


class _Out(BaseModel):
    """camelCase on the wire, as the operator's resources are."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True)


class ServerOut(_Out):
    database: str = Field(description="the database's name on its server")
    version_num: int = Field(description="server_version_num (150018 for 15.18)")
    version: str = Field(description="server_version as the server gives it")
    major: int = Field(description="the major version")
    wal_level: str = Field(description="logical replication needs `logical`")
    max_replication_slots: int
    free_replication_slots: int = Field(description="max_replication_slots less those in use")
    max_wal_senders: int
    free_wal_senders: int = Field(description="max_wal_senders less those connected")
    max_logical_replication_workers: int
    superuser: bool = Field(description="the runtime's role is a superuser")
    replication: bool = Field(description="the runtime's role has the REPLICATION attribute")
    create_on_database: bool = Field(description="the role may CREATE in the database")


class TablesOut(_Out):
    tables: list[str] = Field(description="every user table, schema-qualified, sorted")
    without_identity: list[str] = Field(
        description="tables with no primary key and no replica identity (logical replication "
        "cannot carry their updates and deletes)"
    )
    unlogged: list[str] = Field(description="unlogged tables (never replicated)")
    not_owned: list[str] = Field(
        description="tables the role does not own (a publication naming them needs their owner)"
    )
    sequences: list[str] = Field(
        description="sequences (not carried by replication: set on green at the switchover)"
    )


class DatabaseMoveOut(_Out):
    server: ServerOut
    tables: TablesOut
    can_publish: bool = Field(
        description="the role may CREATE PUBLICATION for every table (superuser, or CREATE on "
        "the database and owner of every table)"
    )
    revisions: list[str] = Field(description="the alembic revisions stored (tips), sorted")
    heads: list[str] = Field(description="the branch heads this version ships, sorted")
    at_heads: bool = Field(description="the schema is at this version's heads")
    journal_head: int = Field(description="the journal's last seq (0: empty)")
    database_bytes: int = Field(description="the database's size on disk")
    publications: list[str] = Field(description="the publications that exist, sorted")


def _out(facts: BlueFacts) -> DatabaseMoveOut:
    server, tables = facts.server, facts.tables
    return DatabaseMoveOut(
        server=ServerOut(
            database=server.database,
            version_num=server.version_num,
            version=server.version,
            major=server.major,
            wal_level=server.wal_level,
            max_replication_slots=server.max_replication_slots,
            free_replication_slots=server.free_replication_slots,
            max_wal_senders=server.max_wal_senders,
            free_wal_senders=server.free_wal_senders,
            max_logical_replication_workers=server.max_logical_replication_workers,
            superuser=server.superuser,
            replication=server.replication,
            create_on_database=server.create_on_database,
        ),
        tables=TablesOut(
            tables=list(tables.tables),
            without_identity=list(tables.without_identity),
            unlogged=list(tables.unlogged),
            not_owned=list(tables.not_owned),
            sequences=list(tables.sequences),
        ),
        can_publish=facts.can_publish,
        revisions=list(facts.revisions),
        heads=list(facts.heads),
        at_heads=facts.at_heads,
        journal_head=facts.journal_head,
        database_bytes=facts.database_bytes,
        publications=list(facts.publications),
    )


@router.get(
    "/database-move",
    response_model=DatabaseMoveOut,
    responses={409: {"description": "the module's database is not PostgreSQL (SQLite)"}},
)
async def get_database_move(_: Upgrader, engine: EngineDep) -> DatabaseMoveOut:
    """The module's database as a move to another PostgreSQL server needs it: version,
    ``wal_level``, replication slots and senders, tables replication cannot carry, the
    role's right to publish, schema revisions, the journal's head. Read-only."""
    try:
        facts = await blue_facts(engine)
    except NotPostgres as exc:
        raise conflict(("database",), str(exc)) from exc
    return _out(facts)
