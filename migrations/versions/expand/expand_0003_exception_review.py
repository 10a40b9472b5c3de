"""Review by exception (expand): exception category, trigger data and both ways to close.

New nullable columns on ``exceptions`` (category, trigger, auto-closure rule id, version
and evidence, the closing signature's meaning), and ``auto_closed`` as a third status.
Additive only: the previous runtime writes ``open``/``closed`` and ignores the new columns.

Revision ID: expand_0003_exception_review
Revises: expand_0002
Create Date: 2026-11-30 09:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "expand_0003_exception_review"
down_revision: str | Sequence[str] | None = "expand_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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
