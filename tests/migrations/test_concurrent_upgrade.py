"""Replicas that start together all migrate on start: on PostgreSQL they must take turns.

Without the advisory lock, three concurrent `upgrade heads` (threads here: separate
connections, as separate Pods would have) race on
the same CREATE TABLEs and all but one fail (a crash-looping rollout).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from mes_runtime.db.migrate import applied_revisions, current_revisions, head_revisions, upgrade

pytestmark = pytest.mark.postgres


def test_concurrent_upgrades_of_an_empty_postgres_database_all_succeed(
    empty_pg_url: str,
) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = [pool.submit(upgrade, empty_pg_url) for _ in range(3)]
        errors = [f.exception() for f in results]
    assert errors == [None, None, None]
    assert head_revisions() <= applied_revisions(current_revisions(empty_pg_url))
