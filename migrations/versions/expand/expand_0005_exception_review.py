"""Review by exception (expand): exception category, trigger data and both ways to close;
versioned auto-closure rules; a batch's review (rule evaluation, then QA's decision).

New nullable columns on ``exceptions`` (category, trigger, auto-closure rule id, version
and evidence, the closing signature's meaning), and ``auto_closed`` as a third status.
New tables ``closure_rules`` and ``batch_reviews``.
Additive only: the previous runtime writes ``open``/``closed`` and ignores the new columns.

Revision ID: expand_0005
Revises: expand_0004
Create Date: 2026-11-30 09:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "expand_0005"
down_revision: str | Sequence[str] | None = "expand_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "closure_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signature_meaning", sa.String(length=64), nullable=True),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'approved', 'effective', 'retired')",
            name=op.f("ck_closure_rules_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_closure_rules")),
        sa.UniqueConstraint("rule_id", "version", name=op.f("uq_closure_rules_rule_id_version")),
    )
    op.create_table(
        "batch_reviews",
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("signed_by", sa.String(length=64), nullable=True),
        sa.Column("signature_meaning", sa.String(length=64), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "decision IN ('released', 'rejected')", name=op.f("ck_batch_reviews_decision")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_batch_reviews_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_batch_reviews")),
    )
    with op.batch_alter_table("exceptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("trigger", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("rule_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("rule_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("closure_evidence", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("signature_meaning", sa.String(length=64), nullable=True))
        batch_op.drop_constraint(op.f("ck_exceptions_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_exceptions_status"), "status IN ('open', 'auto_closed', 'closed')"
        )


def downgrade() -> None:
    with op.batch_alter_table("exceptions", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_exceptions_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_exceptions_status"), "status IN ('open', 'closed')"
        )
        batch_op.drop_column("signature_meaning")
        batch_op.drop_column("closure_evidence")
        batch_op.drop_column("rule_version")
        batch_op.drop_column("rule_id")
        batch_op.drop_column("trigger")
        batch_op.drop_column("category")
    op.drop_table("batch_reviews")
    op.drop_table("closure_rules")
