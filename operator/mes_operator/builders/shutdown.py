"""Graceful-shutdown timing of the runtime Pods, shared by the ConfigMap and the Deployment.

On SIGTERM the runtime drains for HOLON_DRAIN_SECONDS (``/readyz`` fails, responses say
``Connection: close``, it keeps serving while kube-proxy removes the Pod from the Service),
then gives in-flight requests HOLON_SHUTDOWN_TIMEOUT_SECONDS before its own shutdown
(equipment sessions, database). The kubelet must not SIGKILL it before all of that is over,
so the Pod's ``terminationGracePeriodSeconds`` is the sum plus a margin.

The operator writes both runtime settings into the ConfigMap rather than trusting the
image's defaults: the grace period is computed here, so the three numbers cannot disagree
even when a future runtime version changes its defaults.
"""

from __future__ import annotations

__all__ = [
    "DRAIN_SECONDS",
    "SHUTDOWN_MARGIN_SECONDS",
    "SHUTDOWN_TIMEOUT_SECONDS",
    "TERMINATION_GRACE_PERIOD_SECONDS",
]

DRAIN_SECONDS = 5
"""Serving on, unready, after SIGTERM: kube-proxy's time to drop the Pod's endpoint."""
SHUTDOWN_TIMEOUT_SECONDS = 20
"""Time in-flight requests get once the runtime stops accepting connections."""
SHUTDOWN_MARGIN_SECONDS = 5
"""The application's own shutdown (equipment sessions closed, database disposed)."""
TERMINATION_GRACE_PERIOD_SECONDS = (
    DRAIN_SECONDS + SHUTDOWN_TIMEOUT_SECONDS + SHUTDOWN_MARGIN_SECONDS
)
