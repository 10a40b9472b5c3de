"""Programmatic alembic: upgrade to ``heads`` (expand + contract), report current/heads.

Why programmatic: ``mes-runtime db upgrade`` and ``mes-runtime serve`` must work from any
working directory, so the alembic configuration is located relative to this package rather
than to the cwd. Alembic is synchronous; async callers use the ``*_async`` wrappers, which
run it in a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, pool

from mes_runtime.db.engine import ensure_sqlite_dir, sqlite_path, sync_url

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "applied_revisions",
    "current_revisions",
    "head_revisions",
    "known_revisions",
    "upgrade",
    "upgrade_async",
]


def _migrations_dir() -> Path:
    """``migrations/`` of a source checkout, else the copy an installed wheel carries."""
    here = Path(__file__).resolve()
    checkout = here.parents[2] / "migrations"
    return checkout if (checkout / "alembic.ini").is_file() else here.parents[1] / "_migrations"


MIGRATIONS_DIR = _migrations_dir()


def alembic_config(url: str | None = None) -> Config:
    """The alembic configuration of ``migrations/``, optionally bound to ``url``."""
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation: a literal % in a password must be doubled.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def known_revisions() -> set[str]:
    """Every revision this version ships (both branches)."""
    return {rev.revision for rev in _script().walk_revisions()}


def head_revisions() -> set[str]:
    """The revisions ``upgrade heads`` reaches (one per branch)."""
    return set(_script().get_heads())


# pg_advisory_lock key of schema migrations: "holon" in ASCII
_MIGRATION_LOCK = 0x686F6C6F6E


def upgrade(url: str, target: str = "heads") -> None:
    """Upgrade the database at ``url`` to ``target`` (default: every branch head).

    On PostgreSQL the upgrade holds a session advisory lock, so replicas of the runtime
    that start together (each migrating on start) take turns instead of racing on the
    same DDL: the first upgrades, the others find the database at heads."""
    ensure_sqlite_dir(url)
    if not url.startswith("postgresql"):
        command.upgrade(alembic_config(url), target)
        return
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as lock:
            lock.exec_driver_sql(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})")
            try:
                command.upgrade(alembic_config(url), target)
            finally:
                lock.exec_driver_sql(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})")
    finally:
        engine.dispose()


async def upgrade_async(url: str, target: str = "heads") -> None:
    await asyncio.to_thread(upgrade, url, target)


def current_revisions_of(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


def current_revisions(url: str) -> set[str]:
    """The revisions the database at ``url`` is at (empty if never migrated)."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return set()
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return current_revisions_of(conn)
    finally:
        engine.dispose()


def applied_revisions(current: set[str]) -> set[str]:
    """Every revision implied by the database's version rows (ancestors and dependencies).

    Alembic stores only the tips: with ``contract`` depending on ``expand`` a fully
    migrated database may list just ``contract_0001``.
    """
    if not current:
        return set()
    script = _script()
    return {
        rev.revision
        for rev in script.revision_map.iterate_revisions(tuple(current), "base", inclusive=True)
        if rev is not None
    }
