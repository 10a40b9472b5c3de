"""The runtime starts only on a schema it can work with: at least its own expand head, a
newer expand tolerated, a contract it does not know refused - with both revisions named."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mes_runtime.db.compat import schema_problem
from mes_runtime.db.migrate import head_revisions, upgrade

SHIPPED = {"expand_0001", "expand_0002", "contract_0001"}


def _problem(stored: set[str], applied: set[str]) -> str | None:
    return schema_problem(
        stored,
        shipped=SHIPPED,
        applied=applied,
        expand_head="expand_0002",
        contract_head="contract_0001",
    )


def test_the_schema_this_version_ships_fits() -> None:
    assert _problem({"expand_0002", "contract_0001"}, SHIPPED) is None
    assert _problem({"expand_0002"}, {"expand_0001", "expand_0002"}) is None  # not contracted


def test_an_older_expand_or_an_empty_database_is_too_old_and_says_what_is_needed() -> None:
    for stored, applied in (({"expand_0001"}, {"expand_0001"}), (set(), set())):
        problem = _problem(stored, applied)
        assert problem is not None
        assert problem.startswith("schema too old")
        assert "expand_0002" in problem
    assert "found expand_0001" in str(_problem({"expand_0001"}, {"expand_0001"}))
    assert "found an empty database" in str(_problem(set(), set()))


def test_a_later_expand_is_tolerated_a_later_contract_is_not() -> None:
    assert _problem({"expand_0007", "contract_0001"}, {"contract_0001"}) is None
    problem = _problem({"expand_0007", "contract_0002"}, set())
    assert problem is not None
    assert problem.startswith("schema too new")
    assert "contract_0002" in problem
    assert "contract_0001" in problem  # what this version tolerates


def _serve(db: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLON_")}
    env |= {
        "HOLON_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "HOLON_DATA_DIR": str(tmp_path / "data"),
        "HOLON_MIGRATE_ON_START": "false",
        "HOLON_PORT": "0",
    }
    return subprocess.run(
        [sys.executable, "-m", "mes_runtime", "serve", "--port", "0"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("case", ["too-old", "too-new"])
def test_serve_refuses_a_schema_it_cannot_work_with_naming_both_revisions(
    tmp_path: Path, case: str
) -> None:
    db = tmp_path / "runtime.db"
    upgrade(f"sqlite+aiosqlite:///{db}")
    with sqlite3.connect(db) as conn:
        if case == "too-old":  # as if only the first expand migration had run
            conn.execute("DELETE FROM alembic_version")
            conn.execute("INSERT INTO alembic_version VALUES ('expand_0001')")
        else:  # as if a later version had contracted
            conn.execute("UPDATE alembic_version SET version_num = 'contract_0099' "
                         "WHERE version_num LIKE 'contract_%'")  # fmt: skip
    result = _serve(db, tmp_path)
    assert result.returncode == 2, result.stderr
    if case == "too-old":
        assert "schema too old: found expand_0001" in result.stderr
        expand_head = next(h for h in head_revisions() if h.startswith("expand_"))
        assert f"needs the expand migration {expand_head}" in result.stderr
    else:
        assert "schema too new: found" in result.stderr
        assert "contract_0099" in result.stderr
        contract_head = next(h for h in head_revisions() if h.startswith("contract_"))
        assert f"up to {contract_head}" in result.stderr


@pytest.mark.parametrize(
    ("tips", "ready"),
    [
        ({"expand_0099", "contract_0001"}, True),  # a later version expanded: still ready
        ({"expand_0099", "contract_0099"}, False),  # a later version contracted
        ({"expand_0001"}, False),  # too old for this version
    ],
)
def test_readiness_is_the_start_up_verdict_and_unknown_revisions_are_no_error(
    tmp_path: Path, tips: set[str], ready: bool
) -> None:
    from sqlalchemy import create_engine, pool

    from mes_runtime.db.compat import is_up_to_date

    db = tmp_path / "runtime.db"
    upgrade(f"sqlite+aiosqlite:///{db}", "expand@head")
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM alembic_version")
        conn.executemany("INSERT INTO alembic_version VALUES (?)", [(t,) for t in sorted(tips)])
    engine = create_engine(f"sqlite:///{db}", poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            assert is_up_to_date(conn) is ready
    finally:
        engine.dispose()
