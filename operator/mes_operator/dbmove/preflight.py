"""Whether a database move may start: the facts of both servers in, refusals or ready out.

Pure (no I/O): the facts of blue (the module's database) come from the runtime's
``GET /api/v1/upgrade/database-move`` (:func:`blue_from_api`), those of green (the target)
from an inspection of the target URL (``mes_runtime.services.database_move.green_facts``,
where it runs is an open decision of ``docs/database-move.md``). Each refusal is one
sentence that starts with the side it concerns (``blue:``, ``green:``, ``versions:``,
``upgrade:``) and names what to fix; all refusals are given at once, so a user fixes them
in one round.

What is checked, and why:

- ``wal_level=logical`` on blue (it publishes) and on green (it publishes back during the
  observe window: reverse replication keeps blue current so a rollback loses nothing);
- free replication slots and WAL senders: on blue one for the subscription and one per
  table-sync worker of the initial copy; on green one for the reverse subscription (it does
  not copy); logical replication workers on green for the apply and sync workers;
- every table of blue has a primary key or a replica identity (else updates and deletes
  cannot be replicated) and is logged (unlogged tables are never replicated);
- blue's role may publish every table and may be connected to for replication; green's
  role may create the subscription;
- green is empty (our migrations then make its schema) or at blue's schema revisions
  without rows (the initial copy needs empty tables);
- both majors are supported, green's no older than blue's;
- blue's schema is at the runtime's heads and no upgrade is in progress.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SUPPORTED_MAJOR",
    "Blue",
    "Green",
    "Needs",
    "Preflight",
    "Server",
    "blue_from_api",
    "preflight",
]

#: The oldest PostgreSQL major a move starts from or goes to.
SUPPORTED_MAJOR = 14


@dataclass(frozen=True, slots=True, kw_only=True)
class Server:
    """One server as logical replication sees it (from the connecting role)."""

    major: int
    wal_level: str
    max_replication_slots: int
    free_replication_slots: int
    max_wal_senders: int
    free_wal_senders: int
    max_logical_replication_workers: int
    superuser: bool
    replication: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Blue:
    """The module's database: it publishes."""

    server: Server
    without_identity: tuple[str, ...] = ()
    unlogged: tuple[str, ...] = ()
    not_owned: tuple[str, ...] = ()
    can_publish: bool
    revisions: tuple[str, ...]
    at_heads: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Green:
    """The target: it subscribes. ``server`` is None when it could not be reached."""

    problem: str | None = None
    server: Server | None = None
    can_subscribe: bool = False
    tables: tuple[str, ...] = ()
    revisions: tuple[str, ...] = ()
    tables_with_rows: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Needs:
    """What the move takes from each server (PostgreSQL's defaults behind the numbers)."""

    sync_workers: int = 2  # max_sync_workers_per_subscription: parallel table copies
    minimum_major: int = SUPPORTED_MAJOR

    @property
    def blue_slots(self) -> int:
        """The subscription's slot and one per table-sync worker."""
        return 1 + self.sync_workers

    @property
    def blue_senders(self) -> int:
        return 1 + self.sync_workers

    @property
    def green_slots(self) -> int:
        """The reverse subscription's slot (it does not copy: no sync workers)."""
        return 1

    @property
    def green_senders(self) -> int:
        return 1

    @property
    def green_workers(self) -> int:
        """The apply worker and the sync workers of the initial copy."""
        return 1 + self.sync_workers

    @property
    def blue_workers(self) -> int:
        """The reverse subscription's apply worker."""
        return 1


@dataclass(frozen=True, slots=True)
class Preflight:
    """Ready when nothing is refused."""

    refusals: tuple[str, ...] = field(default=())

    @property
    def ready(self) -> bool:
        return not self.refusals


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _restart(side: str, setting: str, value: int, need: int, free: int | None = None) -> str:
    have = f"{setting}={value}" if free is None else f"{free} free of {setting}={value}"
    return f"{side}: {have}, the move needs {need} free; raise {setting} and restart the server"


def _capacity(side: str, s: Server, *, slots: int, senders: int, workers: int) -> list[str]:
    found = []
    if s.wal_level != "logical":
        found.append(
            f"{side}: wal_level is {s.wal_level}; set wal_level=logical and restart the server"
        )
    if s.free_replication_slots < slots:
        found.append(
            _restart(side, "max_replication_slots", s.max_replication_slots, slots,
                     s.free_replication_slots)
        )  # fmt: skip
    if s.free_wal_senders < senders:
        found.append(
            _restart(side, "max_wal_senders", s.max_wal_senders, senders, s.free_wal_senders)
        )
    if s.max_logical_replication_workers < workers:
        found.append(
            _restart(side, "max_logical_replication_workers", s.max_logical_replication_workers,
                     workers)
        )  # fmt: skip
    return found


