"""The SQLite module's data volume: a PersistentVolumeClaim, so that the database (and
with it the electronic batch record) survives Pod replacement, a version change included,
and a runtime restarted on it resumes its running batches.

A PostgreSQL module keeps its data in its server and mounts a scratch ``emptyDir``. The
claim is ReadWriteOnce: SQLite has one writer, admission refuses ``replicas > 1`` with
SQLite, and the Deployment is recreated rather than rolled. It carries no owner reference
on purpose: the EBR is a GMP record, deleting the MESModule must not delete it. It names no
StorageClass: the cluster's default provides the volume (the local test cluster's is
``hack/cluster/volumes.py``); a cluster without one leaves the Pod Pending, which the
module's status shows, rather than keeping the record on scratch storage.
"""

from __future__ import annotations

from typing import Any

from mes_operator.builders.context import ModuleContext, labels
from mes_operator.models.mesmodule import DatabaseEngine

DATA_CLAIM_SIZE = "1Gi"


def data_claim_name(ctx: ModuleContext) -> str:
    """Name of the SQLite module's data claim."""
    return f"{ctx.name}-data"


def uses_data_claim(ctx: ModuleContext) -> bool:
    """Whether the module's data lives on a PersistentVolumeClaim."""
    return ctx.spec.database.engine is DatabaseEngine.SQLITE


def build_data_claim(ctx: ModuleContext) -> dict[str, Any] | None:
    """The PersistentVolumeClaim of a SQLite module, or ``None`` when it has none."""
    if not uses_data_claim(ctx):
        return None
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": data_claim_name(ctx),
            "namespace": ctx.namespace,
            "labels": labels(ctx),
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": DATA_CLAIM_SIZE}},
        },
    }


def data_volume(ctx: ModuleContext) -> dict[str, Any]:
    """The Pod's ``data`` volume: the claim, or a scratch ``emptyDir``."""
    if uses_data_claim(ctx):
        return {"name": "data", "persistentVolumeClaim": {"claimName": data_claim_name(ctx)}}
    return {"name": "data", "emptyDir": {}}
