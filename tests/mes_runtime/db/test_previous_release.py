"""The previous release (``[tool.holon] previous-release``, exported from git) and this
version side by side on one PostgreSQL database across expand_0010 (and the expands after it)
and contract_0002.

The previous release migrates with its own migrations and writes recipes with its own
code (its ``mes-runtime`` run from its tree with this virtualenv's Python); then this
version's expand runs (in batches) while the previous release serves. The previous
release keeps starting, reading and writing on the expanded schema; this version reads
what the previous one wrote before and after the expand; after the contract the previous
release refuses to start, naming the revision it found and the one it tolerates. And the
expand, waiting on a lock, fails with the lock timeout instead of hanging; run again, it
completes where it stopped.
"""

from __future__ import annotations

import copy
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, pool, text
from sqlalchemy.exc import OperationalError

from holon_testing.releases import previous_release, release_env
from holon_testing.runtime_process import RuntimeProcess, serving
from mes_runtime.db.engine import sync_url
from mes_runtime.db.migrate import current_revisions, head_revisions, upgrade

pytestmark = pytest.mark.postgres

#: this version's expand head (expand_0010 and the expands after it)
EXPAND_HEAD = next(r for r in head_revisions() if r.startswith("expand_"))

RECIPE: dict[str, Any] = yaml.safe_load(
    (resources.files("mes_runtime.library") / "buffer-prep-only.yaml").read_text()
)


def _recipe(version: int) -> dict[str, Any]:
    recipe = copy.deepcopy(RECIPE)
    recipe["header"]["version"] = version
    return recipe


@pytest.fixture(scope="module")
def checkout() -> Path:
    return previous_release()


