"""A change and its journal entry commit together or not at all (issue #8 item 1, #17 item 2).

For each write that used to commit first and journal afterwards - batch creation, recipe
import, equipment import, user enrolment (API and command line) - a fault is injected with
a real trigger in the real database (SQLite and PostgreSQL), no mock:

- the journal insert is refused: no row of the change may remain (on the main branch before
  this change every one of these tests failed here: the row was committed, then the journal
  write failed, leaving a batch / recipe / module / user the journal never mentions);
- the row insert is refused: no journal entry may remain (these pass on that main branch
  too, where the row was committed first; they keep the order from being turned round,
  entry first and the row after);

then the fault is removed and the same write succeeds, row and entry, so the test is shown
to decide: it is the trigger, not something else, that stopped the write.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib import resources

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mes_runtime.auth.cli import in_database
from mes_runtime.auth.users import enroll_user
from mes_runtime.db.models import MasterRecipe as RecipeRow
from mes_runtime.db.models import User
from mes_runtime.kernel.clock import utcnow
from mes_runtime.library import load_template
from mes_runtime.mtp.manifest import write_manifest
from mes_runtime.services.batches import BatchService, NewBatch
from mes_runtime.settings import Settings
from tests.conftest import ApiUser, MakeUser
from tests.mes_runtime.api.test_equipment import _manifest
from tests.mes_runtime.test_library import BINDINGS, CONTRACT

RECIPE = "buffer-prep-only"  # imported through the API
BATCH_RECIPE = "protein-a-capture"  # stored approved, a batch created from it


@contextlib.asynccontextmanager
async def refusing_inserts(engine: AsyncEngine, table: str) -> AsyncIterator[None]:
    """Every INSERT into ``table`` fails (a trigger raises) until the block ends."""
    name = f"uow_fault_{table}"
    async with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql(
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
            )
        else:
            await conn.exec_driver_sql(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'injected fault'; END $$"
            )
            await conn.exec_driver_sql(
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {name}()"
            )
    try:
        yield
    finally:
        async with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                await conn.exec_driver_sql(f"DROP TRIGGER {name}")
            else:
                await conn.exec_driver_sql(f"DROP TRIGGER {name} ON {table}")
                await conn.exec_driver_sql(f"DROP FUNCTION {name}()")


async def _count(engine: AsyncEngine, sql: str, **params: object) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


@dataclass(frozen=True)
class Write:
    """One write under test: what it stores (``table``), how its entry is named."""

    table: str
    action: str
    run: Callable[[], Awaitable[object]]  # raises, or answers with a status, on failure


async def _fails(write: Write) -> None:
    """The write fails: an exception, or an HTTP error (a 5xx from the API's own error
    handler; a 409 where the trigger's error reads as a constraint violation on SQLite)."""
    try:
        answer = await write.run()
    except Exception:
        return
    if isinstance(answer, httpx.Response):
        assert answer.status_code >= 400, answer.text
        return
    raise AssertionError(f"the write succeeded despite the fault: {answer!r}")


async def _succeeds(write: Write) -> None:
    answer = await write.run()
    if isinstance(answer, httpx.Response):
        assert answer.status_code == 201, answer.text


@pytest.fixture
async def writes(
    app: FastAPI, client: httpx.AsyncClient, admin: ApiUser, make_user: MakeUser, settings: Settings
) -> dict[str, Write]:
    supervisor = await make_user("supervisor")
    batch_recipe = load_template(BATCH_RECIPE)  # stored approved: imports are drafts
    async with app.state.session_factory() as session, session.begin():
        session.add(
            RecipeRow(
                name=BATCH_RECIPE,
                version=batch_recipe.header.version,
                status="approved",
                body=batch_recipe.to_canonical_data(),
                digest=batch_recipe.digest(),
                created_by="author",
                created_at=utcnow(),
                approved_by="qa",
                approved_at=utcnow(),
            )
        )
    batches = BatchService(
        engine=app.state.batch_engine,
        journal=app.state.journal,
        sessions=app.state.session_factory,
        available=lambda: CONTRACT,
    )

    async def create_batch() -> object:
        units = {r.unit for r in batch_recipe.equipment}
        bindings = {unit: module for unit, module in BINDINGS.items() if unit in units}
        return await batches.create(
            NewBatch(recipe=BATCH_RECIPE, bindings=bindings, start=False), actor="op"
        )

    async def import_recipe() -> object:
        return await client.post(
            "/api/v1/recipes",
            content=(resources.files("mes_runtime.library") / f"{RECIPE}.yaml").read_text(),
            headers={**supervisor.headers, "Content-Type": "application/yaml"},
        )

    async def import_equipment() -> object:
        return await client.post(
            "/api/v1/equipment",
            content=write_manifest(_manifest("TK-77")),
            headers={**admin.headers, "Content-Type": "application/xml"},
        )

    async def enrol_user() -> object:
        return await client.post(
            "/api/v1/users",
            json={"username": "uow-api", "full_name": "Una Work", "roles": ["admin"]},
            headers=admin.headers,
        )

    async def enrol_at_cli() -> object:
        return await in_database(
            settings,
            lambda session: _enrol(session, "uow-cli"),
            "enrolled with mes-runtime create-user",
        )

    return {
        "batch": Write("batches", "batch.create", create_batch),
        "recipe": Write("master_recipes", "recipe.imported", import_recipe),
        "equipment": Write("equipment", "equipment.imported", import_equipment),
        "user-api": Write("users", "user.created", enrol_user),
        "user-cli": Write("users", "user.created", enrol_at_cli),
    }


async def _enrol(session: AsyncSession, username: str) -> User:
    user, _, _ = await enroll_user(
        session,
        username=username,
        full_name="Cli User",
        roles=["qa"],
        ttl_seconds=600,
    )
    return user


WRITES = ["batch", "recipe", "equipment", "user-api", "user-cli"]


@pytest.mark.parametrize("which", WRITES)
async def test_a_refused_journal_entry_leaves_no_row(
    which: str, writes: dict[str, Write], app: FastAPI
) -> None:
    """Failed on main before this change (the row was committed, then the entry refused)."""
    write, engine = writes[which], app.state.engine
    rows = await _count(engine, f"SELECT count(*) FROM {write.table}")  # noqa: S608
    entries = await _count(engine, "SELECT count(*) FROM journal")
    async with refusing_inserts(engine, "journal"):
        await _fails(write)
    assert await _count(engine, f"SELECT count(*) FROM {write.table}") == rows  # noqa: S608
    assert await _count(engine, "SELECT count(*) FROM journal") == entries

    await _succeeds(write)  # the fault removed, the same write goes through
    assert await _count(engine, f"SELECT count(*) FROM {write.table}") == rows + 1  # noqa: S608
    assert await _count(engine, "SELECT count(*) FROM journal WHERE action = :a", a=write.action)
    assert (await app.state.journal.verify()).ok


@pytest.mark.parametrize("which", WRITES)
async def test_a_refused_row_leaves_no_journal_entry(
    which: str, writes: dict[str, Write], app: FastAPI
) -> None:
    """Passes on main too (the row was written first there); keeps the order from turning
    round: an entry for a change that was never stored."""
    write, engine = writes[which], app.state.engine
    rows = await _count(engine, f"SELECT count(*) FROM {write.table}")  # noqa: S608
    entries = await _count(engine, "SELECT count(*) FROM journal")
    async with refusing_inserts(engine, write.table):
        await _fails(write)
    assert await _count(engine, "SELECT count(*) FROM journal") == entries
    assert await _count(engine, f"SELECT count(*) FROM {write.table}") == rows  # noqa: S608

    await _succeeds(write)
    assert await _count(engine, f"SELECT count(*) FROM {write.table}") == rows + 1  # noqa: S608
    assert await _count(engine, "SELECT count(*) FROM journal") > entries
    assert (await app.state.journal.verify()).ok


@pytest.mark.parametrize("earlier_failures", [0, 4], ids=["counted", "locking"])
async def test_a_refused_journal_entry_leaves_a_failed_login_uncounted(
    earlier_failures: int, app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """A failed login is counted (and, the fifth in a row, locks the account) in the
    transaction that journals it: with the entry refused, neither the count nor the lock
    remains. Failed on main before this change (the count and the lock were committed,
    then ``auth.login_failed`` and ``auth.locked`` were refused)."""
    user, engine = await make_user("operator"), app.state.engine
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET failed_attempts = :n WHERE username = :u"),
            {"n": earlier_failures, "u": user.username},
        )
    wrong = {"username": user.username, "password": "not-the-password-at-all"}
    state = "SELECT failed_attempts, locked_until FROM users WHERE username = :u"

    async def login() -> object:
        return await client.post("/api/v1/auth/token", json=wrong)

    async with refusing_inserts(engine, "journal"):
        await _fails(Write("users", "auth.login_failed", login))
    async with engine.connect() as conn:
        row = (await conn.execute(text(state), {"u": user.username})).one()
    assert (row.failed_attempts, row.locked_until) == (earlier_failures, None)

    answer = await login()  # the fault removed: counted, journalled (and locked)
    assert answer.status_code == (429 if earlier_failures == 4 else 401), answer.text
    async with engine.connect() as conn:
        row = (await conn.execute(text(state), {"u": user.username})).one()
    assert row.failed_attempts == earlier_failures + 1
    assert (row.locked_until is not None) == (earlier_failures == 4)
    locks = await _count(engine, "SELECT count(*) FROM journal WHERE action = 'auth.locked'")
    assert locks == (1 if earlier_failures == 4 else 0)
