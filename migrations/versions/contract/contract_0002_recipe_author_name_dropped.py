"""A recipe's author by user id (contract): drop ``master_recipes.created_by``.

After the switch no previous version runs, so the author's name column (and the trigger
``expand_0010`` kept it in step with) goes. A last backfill pass first gives an id to any
row written by a previous version that the trigger could not resolve at the time (a name
whose account was created later); rows whose name matches no account keep no author id.
Undoing this revision re-creates the column from the accounts; rolling back past a
contract in production is a restore from the verified backup (DESIGN §5).

Revision ID: contract_0002
Revises: contract_0001
Depends on: expand_0010
Create Date: 2026-11-30 23:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mes_runtime.db.online import backfill_in_batches, bound_waits

revision: str = "contract_0002"
down_revision: str | Sequence[str] | None = "contract_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "expand_0010"


def _columns() -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns("master_recipes")}


def upgrade() -> None:
    bind = op.get_bind()
    bound_waits(bind)
    if "created_by" in _columns():
        with op.get_context().autocommit_block():
            backfill_in_batches(
                op.get_bind(),
                label="contract_0002",
                table="master_recipes",
                pending="created_by_id IS NULL AND created_by IS NOT NULL",
                assign="created_by_id = (SELECT users.id FROM users "
                "WHERE users.username = master_recipes.created_by)",
            )
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS master_recipes_author_in_step ON master_recipes")
        op.execute("DROP FUNCTION IF EXISTS master_recipes_author_in_step()")
        op.execute("ALTER TABLE master_recipes DROP COLUMN IF EXISTS created_by")
        return
    op.execute("DROP TRIGGER IF EXISTS master_recipes_author_in_step")
    if "created_by" in _columns():
        with op.batch_alter_table("master_recipes", schema=None) as batch_op:
            batch_op.drop_column("created_by")


def downgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("master_recipes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE master_recipes SET created_by = (SELECT users.username FROM users "
        "WHERE users.id = master_recipes.created_by_id)"
    )
    if bind.dialect.name == "postgresql":
        op.execute(
            """
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
        )
        op.execute(
            "CREATE TRIGGER master_recipes_author_in_step BEFORE INSERT ON master_recipes "
            "FOR EACH ROW EXECUTE FUNCTION master_recipes_author_in_step()"
        )
        return
    op.execute(
        """
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
    )
