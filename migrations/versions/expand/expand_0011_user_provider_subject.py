"""Users of the identity provider bound by issuer and subject (expand): ``users.provider_subject``.

A user who signs in through the plant's OpenID Connect provider was matched to a user
record by name alone, so a provider account named like a local one (the bootstrap
``admin``) acted as that record: two people, one name in the journal. The record now keeps
the provider's issuer and subject (``"<issuer> <subject>"``, unique); a sign-in matches
that, and a name held by a local account or by another provider account is refused. The
previous version never reads the column (it has no provider sign-in to bind), so this
revision only adds it; nothing to contract.

Revision ID: expand_0011
Revises: expand_0010
Create Date: 2026-12-01 23:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mes_runtime.db.online import bound_waits

revision: str = "expand_0011"
down_revision: str | Sequence[str] | None = "expand_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
INDEX = "ix_users_provider_subject"


def upgrade() -> None:
    # a plain ADD COLUMN and a unique index: SQLite's batch mode would copy ``users`` and
    # break expand_0010's trigger, which names it. Like every expand, safe to run again
    # (after a failure past its DDL, or a revision stamped back)
    bind = op.get_bind()
    bound_waits(bind)
    users = sa.inspect(bind)
    if "provider_subject" not in {c["name"] for c in users.get_columns("users")}:
        op.add_column("users", sa.Column("provider_subject", sa.String(length=512), nullable=True))
    if INDEX not in {i["name"] for i in users.get_indexes("users")}:
        op.create_index(INDEX, "users", ["provider_subject"], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("provider_subject")
