"""A recipe's author by user id (expand): ``master_recipes.created_by_id``.

``master_recipes.created_by`` held the author's user name, and the segregation of duties
(the author may not approve their own recipe) compared names. The author is a user, so
the reference is now the user's id, a foreign key: the database guarantees it names a real
account, the check compares identities rather than strings, and the name (or the printed
name) is read from the account. The previous version still reads and writes
``created_by``, so this revision only adds, and ``contract_0002`` drops the name column
once no previous version runs.

While both versions run, a trigger keeps the two columns in step on every insert: a row
the previous version writes (name only) gets its ``created_by_id``, a row this version
writes (id only) gets its ``created_by``, so the previous version keeps reading every
recipe. (A trigger rather than writing both columns from the code: the code then never
names the old column, so it works unchanged after ``contract_0002`` drops it, while this
version is still running.) Existing rows are backfilled in batches
(:mod:`mes_runtime.db.online`: 1,000 rows per statement, each its own transaction, under
``lock_timeout``); every step is idempotent, so a run stopped by a lock timeout is simply
run again. On PostgreSQL ``created_by`` stays NOT NULL (the BEFORE INSERT trigger fills it
first); SQLite's triggers run after the row is checked, so there it becomes nullable.

Revision ID: expand_0010
Revises: expand_0009
Create Date: 2026-11-30 23:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mes_runtime.db.online import backfill_in_batches, bound_waits

revision: str = "expand_0010"
FK = "fk_master_recipes_created_by_id_users"
down_revision: str | Sequence[str] | None = "expand_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


PG_FUNCTION = """
CREATE OR REPLACE FUNCTION master_recipes_author_in_step() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.created_by_id IS NULL AND NEW.created_by IS NOT NULL THEN
        SELECT id INTO NEW.created_by_id FROM users WHERE username = NEW.created_by;
    ELSIF NEW.created_by IS NULL AND NEW.created_by_id IS NOT NULL THEN
        SELECT username INTO NEW.created_by FROM users WHERE id = NEW.created_by_id;
    END IF;
    RETURN NEW;
END
$$
"""
PG_TRIGGER = (
    "CREATE TRIGGER master_recipes_author_in_step BEFORE INSERT ON master_recipes "
    "FOR EACH ROW EXECUTE FUNCTION master_recipes_author_in_step()"
)
SQLITE_TRIGGER = """
CREATE TRIGGER master_recipes_author_in_step AFTER INSERT ON master_recipes
BEGIN
    UPDATE master_recipes
       SET created_by_id = (SELECT id FROM users WHERE username = NEW.created_by)
     WHERE id = NEW.id AND NEW.created_by_id IS NULL AND NEW.created_by IS NOT NULL;
    UPDATE master_recipes
       SET created_by = (SELECT username FROM users WHERE id = NEW.created_by_id)
     WHERE id = NEW.id AND NEW.created_by IS NULL AND NEW.created_by_id IS NOT NULL;
END
"""

#: rows still to backfill; the UPDATE makes it false (or leaves a name matching no user)
PENDING = "created_by_id IS NULL AND created_by IS NOT NULL"
ASSIGN = (
    "created_by_id = (SELECT users.id FROM users WHERE users.username = master_recipes.created_by)"
)


def upgrade() -> None:
    bind = op.get_bind()
    bound_waits(bind)
    if bind.dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE master_recipes ADD COLUMN IF NOT EXISTS created_by_id INTEGER "
            "CONSTRAINT fk_master_recipes_created_by_id_users REFERENCES users (id)"
        )
        op.execute(PG_FUNCTION)
        op.execute("DROP TRIGGER IF EXISTS master_recipes_author_in_step ON master_recipes")
        op.execute(PG_TRIGGER)
    else:
        columns = {c["name"] for c in sa.inspect(bind).get_columns("master_recipes")}
        if "created_by_id" not in columns:
            with op.batch_alter_table("master_recipes", schema=None) as batch_op:
                batch_op.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))
                batch_op.create_foreign_key(FK, "users", ["created_by_id"], ["id"])
                batch_op.alter_column(
                    "created_by", existing_type=sa.String(length=64), nullable=True
                )
        op.execute("DROP TRIGGER IF EXISTS master_recipes_author_in_step")
        op.execute(SQLITE_TRIGGER)
    # commit the new column and trigger (rows written from now on are in step), then
    # backfill the rows written before, one committed batch at a time
    with op.get_context().autocommit_block():
        backfill_in_batches(
            op.get_bind(),
            label="expand_0010",
            table="master_recipes",
            pending=PENDING,
            assign=ASSIGN,
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS master_recipes_author_in_step ON master_recipes")
        op.execute("DROP FUNCTION IF EXISTS master_recipes_author_in_step()")
        op.execute("ALTER TABLE master_recipes DROP COLUMN IF EXISTS created_by_id")
        return
    op.execute("DROP TRIGGER IF EXISTS master_recipes_author_in_step")
    with op.batch_alter_table("master_recipes", schema=None) as batch_op:
        batch_op.drop_constraint(FK, type_="foreignkey")
        batch_op.drop_column("created_by_id")
        batch_op.alter_column("created_by", existing_type=sa.String(length=64), nullable=False)
