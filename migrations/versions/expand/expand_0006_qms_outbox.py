"""QMS hand-off (expand): ``qms_outbox``, exception events for the plant's QMS, written in
the transaction that raises or closes the exception and delivered later by a relay.

Additive only: a new table, so the previous runtime version keeps working on the migrated
schema (it never reads it, and raises exceptions without reporting them).

Revision ID: expand_0006
Revises: expand_0005
Create Date: 2026-11-30 12:45:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "expand_0006"
down_revision: str | Sequence[str] | None = "expand_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "qms_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("exception_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_token", sa.String(length=64), nullable=True),
        sa.Column("leased_by", sa.String(length=255), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered')", name=op.f("ck_qms_outbox_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_qms_outbox_event_id")),
    )
    op.create_index(
        op.f("ix_qms_outbox_status_next_attempt_at"),
        "qms_outbox",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_qms_outbox_exception_id"), "qms_outbox", ["exception_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_qms_outbox_exception_id"), table_name="qms_outbox")
    op.drop_index(op.f("ix_qms_outbox_status_next_attempt_at"), table_name="qms_outbox")
    op.drop_table("qms_outbox")
