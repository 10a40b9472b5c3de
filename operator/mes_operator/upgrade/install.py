"""The first install of an orchestrated module: a Job makes its schema before any Pod runs.

Pure. An orchestrated module's Pods never migrate (``HOLON_MIGRATE_ON_START=false``, see
``builders/configmap.py``), so on a fresh database they would refuse to start. Before its
first Deployment exists, the plain reconcile therefore runs ``mes-runtime db upgrade
heads`` as a Job with the module's image at ``spec.version``
(:func:`~mes_operator.builders.upgrade.build_install_job`) and creates the Deployment only
once that Job has succeeded; meanwhile ``Progressing`` says ``MigratingSchema``.

*When*: while ``status.currentVersion`` is unset, i.e. until the module has first been
Ready. A module installed plainly that turns ``orchestrated`` on later has a version, so
its schema is there: only its ConfigMap changes (no Job).

*A failed Job is never retried by the operator*: ``Degraded`` names the Job and how its
Pod ended, with one Warning Event. Kubernetes' own ``backoffLimit`` has already retried the
Pod; another try would meet the same database. Two things start again, both a user's act:
a new ``spec.version`` (a new Job name) or deleting the failed Job (the operator creates
it anew under the same name) - no counter in the status, and a crash never loses track.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mes_operator.builders.context import ModuleContext
from mes_operator.builders.upgrade import INSTALL, MIGRATIONS
from mes_operator.models.mesmodule import MESModuleSpec, MESModuleStatus, Phase
from mes_operator.status.conditions import Observation, condition, dump, merge_conditions
from mes_operator.status.module import DEGRADED, MIGRATION, PROGRESSING, READY
from mes_operator.upgrade.actions import EventType, UpgradeEvent
from mes_operator.upgrade.observation import JobState

__all__ = [
    "MIGRATING_SCHEMA",
    "SCHEMA_MIGRATED",
    "SCHEMA_MIGRATION_FAILED",
    "InstallJob",
    "held_at_install",
    "install_events",
    "install_status",
    "needs_install_job",
]

MIGRATING_SCHEMA = "MigratingSchema"
SCHEMA_MIGRATION_FAILED = "SchemaMigrationFailed"
SCHEMA_MIGRATED = "SchemaMigrated"
_HELD = frozenset({MIGRATING_SCHEMA, SCHEMA_MIGRATION_FAILED})
_KEPT = ("upgrade", "lastEvidence", "currentVersion", "readyReplicas")


def needs_install_job(spec: MESModuleSpec, status: Mapping[str, Any]) -> bool:
    """Whether the schema Job gates this reconcile: an orchestrated module never Ready yet
    (no ``currentVersion``: its Pods have not run, so nothing made its schema)."""
    return spec.upgrade_strategy.orchestrated and status.get("currentVersion") is None


def held_at_install(status: Mapping[str, Any]) -> bool:
    """The last reconcile stopped at the schema gate, so no child but the ServiceAccount
    exists yet (an absent child is a birth then, not a deletion to report as drift)."""
    return condition(status.get("conditions"), PROGRESSING).get("reason") in _HELD


@dataclass(frozen=True, kw_only=True)
class InstallJob:
    """The first install's schema Job, as observed."""

    name: str
    state: JobState
    args: str = f"mes-runtime db upgrade {MIGRATIONS[INSTALL]}"
    failure: str | None = None
    """How its Pod ended (exit code, message), when the Job failed."""

    @property
    def done(self) -> bool:
        """The schema is there: the Deployment may be created."""
        return self.state is JobState.SUCCEEDED


def _observations(ctx: ModuleContext, job: InstallJob) -> list[Observation]:
    if job.state is JobState.FAILED:
        why = (
            f"Job {job.name} ({job.args}, image {ctx.image}) failed: "
            f"{job.failure or 'no Pod left to say why'}; no runtime Pod is started on a "
            f"schema it cannot use. Not retried: delete the Job to run it again, or set a "
            f"new spec.version"
        )
        return [
            Observation(type=READY, status="False", reason=SCHEMA_MIGRATION_FAILED, message=why),
            Observation(
                type=PROGRESSING, status="False", reason=SCHEMA_MIGRATION_FAILED, message=why
            ),
            Observation(type=DEGRADED, status="True", reason=SCHEMA_MIGRATION_FAILED, message=why),
            Observation(
                type=MIGRATION, status="False", reason=SCHEMA_MIGRATION_FAILED, message=why
            ),
        ]
    doing = f"Job {job.name} ({job.args}, image {ctx.image}) makes the schema"
    return [
        Observation(
            type=READY,
            status="False",
            reason=MIGRATING_SCHEMA,
            message=f"{doing}; no runtime Pod starts before it has succeeded",
        ),
        Observation(type=PROGRESSING, status="True", reason=MIGRATING_SCHEMA, message=doing),
        Observation(
            type=DEGRADED, status="False", reason="AsExpected", message="no problem observed"
        ),
        Observation(type=MIGRATION, status="True", reason=MIGRATING_SCHEMA, message=doing),
    ]


def install_status(
    previous: Mapping[str, Any], ctx: ModuleContext, job: InstallJob, *, now: str
) -> dict[str, Any]:
    """The status of a module held at the schema gate (its Job running, absent or failed)."""
    failed = job.state is JobState.FAILED
    status = MESModuleStatus(
        observed_generation=ctx.generation,
        phase=Phase.DEGRADED if failed else Phase.PROGRESSING,
        conditions=merge_conditions(
            previous.get("conditions"),
            _observations(ctx, job),
            generation=ctx.generation,
            now=now,
        ),
        target_version=ctx.spec.version,
        active_colour=ctx.colour,
        replicas=ctx.spec.replicas,
    )
    return {**dump(status), **{key: previous[key] for key in _KEPT if key in previous}}


def install_events(previous: Mapping[str, Any], status: Mapping[str, Any]) -> list[UpgradeEvent]:
    """The Events of a move at the schema gate: once when the Job starts to be waited for,
    once when it failed (the status after, compared with the one before: a timer's
    re-reconcile that changes nothing says nothing)."""
    before = condition(previous.get("conditions"), PROGRESSING)
    after = condition(status.get("conditions"), PROGRESSING)
    if before.get("reason") == after.get("reason"):
        return []
    if after.get("reason") == SCHEMA_MIGRATION_FAILED:
        return [
            UpgradeEvent(
                reason=SCHEMA_MIGRATION_FAILED, message=after["message"], type=EventType.WARNING
            )
        ]
    if after.get("reason") == MIGRATING_SCHEMA:
        return [UpgradeEvent(reason=MIGRATING_SCHEMA, message=after["message"])]
    return []
