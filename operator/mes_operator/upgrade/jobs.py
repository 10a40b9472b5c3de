"""The Job each upgrade phase runs, named from the persisted status (pure).

Both the observation (:mod:`.fetch`) and the actions (:mod:`.execute`) go through
:func:`upgrade_job`, so the Job a re-run looks for is the Job an earlier run created.
"""

from __future__ import annotations

from typing import Any

from mes_operator.builders.context import ModuleContext
from mes_operator.builders.upgrade import build_backup_job, build_migration_job, build_oq_job
from mes_operator.models.mesmodule import UpgradeStatus
from mes_operator.upgrade.actions import JobKind

__all__ = ["upgrade_job"]


def upgrade_job(ctx: ModuleContext, kind: JobKind, upgrade: UpgradeStatus) -> dict[str, Any]:
    """The manifest of ``kind``'s Job in this upgrade attempt. The backup runs the version
    that serves (it knows the schema it dumps), the migrations and the OQ the version to
    come (the OQ's full set: what changed in a version is not known to the operator, so
    every feature is at risk)."""
    if kind is JobKind.BACKUP:
        if ctx.spec.backup is None:
            raise ValueError("spec.backup.storeSecret is required for an orchestrated upgrade")
        return build_backup_job(
            ctx, upgrade.from_version, upgrade.attempt, store_secret=ctx.spec.backup.store_secret
        )
    if kind is JobKind.OQ:
        reason = (
            f"full set: {upgrade.from_version} -> {upgrade.to_version} on the new slot's "
            f"image ({upgrade.colour.value}), before the switch (what changed in a version is "
            "not known to the operator: every feature is at risk)"
        )
        return build_oq_job(
            ctx, version=upgrade.to_version, scope="full", reason=reason, attempt=upgrade.attempt
        )
    return build_migration_job(ctx, kind.value, upgrade.to_version, upgrade.attempt)
