"""Which colour owns batches (expand): table ``ownership_grant``.

One row at most. Absent, every replica may own batches (as before). Present, only replicas
of the named colour (``HOLON_COLOUR``, set by the operator on each colour's Deployment)
claim batches; the others hand theirs over and stay warm. An upgrade's switch writes it, so
green owns no batch before the switch and blue none after it. ``upgrade_pending`` tells
the runtime an upgrade waits for a safe point. Additive only: the previous runtime never
reads the table (and so keeps claiming: the operator switches only to a runtime that reads it).

Revision ID: expand_0009
Revises: expand_0008
Create Date: 2026-11-30 16:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "expand_0009"
down_revision: str | Sequence[str] | None = "expand_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ownership_grant",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("colour", sa.String(length=16), nullable=True),
        sa.Column("upgrade_pending", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("changed_by", sa.String(length=128), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_ownership_grant_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ownership_grant")),
    )


def downgrade() -> None:
    op.drop_table("ownership_grant")
