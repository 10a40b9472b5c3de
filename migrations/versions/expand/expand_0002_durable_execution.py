"""Durable execution (expand): ``batch_runs`` (owner, fencing epoch, lease, SFC position)
and the resume columns of ``batch_elements``.

Additive only: new table, new nullable or defaulted columns, so the previous runtime
version keeps working on the migrated schema.

Revision ID: expand_0002
Revises: expand_0001
Create Date: 2026-11-30 06:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "expand_0002"
down_revision: str | Sequence[str] | None = "expand_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "batch_runs",
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("graph", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_batch_runs_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_batch_runs")),
    )
    with op.batch_alter_table("batch_elements", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("procedure_started", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("lost_connection", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("executing_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_command", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("command_outcome", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batch_elements", schema=None) as batch_op:
        batch_op.drop_column("command_outcome")
        batch_op.drop_column("last_command")
        batch_op.drop_column("executing_since")
        batch_op.drop_column("lost_connection")
        batch_op.drop_column("procedure_started")
    op.drop_table("batch_runs")
