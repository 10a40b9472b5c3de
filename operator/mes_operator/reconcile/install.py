"""The schema gate of an orchestrated module's first install: its I/O half.

Ensures the ServiceAccount (the Job's Pod runs as it, so it must exist first) and the
schema Job, and observes the Job: by name only (a re-run after a crash finds the Job it
created), and, once it failed, its last Pod's termination (Pods listed by the Job's
``job-name`` label). What that means is decided in :mod:`mes_operator.upgrade.install`.
"""

from __future__ import annotations

from lightkube import AsyncClient

from mes_operator.builders.context import ModuleContext
from mes_operator.builders.serviceaccount import build_service_account
from mes_operator.builders.upgrade import build_install_job
from mes_operator.kube.apply import Applied, ensure, get_dict
from mes_operator.upgrade.fetch import finished_pod
from mes_operator.upgrade.install import InstallJob
from mes_operator.upgrade.observation import JobState
from mes_operator.upgrade.read import job_state, termination

__all__ = ["install_gate"]


async def install_gate(
    client: AsyncClient, ctx: ModuleContext, *, existed_before: bool
) -> tuple[InstallJob, list[Applied]]:
    """The schema Job as it is now, and what it took to get there. A finished Job is left
    as it is (never restarted: a Job's Pods are its own to retry, within backoffLimit)."""
    manifest = build_install_job(ctx)
    name = manifest["metadata"]["name"]
    live = await get_dict(client, "Job", name, ctx.namespace)
    state = job_state(live)
    if state is JobState.SUCCEEDED:
        return InstallJob(name=name, state=state), []
    if state is JobState.FAILED:
        failure = termination(await finished_pod(client, ctx.namespace, name))
        return InstallJob(name=name, state=state, failure=failure), []
    applied = [await ensure(client, build_service_account(ctx), existed_before=existed_before)]
    if live is None:
        applied.append(await ensure(client, manifest, existed_before=False))
    return InstallJob(name=name, state=JobState.RUNNING), applied
