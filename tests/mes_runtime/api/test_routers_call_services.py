"""Routers call application services; they neither write, query nor journal themselves
(issue #17 item 2).

A write and its journal entry are one unit of work in ``mes_runtime/services/`` (see
``mes_runtime/ebr/unit_of_work.py``); a router that committed a row and journalled it after
is how a change without its entry came about. This reads every module of
``mes_runtime/api/`` (AST, no import) and refuses:

- a database call on a session or connection (``session.commit()``, ``session.add(...)``,
  ``session.execute(...)``, ``session.get(...)``, ``session.begin()``, ...); closing or
  rolling back a request's session to release it is allowed;
- a journal write (``journal.append(...)``, ``journal.record(...)``);
- building SQL (``from sqlalchemy import select`` and the like).

There are no exceptions left; one added would be listed in :data:`ALLOWED` with its reason.
The checker itself is shown to decide on a few lines of each kind.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[3] / "mes_runtime" / "api"

DATABASE_CALLS = frozenset(
    {
        "add",
        "add_all",
        "begin",
        "begin_nested",
        "commit",
        "delete",
        "execute",
        "flush",
        "get",
        "merge",
        "refresh",
        "scalar",
        "scalars",
        "stream",
    }
)
JOURNAL_CALLS = frozenset({"append", "record"})
SQL_BUILDERS = frozenset({"select", "insert", "update", "delete", "text", "func"})
#: ``(module, line text)`` -> why it may stay in a router. Empty: none remain.
ALLOWED: dict[tuple[str, str], str] = {}


def _receiver(node: ast.expr) -> str:
    """The last name of a call's receiver: ``session`` for ``self.session.add``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def violations(source: str) -> list[tuple[int, str]]:
    """``(line, what)`` for each write, query or journal call, or SQL import, in ``source``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver, method = _receiver(node.func.value).lower(), node.func.attr
            if receiver.endswith(("session", "conn", "connection")) and method in DATABASE_CALLS:
                found.append((node.lineno, f"{receiver}.{method}()"))
            if receiver.endswith("journal") and method in JOURNAL_CALLS:
                found.append((node.lineno, f"{receiver}.{method}()"))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            built = sorted(a.name for a in node.names if a.name in SQL_BUILDERS)
            if built:
                found.append((node.lineno, f"from {node.module} import {', '.join(built)}"))
    return found


def test_no_router_writes_queries_or_journals_itself() -> None:
    modules = sorted(API.glob("*.py"))
    assert len(modules) > 10, "the routers were not found"
    problems = []
    for path in modules:
        source = path.read_text()
        lines = source.splitlines()
        for lineno, what in violations(source):
            if (path.name, lines[lineno - 1].strip()) not in ALLOWED:
                problems.append(f"mes_runtime/api/{path.name}:{lineno}: {what}")
    assert not problems, "move these into mes_runtime/services/:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "line",
    [
        "async def f(session):\n    await session.commit()",
        "async def f(session):\n    session.add(row)",
        "async def f(session):\n    await session.execute(query)",
        "async def f(session):\n    await session.get(Batch, batch_id)",
        "async def f(session):\n    async with session.begin():\n        pass",
        "async def f(journal):\n    await journal.append(actor='a', action='b', subject='c')",
        "async def f(request):\n    await request.app.state.journal.append(actor='a')",
        "from sqlalchemy import select",
    ],
)
def test_the_check_finds_each_kind(line: str) -> None:
    assert violations(line)


@pytest.mark.parametrize(
    "line",
    [
        "async def f(session):\n    await session.rollback()\n    await session.close()",
        "async def f(journal):\n    await journal.verify()",
        "from sqlalchemy.exc import DBAPIError",
        "async def f(events):\n    events.append(1)",
    ],
)
def test_the_check_allows_the_rest(line: str) -> None:
    assert not violations(line)
