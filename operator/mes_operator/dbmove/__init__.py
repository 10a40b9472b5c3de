"""Moving a module's database to another PostgreSQL server by logical replication
(issue #10, DESIGN §5 "Blue-green database"; the design is ``docs/database-move.md``).

So far the pure preflight: facts of the two servers in, refusals (each naming what to fix)
or ready out.
"""

from mes_operator.dbmove.preflight import (
    SUPPORTED_MAJOR,
    Blue,
    Green,
    Needs,
    Preflight,
    Server,
    blue_from_api,
    preflight,
)

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