def _blue(blue: Blue, needs: Needs) -> list[str]:
    found = _capacity(
        "blue",
        blue.server,
        slots=needs.blue_slots,
        senders=needs.blue_senders,
        workers=needs.blue_workers,
    )
    found += [
        f"blue: table {t} has no primary key or replica identity; add a primary key or "
        f"ALTER TABLE {t} REPLICA IDENTITY FULL"
        for t in blue.without_identity
    ]
    found += [
        f"blue: table {t} is unlogged and would not be copied; ALTER TABLE {t} SET LOGGED"
        for t in blue.unlogged
    ]
    if not blue.can_publish:
        owned = f" (it does not own {', '.join(blue.not_owned)})" if blue.not_owned else ""
        found.append(
            f"blue: the module's role may not create the publication{owned}; make it the "
            "owner of every table and grant it CREATE on the database, or use a superuser"
        )
    if not (blue.server.replication or blue.server.superuser):
        found.append(
            "blue: the module's role may not stream changes to green; "
            "ALTER ROLE ... REPLICATION (green's subscription connects as it)"
        )
    if not blue.at_heads:
        found.append(
            f"blue: the schema is not at this version's heads (found {_revs(blue.revisions)}); "
            "a migration is pending or in progress: finish the upgrade first"
        )
    return found


def _revs(revisions: Sequence[str]) -> str:
    return ", ".join(revisions) if revisions else "no revisions"


def _green(green: Green, blue: Blue, needs: Needs) -> list[str]:
    if green.server is None:
        return [
            f"green: not reachable ({green.problem or 'no answer'}); check the target "
            "credentials Secret, the server and the network"
        ]
    found = _capacity(
        "green",
        green.server,
        slots=needs.green_slots,
        senders=needs.green_senders,
        workers=needs.green_workers,
    )
    if not green.can_subscribe:
        found.append(
            "green: the role may not CREATE SUBSCRIPTION; use a superuser, or from "
            "PostgreSQL 16 GRANT pg_create_subscription and CREATE on the database"
        )
    if green.tables and green.revisions != blue.revisions:
        found.append(
            f"green: not empty and not at schema head {_revs(blue.revisions)} "
            f"(found {_revs(green.revisions)}); give an empty database"
        )
    elif green.tables_with_rows:
        found.append(
            f"green: at the schema head but {', '.join(green.tables_with_rows)} hold rows; "
            "the initial copy needs empty tables: give an empty database"
        )
    return found


def _versions(blue: Blue, green: Green, needs: Needs) -> list[str]:
    found = [
        f"versions: {side} {s.major} is below the supported {needs.minimum_major}"
        for side, s in (("blue", blue.server), ("green", green.server))
        if s is not None and s.major < needs.minimum_major
    ]
    if green.server is not None and needs.minimum_major <= green.server.major < blue.server.major:
        found.append(
            f"versions: green {green.server.major} is older than blue {blue.server.major}; "
            "a move goes to the same or a newer major"
        )
    return found


def preflight(
    blue: Blue, green: Green, *, needs: Needs | None = None, upgrade_phase: str | None = None
) -> Preflight:
    """Every reason the move may not start now (none: ready). ``upgrade_phase``: the phase
    of an upgrade in progress on the module (a move waits for it)."""
    needs = needs or Needs()
    refusals: list[str] = []
    if upgrade_phase is not None:
        refusals.append(
            f"upgrade: an upgrade is in progress (phase {upgrade_phase}); "
            "the move starts once it has finished"
        )
    refusals += _versions(blue, green, needs)
    refusals += _blue(blue, needs)
    refusals += _green(green, blue, needs)
    return Preflight(refusals=tuple(refusals))


def _server(body: Mapping[str, Any]) -> Server:
    return Server(
        major=int(body["major"]),
        wal_level=str(body["walLevel"]),
        max_replication_slots=int(body["maxReplicationSlots"]),
        free_replication_slots=int(body["freeReplicationSlots"]),
        max_wal_senders=int(body["maxWalSenders"]),
        free_wal_senders=int(body["freeWalSenders"]),
        max_logical_replication_workers=int(body["maxLogicalReplicationWorkers"]),
        superuser=bool(body["superuser"]),
        replication=bool(body["replication"]),
    )


def blue_from_api(body: Mapping[str, Any]) -> Blue:
    """Blue's facts from the runtime's ``GET /api/v1/upgrade/database-move`` answer."""
    tables = body["tables"]
    return Blue(
        server=_server(body["server"]),
        without_identity=tuple(tables["withoutIdentity"]),
        unlogged=tuple(tables["unlogged"]),
        not_owned=tuple(tables["notOwned"]),
        can_publish=bool(body["canPublish"]),
        revisions=tuple(body["revisions"]),
        at_heads=bool(body["atHeads"]),
    )
