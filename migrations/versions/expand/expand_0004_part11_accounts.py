"""Part 11 accounts (expand): printed name, self-set passwords, lockout; rejected recipes.

``users`` gains the printed name a signature manifests, when its password was last set, the
failed-attempt counter and lock, and the one-time set-up token (its sha256); the recipe
status check admits ``rejected`` (a QA signature meaning "rejected"). Additive only: new
nullable or defaulted columns and a wider check, so the previous runtime version keeps
working on the migrated schema.

Revision ID: expand_0004
Revises: expand_0003
Create Date: 2026-11-30 09:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "expand_0004"
down_revision: str | Sequence[str] | None = "expand_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("full_name", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("failed_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("setup_token_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("setup_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("master_recipes", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_master_recipes_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_master_recipes_status"), "status IN ('draft', 'approved', 'rejected')"
        )


def downgrade() -> None:
    with op.batch_alter_table("master_recipes", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_master_recipes_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_master_recipes_status"), "status IN ('draft', 'approved')"
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("setup_expires_at")
        batch_op.drop_column("setup_token_sha256")
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_attempts")
        batch_op.drop_column("password_changed_at")
        batch_op.drop_column("full_name")
