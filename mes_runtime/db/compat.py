"""Whether this version of the runtime can work on the database's schema as it stands.

Schema changes come in two alembic branches (DESIGN §5): ``expand`` only adds (tables,
nullable columns, indexes), so old and new versions run side by side on it; ``contract``
removes what only old versions used, after the switch. Hence a runtime

* needs at least its own expand head (otherwise a table or column it uses is missing);
* tolerates a *newer* expand head (a later version expanded ahead of its upgrade);
* tolerates the contract revisions it ships, and refuses one it does not know: a later
  version has contracted away something this one may still use.

The verdict is pure (:func:`schema_problem`) over the revisions alembic stores (its
``alembic_version`` rows: one tip per branch) and the revisions this version ships;
:func:`check_schema` reads the rows.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection

from mes_runtime.db.migrate import (
    applied_revisions,
    current_revisions,
    current_revisions_of,
    head_revisions,
    known_revisions,
)

__all__ = [
    "CONTRACT",
    "EXPAND",
    "SchemaMismatch",
    "check_schema",
    "is_up_to_date",
    "problem_with",
    "schema_problem",
]

EXPAND = "expand"
CONTRACT = "contract"


class SchemaMismatch(RuntimeError):
    """The database's schema is one this version cannot work with (the message says why);
    ``too_old`` when migrating forward would fix it."""

    def __init__(self, message: str, *, too_old: bool) -> None:
        super().__init__(message)
        self.too_old = too_old


def _branch(revision: str) -> str | None:
    """The branch a revision id belongs to (``expand_0003`` -> ``expand``), by our naming."""
    for branch in (EXPAND, CONTRACT):
        if revision.startswith(f"{branch}_"):
            return branch
    return None


def schema_problem(
    stored: Collection[str],
    *,
    shipped: Collection[str],
    applied: Collection[str],
    expand_head: str,
    contract_head: str,
) -> str | None:
    """Why this version cannot run on the schema, or ``None`` when it can.

    ``stored``: the tips alembic records; ``shipped``: every revision this version carries;
    ``applied``: the shipped revisions implied by the known tips (ancestors included);
    ``expand_head``/``contract_head``: this version's branch heads.
    """
    found = ", ".join(sorted(stored)) or "an empty database"
    unknown = sorted(r for r in stored if r not in shipped)
    too_new = [r for r in unknown if _branch(r) != EXPAND]
    if too_new:
        return (
            f"schema too new: found {found}; {', '.join(too_new)} is a later version's "
            f"contract (or unknown) migration, and this version tolerates contract revisions "
            f"up to {contract_head} only; run the version that applied it, or restore"
        )
    newer_expand = any(_branch(r) == EXPAND for r in unknown)  # builds on every shipped one
    if not newer_expand and expand_head not in applied:
        return (
            f"schema too old: found {found}; this version needs the expand migration "
            f"{expand_head} (run `mes-runtime db upgrade`, or let the operator's expand "
            "Job finish)"
        )
    return None


def problem_with(stored: set[str]) -> str | None:
    """:func:`schema_problem` of the tips alembic stores, against what this version ships
    (never raises on a revision it does not know: that is a verdict, not an error)."""
    shipped = known_revisions()
    heads = {_branch(head): head for head in head_revisions()}
    return schema_problem(
        stored,
        shipped=shipped,
        applied=applied_revisions(stored & shipped),
        expand_head=heads[EXPAND],
        contract_head=heads[CONTRACT],
    )


def check_schema(url: str) -> None:
    """Raise :class:`SchemaMismatch` if the database at ``url`` does not fit this version."""
    problem = problem_with(current_revisions(url))
    if problem is not None:
        raise SchemaMismatch(problem, too_old=problem.startswith("schema too old"))


def is_up_to_date(connection: Connection) -> bool:
    """True when this version can work on the schema (``/readyz``): the start-up verdict,
    so a replica stays ready while a later version's expand has run (an unknown expand
    revision is no error) and before this version's contract has run (green serves on the
    expanded schema until the switch)."""
    return problem_with(current_revisions_of(connection)) is None
