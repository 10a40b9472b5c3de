"""expand_0010 / contract_0002: a recipe's author becomes a user id, on SQLite and
PostgreSQL: the rows written before are backfilled in batches, a trigger keeps the name
and the id in step for rows either version writes while both run, a re-run of the expand
is harmless, and the contract drops the name column keeping every author."""

from __future__ import annotations

import logging

import pytest
from alembic import command
from sqlalchemy import Connection, create_engine, inspect, pool, text

from mes_runtime.db.engine import sync_url
from mes_runtime.db.migrate import alembic_config, current_revisions, upgrade

PREVIOUS_HEADS = ("expand_0009", "contract_0001")


def _connect(url: str) -> Connection:
    return create_engine(sync_url(url), poolclass=pool.NullPool).connect()


def _old_shape(conn: Connection, recipes: int) -> None:
    """Two accounts and ``recipes`` recipes written as the previous version writes them
    (the author's name only), one by a name that matches no account."""
    for username in ("alice", "bob"):
        conn.execute(
            text(
                "INSERT INTO users (username, password_hash, roles, active, created_at, "
                "failed_attempts) VALUES (:u, '!', '[\"supervisor\"]', true, CURRENT_TIMESTAMP, 0)"
            ),
            {"u": username},
        )
    for version in range(1, recipes + 1):
        _insert_recipe(conn, version, created_by="ghost" if version == 2 else "alice")
    conn.commit()


def _insert_recipe(
    conn: Connection,
    version: int,
    *,
    created_by: str | None = None,
    created_by_id: int | None = None,
) -> None:
    columns = {"created_by": created_by} if created_by is not None else {}
    if created_by_id is not None:
        columns["created_by_id"] = created_by_id  # type: ignore[assignment]
    names, values = ", ".join(columns), ", ".join(f":{c}" for c in columns)
    insert = (
        "INSERT INTO master_recipes (name, version, status, body, digest, created_at, "  # noqa: S608
        f"{names}) VALUES ('r', :v, 'draft', '{{}}', 'sha256:x', CURRENT_TIMESTAMP, {values})"
    )
    conn.execute(
        text(insert),
        {"v": version, **columns},
    )


def _authors(conn: Connection) -> dict[int, tuple[object, ...]]:
    columns = {c["name"] for c in inspect(conn).get_columns("master_recipes")}
    name = "created_by" if "created_by" in columns else "NULL"
    rows = conn.execute(
        text(f"SELECT version, {name}, created_by_id FROM master_recipes ORDER BY version")  # noqa: S608
    )
    conn.commit()
    return {row[0]: tuple(row[1:]) for row in rows}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest) -> str:
    fixture = "empty_db_url" if request.param == "sqlite" else "empty_pg_url"
    url: str = request.getfixturevalue(fixture)
    return url


def test_author_becomes_a_user_id_in_batches_kept_in_step_then_contracted(
    fresh_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for head in PREVIOUS_HEADS:
        upgrade(fresh_url, head)
    with _connect(fresh_url) as conn:
        _old_shape(conn, recipes=5)
        alice, bob = (
            conn.execute(text("SELECT id FROM users WHERE username = :u"), {"u": u}).scalar_one()
            for u in ("alice", "bob")
        )

    monkeypatch.setenv("HOLON_MIGRATION_BATCH_ROWS", "2")
    with caplog.at_level(logging.INFO, logger="holon.migrations"):
        upgrade(fresh_url, "expand@head")
    batches = [r.getMessage() for r in caplog.records if "expand_0010 backfill: batch" in r.message]
    assert len(batches) == 3, batches  # 5 rows, 2 per statement
    assert "done, 5 rows in 3 batches of up to 2" in caplog.text

    with _connect(fresh_url) as conn:
        assert _authors(conn) == {
            1: ("alice", alice), 2: ("ghost", None), 3: ("alice", alice),
            4: ("alice", alice), 5: ("alice", alice),
        }  # fmt: skip
        _insert_recipe(conn, 6, created_by="bob")  # as the previous version writes
        _insert_recipe(conn, 7, created_by_id=alice)  # as this version writes
        conn.commit()
        assert _authors(conn)[6] == ("bob", bob)
        assert _authors(conn)[7] == ("alice", alice)

    # re-running the expand (as after a failure past its DDL) changes nothing
    command.stamp(alembic_config(fresh_url), "expand_0009")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="holon.migrations"):
        upgrade(fresh_url, "expand@head")
    assert "done, 1 rows in 1 batches" in caplog.text  # only the "ghost" row, no account
    with _connect(fresh_url) as conn:
        _insert_recipe(conn, 8, created_by="bob")
        conn.commit()
        assert _authors(conn)[8] == ("bob", bob)  # one trigger, still in step

    upgrade(fresh_url, "contract@head")
    assert "contract_0002" in current_revisions(fresh_url)
    with _connect(fresh_url) as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("master_recipes")}
        assert "created_by" not in columns
        assert _authors(conn) == {
            1: (None, alice), 2: (None, None), 3: (None, alice), 4: (None, alice),
            5: (None, alice), 6: (None, bob), 7: (None, alice), 8: (None, bob),
        }  # fmt: skip
        _insert_recipe(conn, 9, created_by_id=bob)  # no trigger left to trip over
        conn.commit()
        assert _authors(conn)[9] == (None, bob)
