"""The migrations produce exactly the ORM schema, on SQLite and PostgreSQL, and the two
branches (expand, contract) are laid out as the upgrade flow expects."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from mes_runtime.db.compat import is_up_to_date
from mes_runtime.db.engine import sync_url
from mes_runtime.db.migrate import (
    alembic_config,
    applied_revisions,
    current_revisions,
    head_revisions,
    upgrade,
)
from mes_runtime.db.models import Base


def _diff(url: str) -> list[object]:
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _up_to_date(url: str) -> bool:
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return is_up_to_date(conn)
    finally:
        engine.dispose()


def _check_fresh_upgrade(url: str) -> None:
    assert _diff(url)  # an empty database differs from the models...
    assert not _up_to_date(url)
    upgrade(url)
    assert _diff(url) == []  # ...and the migrated one does not
    assert _up_to_date(url)
    assert head_revisions() <= applied_revisions(current_revisions(url))


def test_sqlite_migrations_match_models(empty_db_url: str) -> None:
    _check_fresh_upgrade(empty_db_url)


@pytest.mark.postgres
def test_postgres_migrations_match_models(empty_pg_url: str) -> None:
    _check_fresh_upgrade(empty_pg_url)


def test_two_branches_from_the_start() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    labels = {label for rev in script.walk_revisions() for label in rev.branch_labels}
    assert {"expand", "contract"} <= labels
    heads = {script.get_revision(h).revision for h in script.get_heads()}
    assert heads == head_revisions()
    assert len(heads) == 2
    assert script.get_revision("expand@head") is not None
    assert script.get_revision("contract@head") is not None


def test_expand_alone_fits_this_version_then_contract_completes(empty_db_url: str) -> None:
    upgrade(empty_db_url, "expand@head")
    # expand only adds: what the models lack is exactly what the contract removes
    assert [(d[0], d[2], d[3].name) for d in _diff(empty_db_url)] == [  # type: ignore[index]
        ("remove_column", "master_recipes", "created_by")
    ]
    assert _up_to_date(empty_db_url)  # ready: green serves here until the switch
    assert not head_revisions() <= applied_revisions(current_revisions(empty_db_url))
    upgrade(empty_db_url)
    assert _up_to_date(empty_db_url)
    assert head_revisions() <= applied_revisions(current_revisions(empty_db_url))


def test_upgrade_is_idempotent_and_downgrade_reverses(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    upgrade(empty_db_url)
    assert _up_to_date(empty_db_url)
    from alembic import command

    command.downgrade(alembic_config(empty_db_url), "base")
    assert current_revisions(empty_db_url) == set()
    upgrade(empty_db_url)
    assert _diff(empty_db_url) == []
