"""The preflight of a database move: each refusal with its message (issue #10,
"Guardrails"), all of them at once, and ready when nothing is wrong."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from mes_operator.dbmove import Blue, Green, Needs, Server, blue_from_api, preflight

HEAD = ("contract_0002",)

GOOD = Server(
    major=15,
    wal_level="logical",
    max_replication_slots=10,
    free_replication_slots=10,
    max_wal_senders=10,
    free_wal_senders=10,
    max_logical_replication_workers=4,
    superuser=False,
    replication=True,
)
BLUE = Blue(server=GOOD, can_publish=True, revisions=HEAD, at_heads=True)
GREEN = Green(server=dataclasses.replace(GOOD, major=16), can_subscribe=True)


def _refusals(blue: Blue = BLUE, green: Green = GREEN, **kwargs: Any) -> tuple[str, ...]:
    return preflight(blue, green, **kwargs).refusals


def _blue(**server: Any) -> Blue:
    return dataclasses.replace(BLUE, server=dataclasses.replace(GOOD, **server))


def _green(**server: Any) -> Green:
    assert GREEN.server is not None
    return dataclasses.replace(GREEN, server=dataclasses.replace(GREEN.server, **server))


def test_ready_when_nothing_is_wrong() -> None:
    result = preflight(BLUE, GREEN)
    assert result.ready
    assert result.refusals == ()
    # green at blue's head without rows is as good as empty
    at_head = dataclasses.replace(GREEN, tables=("public.alembic_version",), revisions=HEAD)
    assert preflight(BLUE, at_head).ready


@pytest.mark.parametrize(
    ("blue", "green", "message"),
    [
        (
            _blue(wal_level="replica"),
            GREEN,
            "blue: wal_level is replica; set wal_level=logical and restart the server",
        ),
        (
            BLUE,
            _green(wal_level="minimal"),
            "green: wal_level is minimal; set wal_level=logical and restart the server",
        ),
        (
            _blue(max_replication_slots=4, free_replication_slots=2),
            GREEN,
            "blue: 2 free of max_replication_slots=4, the move needs 3 free; "
            "raise max_replication_slots and restart the server",
        ),
        (
            _blue(max_wal_senders=3, free_wal_senders=1),
            GREEN,
            "blue: 1 free of max_wal_senders=3, the move needs 3 free; "
            "raise max_wal_senders and restart the server",
        ),
        (
            BLUE,
            _green(max_replication_slots=0, free_replication_slots=0),
            "green: 0 free of max_replication_slots=0, the move needs 1 free; "
            "raise max_replication_slots and restart the server",
        ),
        (
            BLUE,
            _green(max_wal_senders=0, free_wal_senders=0),
            "green: 0 free of max_wal_senders=0, the move needs 1 free; "
            "raise max_wal_senders and restart the server",
        ),
        (
            BLUE,
            _green(max_logical_replication_workers=2),
            "green: max_logical_replication_workers=2, the move needs 3 free; "
            "raise max_logical_replication_workers and restart the server",
        ),
        (
            _blue(max_logical_replication_workers=0),
            GREEN,
            "blue: max_logical_replication_workers=0, the move needs 1 free; "
            "raise max_logical_replication_workers and restart the server",
        ),
        (
            dataclasses.replace(BLUE, without_identity=("public.x",)),
            GREEN,
            "blue: table public.x has no primary key or replica identity; add a primary key "
            "or ALTER TABLE public.x REPLICA IDENTITY FULL",
        ),
        (
            dataclasses.replace(BLUE, unlogged=("public.scratch",)),
            GREEN,
            "blue: table public.scratch is unlogged and would not be copied; "
            "ALTER TABLE public.scratch SET LOGGED",
        ),
        (
            dataclasses.replace(BLUE, can_publish=False, not_owned=("public.a", "public.b")),
            GREEN,
            "blue: the module's role may not create the publication (it does not own "
            "public.a, public.b); make it the owner of every table and grant it CREATE on "
            "the database, or use a superuser",
        ),
        (
            dataclasses.replace(BLUE, can_publish=False),
            GREEN,
            "blue: the module's role may not create the publication; make it the owner of "
            "every table and grant it CREATE on the database, or use a superuser",
        ),
        (
            _blue(replication=False),
            GREEN,
            "blue: the module's role may not stream changes to green; "
            "ALTER ROLE ... REPLICATION (green's subscription connects as it)",
        ),
        (
            dataclasses.replace(BLUE, at_heads=False, revisions=("expand_0011",)),
            GREEN,
            "blue: the schema is not at this version's heads (found expand_0011); a migration "
            "is pending or in progress: finish the upgrade first",
        ),
        (
            BLUE,
            Green(problem="OperationalError: connection refused"),
            "green: not reachable (OperationalError: connection refused); check the target "
            "credentials Secret, the server and the network",
        ),
        (
            BLUE,
            dataclasses.replace(GREEN, can_subscribe=False),
            "green: the role may not CREATE SUBSCRIPTION; use a superuser, or from "
            "PostgreSQL 16 GRANT pg_create_subscription and CREATE on the database",
        ),
        (
            BLUE,
            dataclasses.replace(GREEN, tables=("public.journal",), revisions=("expand_0005",)),
            "green: not empty and not at schema head contract_0002 (found expand_0005); "
            "give an empty database",
        ),
        (
            BLUE,
            dataclasses.replace(GREEN, tables=("public.other",)),
            "green: not empty and not at schema head contract_0002 (found no revisions); "
            "give an empty database",
        ),
        (
            BLUE,
            dataclasses.replace(
                GREEN,
                tables=("public.journal",),
                revisions=HEAD,
                tables_with_rows=("public.journal", "public.users"),
            ),
            "green: at the schema head but public.journal, public.users hold rows; the "
            "initial copy needs empty tables: give an empty database",
        ),
        (
            BLUE,
            _green(major=13),
            "versions: green 13 is below the supported 14",
        ),
        (
            _blue(major=12),
            _green(major=15),
            "versions: blue 12 is below the supported 14",
        ),
        (
            _blue(major=16),
            _green(major=15),
            "versions: green 15 is older than blue 16; a move goes to the same or a newer major",
        ),
    ],
)
def test_each_refusal_names_what_to_fix(blue: Blue, green: Green, message: str) -> None:
    assert _refusals(blue, green) == (message,)


def test_an_upgrade_in_progress_is_refused() -> None:
    assert _refusals(upgrade_phase="ExpandMigration") == (
        "upgrade: an upgrade is in progress (phase ExpandMigration); "
        "the move starts once it has finished",
    )


def test_a_superuser_needs_no_replication_attribute() -> None:
    assert preflight(_blue(replication=False, superuser=True), GREEN).ready


def test_more_sync_workers_need_more_slots() -> None:
    needs = Needs(sync_workers=4)
    assert needs.blue_slots == needs.blue_senders == needs.green_workers == 5
    refusals = _refusals(needs=needs)
    assert "blue: 10 free of" not in " ".join(refusals)
    assert refusals == (
        "green: max_logical_replication_workers=4, the move needs 5 free; "
        "raise max_logical_replication_workers and restart the server",
    )


def test_every_refusal_at_once() -> None:
    blue = dataclasses.replace(
        _blue(wal_level="replica", major=13), without_identity=("public.a", "public.b")
    )
    refusals = _refusals(blue, Green(problem="timeout"), upgrade_phase="Switch")
    assert [r.split(":")[0] for r in refusals] == [
        "upgrade", "versions", "blue", "blue", "blue", "green",
    ]  # fmt: skip


def test_blue_from_the_runtime_answer() -> None:
    body = {
        "server": {
            "database": "mes", "versionNum": 150018, "version": "15.18", "major": 15,
            "walLevel": "replica", "maxReplicationSlots": 10, "freeReplicationSlots": 9,
            "maxWalSenders": 10, "freeWalSenders": 10, "maxLogicalReplicationWorkers": 4,
            "superuser": False, "replication": True, "createOnDatabase": True,
        },
        "tables": {
            "tables": ["public.journal", "public.x"], "withoutIdentity": ["public.x"],
            "unlogged": [], "notOwned": [], "sequences": [],
        },
        "canPublish": True, "revisions": ["contract_0002"], "heads": ["contract_0002"],
        "atHeads": True, "journalHead": 7, "databaseBytes": 1, "publications": [],
    }  # fmt: skip
    blue = blue_from_api(body)
    assert blue.server.free_replication_slots == 9
    assert blue.without_identity == ("public.x",)
    assert _refusals(blue) == (
        "blue: wal_level is replica; set wal_level=logical and restart the server",
        "blue: table public.x has no primary key or replica identity; add a primary key "
        "or ALTER TABLE public.x REPLICA IDENTITY FULL",
    )
