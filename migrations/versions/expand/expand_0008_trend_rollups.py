"""Trends (expand): per-tag rollups of process values, and an index for one tag's range.

New table ``process_value_rollups``: each tag's values per 10-second bucket (min, max, sum,
count), written by the runtime in the same transaction as the values, so a long batch's
trend reads thousands of rows instead of millions. Filled here from the values already
stored. New index ``process_values (batch_id, equipment, name, ts)`` for one tag's raw values
over a short range. Additive only: the previous runtime neither writes nor reads either
(values it stores during an upgrade's overlap are missing from the rollups until the
batch's trend is read raw, i.e. over a short range).

A plain ``CREATE INDEX``: it holds back inserts of process values while it builds (about a
second per million rows here; the runtime keeps what storage refused for the next flush).
``CONCURRENTLY`` would not, but it waits for every open transaction, and the migration
runner's advisory-lock connection (``db.migrate.upgrade``) keeps one open: it never ends.

Revision ID: expand_0008
Revises: expand_0007
Create Date: 2026-11-30 12:40:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "expand_0008"
down_revision: str | Sequence[str] | None = "expand_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_process_values_batch_id_equipment_name_ts"
_SECONDS = 10  # models.ROLLUP_SECONDS when this was written


def upgrade() -> None:
    op.create_table(
        "process_value_rollups",
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("equipment", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("vmin", sa.Float(), nullable=False),
        sa.Column("vmax", sa.Float(), nullable=False),
        sa.Column("vsum", sa.Float(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_process_value_rollups_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "batch_id", "equipment", "name", "bucket", name=op.f("pk_process_value_rollups")
        ),
    )
    op.create_index(_INDEX, "process_values", ["batch_id", "equipment", "name", "ts"])
    if op.get_bind().dialect.name == "sqlite":
        epoch = "CAST((julianday(ts) - 2440587.5) * 86400.0 AS INTEGER)"
    else:
        epoch = "CAST(floor(extract(epoch FROM ts)) AS BIGINT)"
    bucket = f"({epoch} / {_SECONDS}) * {_SECONDS}"
    op.execute(
        "INSERT INTO process_value_rollups "  # noqa: S608 - constant SQL, no input
        "(batch_id, equipment, name, bucket, unit, vmin, vmax, vsum, n) "
        f"SELECT batch_id, equipment, name, {bucket}, max(unit), min(value), max(value), "
        f"sum(value), count(*) FROM process_values GROUP BY batch_id, equipment, name, {bucket}"
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="process_values")
    op.drop_table("process_value_rollups")