def _previous(checkout: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``mes-runtime ARGS`` of the previous release, from its tree, on ``url``."""
    return subprocess.run(
        [sys.executable, "-m", "mes_runtime", *args],
        env=release_env(checkout, database_url=url, migrate_on_start="false"),
        cwd=checkout, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _serve_refusal(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mes_runtime", "serve", "--host", "127.0.0.1", "--port", "0"],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


@contextmanager
def _running(
    monkeypatch: pytest.MonkeyPatch, workdir: Path, url: str, checkout: Path | None
) -> Iterator[RuntimeProcess]:
    """``mes-runtime serve``: the previous release's (``checkout``) or this version's."""
    workdir.mkdir(parents=True, exist_ok=True)
    with monkeypatch.context() as env:
        if checkout is not None:  # workdir holds no mes_runtime, so PYTHONPATH decides
            env.setenv("PYTHONPATH", str(checkout))
        else:
            env.delenv("PYTHONPATH", raising=False)
        with serving(
            workdir, database_url=url, data_dir=str(workdir / "data"), migrate_on_start="false"
        ) as runtime:
            yield runtime


def _token(base: str, username: str, password: str) -> str:
    answer = httpx.post(
        f"{base}/api/v1/auth/token", json={"username": username, "password": password}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _import(base: str, token: str, version: int) -> dict[str, Any]:
    answer = httpx.post(
        f"{base}/api/v1/recipes",
        json=_recipe(version),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _authors(base: str, token: str) -> dict[int, str]:
    answer = httpx.get(
        f"{base}/api/v1/recipes", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return {r["version"]: r["created_by"] for r in answer.json()}


def _sql(url: str, statement: str) -> list[tuple[Any, ...]]:
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(statement))]
    finally:
        engine.dispose()


def _admin(checkout: Path, url: str, username: str) -> str:
    """The previous release's ``create-admin``: the password it prints once."""
    created = _previous(checkout, url, "create-admin", "--username", username)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip().splitlines()[-1]


def test_previous_release_and_this_version_side_by_side_across_expand_and_contract(
    checkout: Path,
    empty_pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = empty_pg_url
    migrated = _previous(checkout, url, "db", "upgrade")  # its own migrations, to its heads
    assert migrated.returncode == 0, migrated.stderr
    assert current_revisions(url) == {"expand_0009", "contract_0001"}
    alice, bob = _admin(checkout, url, "alice"), _admin(checkout, url, "bob")

    # this version refuses the previous release's schema, naming what it needs
    env = release_env(tmp_path, database_url=url, migrate_on_start="false")
    del env["PYTHONPATH"]
    too_old = _serve_refusal(env, tmp_path)
    assert too_old.returncode == 2, too_old.stderr
    assert "found contract_0001, expand_0009" in too_old.stderr
    assert EXPAND_HEAD in too_old.stderr

    with _running(monkeypatch, tmp_path / "previous", url, checkout) as previous:
        old = previous.url
        alice_token = _token(old, "alice", alice)
        for version in range(1, 6):  # written by the previous release: the name only
            assert _import(old, alice_token, version)["created_by"] == "alice"

        monkeypatch.setenv("HOLON_MIGRATION_BATCH_ROWS", "2")
        with caplog.at_level(logging.INFO, logger="holon.migrations"):
            upgrade(url, "expand@head")  # while the previous release serves
        assert current_revisions(url) == {EXPAND_HEAD, "contract_0001"}
        batches = [r.message for r in caplog.records if "expand_0010 backfill: batch" in r.message]
        print("\nexpand_0010 backfill:", *batches, sep="\n  ")
        assert len(batches) == 3  # 5 rows, 2 per statement, each its own transaction

        # the previous release keeps reading and writing on the expanded schema
        assert _authors(old, alice_token) == dict.fromkeys(range(1, 6), "alice")
        bob_token = _token(old, "bob", bob)
        assert _import(old, bob_token, 6)["created_by"] == "bob"  # after the backfill
        # ...and stays ready, so blue keeps its place in the Service through the expand
        ready = httpx.get(f"{old}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text

        # ...and starts on it (its schema check tolerates a newer expand)
        with _running(monkeypatch, tmp_path / "previous-2", url, checkout) as restarted:
            assert _authors(restarted.url, bob_token)[6] == "bob"

        with _running(monkeypatch, tmp_path / "next", url, None) as nxt:
            new = nxt.url
            new_alice = _token(new, "alice", alice)
            # rows written before the expand (backfilled) and after it (the trigger)
            assert _authors(new, new_alice) == {**dict.fromkeys(range(1, 6), "alice"), 6: "bob"}
            assert _import(new, new_alice, 7)["created_by"] == "alice"  # the id only
            assert _authors(old, bob_token)[7] == "alice"  # the previous release reads it
            assert httpx.get(f"{new}/readyz", timeout=30).status_code == 200  # not contracted
            ids = dict(_sql(url, "SELECT username, id FROM users"))
            stored = _sql(url, "SELECT version, created_by, created_by_id FROM master_recipes")
            assert sorted(stored) == [
                *((v, "alice", ids["alice"]) for v in range(1, 6)),
                (6, "bob", ids["bob"]),
                (7, "alice", ids["alice"]),
            ]

            upgrade(url, "contract@head")
            assert "contract_0002" in current_revisions(url)
            assert _authors(new, new_alice) == {
                **dict.fromkeys(range(1, 6), "alice"), 6: "bob", 7: "alice"
            }  # fmt: skip
            assert _import(new, new_alice, 8)["created_by"] == "alice"  # still serving

    # after the contract the previous release refuses to start, naming both revisions
    refused = _serve_refusal(
        release_env(checkout, database_url=url, migrate_on_start="false"), checkout
    )
    print("previous release after the contract:", refused.stderr.strip().splitlines()[-1])
    assert refused.returncode == 2, refused.stderr
    assert "schema too new" in refused.stderr
    assert "contract_0002" in refused.stderr  # what it found
    assert "contract_0001" in refused.stderr  # what it tolerates


def test_the_expand_waiting_on_a_lock_fails_with_the_lock_timeout_and_a_rerun_completes(
    checkout: Path,
    empty_pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = empty_pg_url
    assert _previous(checkout, url, "db", "upgrade").returncode == 0
    _admin(checkout, url, "alice")
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    with engine.begin() as conn:  # 5 recipes as the previous release stores them
        for version in range(1, 6):
            conn.execute(
                text(
                    "INSERT INTO master_recipes (name, version, status, body, digest, "
                    "created_by, created_at) VALUES ('r', :v, 'draft', '{}', 'sha256:x', "
                    "'alice', now())"
                ),
                {"v": version},
            )
    monkeypatch.setenv("HOLON_MIGRATION_BATCH_ROWS", "2")

    holder = engine.connect()

    def expand_failing(why: str) -> None:
        started = time.monotonic()
        try:
            with pytest.raises(OperationalError, match="lock timeout") as failed:
                upgrade(url, "expand@head")
        finally:
            holder.rollback()
        print(f"\n{why}: expand failed after {time.monotonic() - started:.1f} s: "
              f"{str(failed.value.orig).strip()}")  # fmt: skip

    # the DDL cannot get its lock while a transaction has read the table
    holder.execute(text("SELECT count(*) FROM master_recipes"))  # a replica's long transaction
    expand_failing("a reader holds master_recipes")
    assert current_revisions(url) == {"expand_0009", "contract_0001"}
    assert _sql(url, "SELECT count(*) FROM information_schema.columns WHERE column_name = "
                     "'created_by_id'") == [(0,)]  # fmt: skip

    class LockRowFiveAfterTheFirstBatch(logging.Handler):
        """Once the DDL has committed and batch 1 is done, a transaction takes row 5."""

        def emit(self, record: logging.LogRecord) -> None:
            if "backfill: batch 1," in record.getMessage():
                holder.execute(text("SELECT 1 FROM master_recipes WHERE version = 5 FOR UPDATE"))

    locker = LockRowFiveAfterTheFirstBatch()
    logging.getLogger("holon.migrations").addHandler(locker)
    try:
        with caplog.at_level(logging.INFO, logger="holon.migrations"):
            expand_failing("a transaction holds the row of batch 3")
    finally:
        logging.getLogger("holon.migrations").removeHandler(locker)
    assert "batch 2, 2 rows (ids 3..4)" in caplog.text  # committed before the wait
    assert "batch 3" not in caplog.text
    assert current_revisions(url) == {"expand_0009", "contract_0001"}
    assert _sql(url, "SELECT count(created_by_id) FROM master_recipes") == [(4,)]

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="holon.migrations"):
        upgrade(url, "expand@head")  # run again: it completes where it stopped
    assert "done, 1 rows in 1 batches" in caplog.text
    assert current_revisions(url) == {EXPAND_HEAD, "contract_0001"}
    assert _sql(url, "SELECT count(created_by_id) FROM master_recipes") == [(5,)]
    holder.close()
    engine.dispose()
