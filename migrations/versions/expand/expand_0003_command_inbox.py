"""Command inbox (expand): ``batch_commands``, batch commands queued by a replica that does
not own the batch, for its owner to apply and answer.

Additive only: a new table, so the previous runtime version keeps working on the migrated
schema (it never reads it).

Revision ID: expand_0003
Revises: expand_0002
Create Date: 2026-11-30 09:40:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "expand_0003"
down_revision: str | Sequence[str] | None = "expand_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "batch_commands",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("command", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_by", sa.String(length=255), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'taken', 'done', 'refused', 'expired')",
            name=op.f("ck_batch_commands_status"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_batch_commands_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_commands")),
    )
    op.create_index(
        op.f("ix_batch_commands_status_batch_id"),
        "batch_commands",
        ["status", "batch_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_batch_commands_status_batch_id"), table_name="batch_commands")
    op.drop_table("batch_commands")
