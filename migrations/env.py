"""Alembic environment: runs migrations synchronously against the runtime database.

Two branches, like OpenStack Neutron: ``expand`` (additive, safe while the old version still
runs) and ``contract`` (destructive, only after every old instance is gone). The URL comes
from ``mes_runtime.db.migrate`` (``sqlalchemy.url``) or ``-x url=...`` on the command line.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from mes_runtime.db.engine import sync_url
from mes_runtime.db.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or use `mes-runtime db`")
    return sync_url(url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs table rebuilds for most ALTERs
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
