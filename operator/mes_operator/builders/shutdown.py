"""Graceful-shutdown timing of the runtime Pods, shared by the ConfigMap and the Deployment.

On SIGTERM the runtime drains for HOLON_DRAIN_SECONDS (``/readyz`` fails, responses say
``Connection: close``, it keeps serving while kube-proxy removes the Pod from the Service)
and, meanwhile, waits at most HOLON_SAFE_POINT_WAIT_SECONDS for a safe point of the batches
it owns (no phase its recipe marks as not interruptible running; ``spec.upgradeStrategy.
podSafePointWaitSeconds``, not the switch's ``safePointTimeoutSeconds``, so holding an
orchestrated switch longer never rolls a Pod). Then it gives
in-flight requests HOLON_SHUTDOWN_TIMEOUT_SECONDS before its own shutdown (the hand-over of
its batches, equipment sessions, database). The kubelet must not SIGKILL it before all of
that is over, so the Pod's ``terminationGracePeriodSeconds`` is the sum plus a margin (the
drain and the wait overlap; the sum is the safe bound).

The operator writes these runtime settings into the ConfigMap rather than trusting the
image's defaults: the grace period is computed here, so the numbers cannot disagree even
when a future runtime version changes its defaults.
"""

from __future__ import annotations

from mes_operator.models.mesmodule import MESModuleSpec

__all__ = [
    "DRAIN_SECONDS",
    "SHUTDOWN_MARGIN_SECONDS",
    "SHUTDOWN_TIMEOUT_SECONDS",
    "safe_point_wait_seconds",
    "termination_grace_period_seconds",
]

DRAIN_SECONDS = 5
"""Serving on, unready, after SIGTERM: kube-proxy's time to drop the Pod's endpoint."""
SHUTDOWN_TIMEOUT_SECONDS = 20
"""Time in-flight requests get once the runtime stops accepting connections."""
SHUTDOWN_MARGIN_SECONDS = 5
"""The application's own shutdown (hand-over, equipment sessions closed, database disposed)."""


def safe_point_wait_seconds(spec: MESModuleSpec) -> int:
    """How long a stopping runtime Pod waits for a safe point before it hands over anyway."""
    return spec.upgrade_strategy.pod_safe_point_wait_seconds


def termination_grace_period_seconds(spec: MESModuleSpec) -> int:
    """The Pod's ``terminationGracePeriodSeconds``: every part of the shutdown fits in."""
    return (
        DRAIN_SECONDS
        + safe_point_wait_seconds(spec)
        + SHUTDOWN_TIMEOUT_SECONDS
        + SHUTDOWN_MARGIN_SECONDS
    )
