"""Initial contract revision: nothing to remove yet.

The contract branch exists from day one so that the first destructive change (dropping a
column the previous version still reads) has an obvious home, applied only after every old
instance is gone (DESIGN §5). It depends on the expand base.

Revision ID: contract_0001
Revises: (base of the contract branch; depends on expand_0001)
Create Date: 2026-11-21 22:02:27.536145+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "contract_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("contract",)
depends_on: str | Sequence[str] | None = "expand_0001"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
