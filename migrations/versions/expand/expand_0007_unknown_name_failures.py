"""Failed authentications of names that match no user (expand): table ``auth_failures``.

Unknown user names are counted and locked like accounts, so that lockout answers do not
tell which names exist. Keyed by the SHA-256 of the presented name (the typed text, which
may be a password typed into the wrong field, is not stored); no user is created.
Additive only: the previous runtime never reads the table.

Revision ID: expand_0007
Revises: expand_0006
Create Date: 2026-11-30 12:45:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "expand_0007"
down_revision: str | Sequence[str] | None = "expand_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_failures",
        sa.Column("name_sha256", sa.String(length=64), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name_sha256", name=op.f("pk_auth_failures")),
    )
    op.create_index(
        op.f("ix_auth_failures_last_failed_at"), "auth_failures", ["last_failed_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_auth_failures_last_failed_at"), table_name="auth_failures")
    op.drop_table("auth_failures")
