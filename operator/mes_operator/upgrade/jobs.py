"""The Job each upgrade phase runs, named from the persisted status (pure).

Both the observation (:mod:`.fetch`) and the actions (:mod:`.execute`) go through
:func:`upgrade_job`, so the Job a re-run looks for is the Job an earlier run created.
"""

from __future__ import annotations

from typing import Any

from mes_operator.builders.context import ModuleContext
from mes_operator.builders.upgrade import build_backup_job, build_migration_job
from mes_operator.models.mesmodule import UpgradeStatus
from mes_operator.upgrade.actions import JobKind

__all__ = ["upgrade_job"]


def upgrade_job(ctx: ModuleContext, kind: JobKind, upgrade: UpgradeStatus) -> dict[str, Any]:
    """The manifest of ``kind``'s Job in this upgrade attempt. The backup runs the version
    that serves (it knows the schema it dumps), the migrations the version to come."""
    if kind is JobKind.BACKUP:
        if ctx.spec.backup is None:
            raise ValueError("spec.backup.storeSecret is required for an orchestrated upgrade")
        return build_backup_job(
            ctx, upgrade.from_version, upgrade.attempt, store_secret=ctx.spec.backup.store_secret
        )
    return build_migration_job(ctx, kind.value, upgrade.to_version, upgrade.attempt)
