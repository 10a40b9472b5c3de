"""The metrics endpoint: ``GET /metrics`` on its own port, outside the authenticated API.

A separate listener, not a route of the API: Prometheus needs no user token, the API's
authentication stays uniform, and a NetworkPolicy can open the metrics port to the
monitoring namespace alone. prometheus_client serves it from a daemon thread; reading a
counter there is safe (its values are locked).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import start_http_server

from mes_runtime.observability.metrics import RuntimeMetrics

__all__ = ["serve_metrics"]

log = logging.getLogger(__name__)


@contextmanager
def serve_metrics(metrics: RuntimeMetrics, *, host: str, port: int) -> Iterator[int]:
    """Serve ``metrics`` on ``host:port`` (0 picks a free port) for the block; yields the
    port actually bound."""
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    bound = int(server.server_address[1])
    log.info("metrics on http://%s:%d/metrics", host, bound, extra={"metrics_port": bound})
    try:
        yield bound
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
